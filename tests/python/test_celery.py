"""Celery runs unchanged against ferrokv, as broker and as result backend: a worker process
runs a task round trip, a group and a chord (whose callback the Redis backend triggers by
counting finished header tasks in the server)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def celery_worker(server):
    url = f"redis://127.0.0.1:{server}/3"
    os.environ["FERROKV_CELERY_URL"] = url
    env = dict(os.environ, PYTHONPATH=str(HERE), FERROKV_CELERY_URL=url)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool=solo",
         "--loglevel=warning", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env,
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sys.path.insert(0, str(HERE))
    import celery_app  # noqa: E402  (reads FERROKV_CELERY_URL at import)

    celery_app.app.conf.broker_url = url
    celery_app.app.conf.result_backend = url
    yield celery_app
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


def test_task_round_trip(celery_worker):
    result = celery_worker.add.delay(2, 3)
    assert result.get(timeout=60) == 5


def test_group_and_chord(celery_worker):
    from celery import chord, group

    g = group(celery_worker.add.s(i, i) for i in range(5))()
    assert g.get(timeout=60) == [0, 2, 4, 6, 8]
    c = chord(celery_worker.add.s(i, 1) for i in range(10))(celery_worker.tsum.s())
    assert c.get(timeout=60) == sum(i + 1 for i in range(10))
