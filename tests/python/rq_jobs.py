"""Job functions for test_rq.py, imported by the RQ worker process (on its PYTHONPATH).

Each job counts its runs in the server (`runs:<name>`), so the test can check that every
job ran exactly as often as it should.
"""

from rq import get_current_job


def _count(name):
    job = get_current_job()
    return job.connection.incr(f"runs:{name}")


def add(name, a, b):
    _count(name)
    return a + b


def fail_first_time(name):
    """Fails on its first run, succeeds on the retry."""
    if _count(name) == 1:
        raise RuntimeError("first attempt fails")
    return "second attempt"


def always_fail(name):
    _count(name)
    raise ValueError("this job always fails")
