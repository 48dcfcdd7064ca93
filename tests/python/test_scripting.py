"""Acceptance tests of Lua scripting with redis-py: EVAL, `register_script` (EVALSHA with
the NOSCRIPT fallback to EVAL), and redis-py's Lua-based `Lock` (acquire, extend, release,
and two clients contending for one lock).
"""

import threading
import time

import pytest
import redis
from redis.exceptions import LockError, NoScriptError, ResponseError


@pytest.fixture
def r(server):
    client = redis.Redis(port=server, decode_responses=True)
    client.flushall()
    client.script_flush()
    yield client
    client.close()


def test_eval_keys_argv_and_replies(r):
    assert r.eval("return {KEYS[1], ARGV[1], 3, 4.9}", 1, "k", "a") == ["k", "a", 3, 4]
    assert r.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, "k", "v") == "OK"
    assert r.get("k") == "v"
    assert r.eval("return redis.call('GET', 'missing')", 0) is None
    with pytest.raises(ResponseError, match="Error compiling script"):
        r.eval("return +", 0)
    with pytest.raises(ResponseError, match="Unknown Redis command called from script"):
        r.eval("return redis.call('nosuch')", 0)


def test_register_script_falls_back_to_eval(r):
    incr_by = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert r.script_exists(incr_by.sha) == [False]
    # The first call gets NOSCRIPT from EVALSHA and loads the script.
    assert incr_by(keys=["counter"], args=[5]) == 5
    assert r.script_exists(incr_by.sha) == [True]
    assert incr_by(keys=["counter"], args=[2]) == 7
    r.script_flush()
    with pytest.raises(NoScriptError):
        r.evalsha(incr_by.sha, 1, "counter", 1)
    assert incr_by(keys=["counter"], args=[1]) == 8


def test_pipeline_with_scripts(r):
    script = r.register_script("return redis.call('RPUSH', KEYS[1], ARGV[1])")
    with r.pipeline() as p:
        for i in range(5):
            script(keys=["list"], args=[i], client=p)
        assert p.execute() == [1, 2, 3, 4, 5]
    assert r.lrange("list", 0, -1) == ["0", "1", "2", "3", "4"]


def test_lock_acquire_extend_release(r):
    lock = r.lock("resource", timeout=5)
    assert lock.acquire(blocking=False)
    assert r.get("resource").encode() == lock.local.token
    assert lock.owned()
    assert lock.extend(10)
    assert 10 < r.pttl("resource") / 1000 <= 15
    assert lock.reacquire()
    lock.release()
    assert r.get("resource") is None
    with pytest.raises(LockError):
        lock.release()


def test_lock_contention_between_two_clients(server, r):
    other = redis.Redis(port=server)
    first = r.lock("shared", timeout=10)
    second = other.lock("shared", timeout=10, blocking_timeout=0.2)
    assert first.acquire()
    # The second client cannot take it while the first holds it...
    assert not second.acquire()
    # ...nor release or extend what it does not own.
    second.local.token = b"not-the-owner"
    with pytest.raises(LockError):
        second.release()
    first.release()
    assert second.acquire()
    second.release()
    other.close()


def test_lock_counter_from_threads(server, r):
    """Threads increment a plain counter with GET and SET, each under the lock: no
    increment is lost."""
    r.set("plain", 0)

    def work():
        c = redis.Redis(port=server)
        for _ in range(25):
            with c.lock("counter-lock", timeout=5, blocking_timeout=30):
                v = int(c.get("plain"))
                c.set("plain", v + 1)
        c.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert time.time() - start < 60
    assert int(r.get("plain")) == 100
