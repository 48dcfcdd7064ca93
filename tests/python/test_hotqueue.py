"""Acceptance test with the real `hotqueue` package (a job queue on a Redis list: RPUSH to
put, BLPOP in `@queue.worker`): a producer puts 1,000 jobs, two worker processes consume
them, and every job is processed exactly once, none lost, none twice.
"""

import multiprocessing
import time
from pathlib import Path

import redis
from hotqueue import HotQueue

JOBS = 1000


def _worker(port, name, out_dir):
    """Run a hotqueue worker until the queue has been empty for 2 seconds; write the jobs
    it processed to a file of its own."""
    queue = HotQueue("jobs", host="127.0.0.1", port=port, db=3)
    done = []

    @queue.worker(timeout=2)
    def process(job):
        done.append(job["id"])

    process()
    Path(out_dir, name).write_text("\n".join(str(i) for i in done))


def test_two_workers_consume_every_job_once(server, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=_worker, args=(server, f"worker{i}", tmp_path)) for i in range(2)
    ]
    for w in workers:
        w.start()
    # Produce only once both workers wait in BLPOP (spawned interpreters take a while to
    # start): then both get jobs, first come first served.
    r = redis.Redis(host="127.0.0.1", port=server, db=3)
    deadline = time.time() + 60
    while r.info("clients")["blocked_clients"] < 2:
        assert time.time() < deadline, "the workers never blocked in BLPOP"
        time.sleep(0.02)
    queue = HotQueue("jobs", host="127.0.0.1", port=server, db=3)
    # Half one at a time (workers are already blocked in BLPOP), half in one RPUSH.
    for i in range(JOBS // 2):
        queue.put({"id": i, "payload": "x" * (i % 50)})
    queue.put(*[{"id": i} for i in range(JOBS // 2, JOBS)])
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0, f"worker exited with {w.exitcode}"

    per_worker = []
    for i in range(2):
        text = (tmp_path / f"worker{i}").read_text()
        per_worker.append([int(x) for x in text.split()] if text else [])
    everything = sorted(per_worker[0] + per_worker[1])
    assert everything == list(range(JOBS)), "jobs lost or processed twice"
    assert all(per_worker), f"a worker got no job: {[len(p) for p in per_worker]}"
    # Each worker saw its jobs in queue order (one list, popped from the head).
    for jobs in per_worker:
        assert jobs == sorted(jobs)
    assert r.exists("hotqueue:jobs") == 0
