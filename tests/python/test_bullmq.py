"""BullMQ (Node) runs unchanged against ferrokv: tests/node/bullmq.test.mjs drives a Queue,
a Worker and QueueEvents through normal, delayed, prioritized and retried jobs and checks
that each completes exactly once. Needs node and `npm ci` in tests/node (scripts/test.sh
installs both)."""

import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def test_bullmq_queue_and_worker_complete_every_job_once(server):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/test.sh installs nodejs and npm)")
    if not (NODE_DIR / "node_modules" / "bullmq").is_dir():
        pytest.fail(f"bullmq is not installed: run `npm ci` in {NODE_DIR} (scripts/test.sh does)")
    done = subprocess.run(
        [node, str(NODE_DIR / "bullmq.test.mjs"), str(server)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "each completed once" in done.stdout
