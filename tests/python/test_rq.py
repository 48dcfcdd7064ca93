"""RQ (python-rq) runs unchanged against ferrokv: jobs are enqueued, a worker process runs
them in burst mode, results come back; a failing job is retried by RQ's Retry and a job that
keeps failing ends in the failed registry. Every job runs exactly as often as it should."""

import os
import subprocess
import sys
from pathlib import Path

import redis
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

import rq_jobs

HERE = Path(__file__).resolve().parent


def run_worker(port, queue_name):
    env = dict(os.environ, PYTHONPATH=str(HERE))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            "--burst",
            "--url",
            f"redis://127.0.0.1:{port}/2",
            queue_name,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# RQ 2 and later keep job results in a stream (XADD rq:results:<id> MAXLEN ~ 10, read back
# with XREVRANGE / XREAD).
def test_rq_worker_runs_every_job_exactly_once(server):
    r = redis.Redis(port=server, db=2)
    r.flushdb()
    q = Queue("ferrokv-test", connection=r)
    adds = [q.enqueue(rq_jobs.add, f"add{i}", i, 10) for i in range(20)]
    retried = q.enqueue(rq_jobs.fail_first_time, "retried", retry=Retry(max=2))
    failing = q.enqueue(rq_jobs.always_fail, "failing", retry=Retry(max=1))
    assert q.count == 22

    done = run_worker(server, "ferrokv-test")
    assert done.returncode == 0, done.stdout + done.stderr

    for i, job in enumerate(adds):
        job = Job.fetch(job.id, connection=r)
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value() == i + 10
        assert r.get(f"runs:add{i}") == b"1", f"add{i} ran once"
    job = Job.fetch(retried.id, connection=r)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == "second attempt"
    assert r.get("runs:retried") == b"2", "failed once, retried once"
    job = Job.fetch(failing.id, connection=r)
    assert job.get_status() == JobStatus.FAILED
    assert r.get("runs:failing") == b"2", "the first run and one retry"
    assert failing.id in FailedJobRegistry(queue=q).get_job_ids()
    assert q.count == 0
