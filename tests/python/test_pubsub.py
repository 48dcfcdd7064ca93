"""Acceptance test: redis-py's Pub/Sub API against ferrokv.

Uses the `server` fixture (conftest.py: ferrokv from $FERROKV_BIN, else
target/release/ferrokv-server, on a free port; FERROKV_BIN=$(which redis-server) checks the
tests themselves). Covers PubSub.get_message / listen with channels, patterns and shard
channels, handlers with run_in_thread, the RESP3 protocol, and redis.asyncio.
"""

import asyncio
import threading
import time

import pytest
import redis
import redis.asyncio


def _client(port, **kw):
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=10, **kw)


def _wait_message(p, timeout=5.0):
    """The next non-None message (get_message polls)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = p.get_message(timeout=0.5)
        if m is not None:
            return m
    pytest.fail("no message within %.1fs" % timeout)


def test_subscribe_publish_get_message(server):
    r = _client(server)
    p = r.pubsub()
    p.subscribe("news")
    assert _wait_message(p) == {"type": "subscribe", "pattern": None, "channel": "news", "data": 1}
    assert r.publish("news", "hello") == 1
    assert _wait_message(p) == {"type": "message", "pattern": None, "channel": "news", "data": "hello"}
    p.psubscribe("n*")
    assert _wait_message(p)["type"] == "psubscribe"
    assert r.publish("news", "both") == 2
    got = [_wait_message(p), _wait_message(p)]
    assert [m["type"] for m in got] == ["message", "pmessage"]
    assert got[1]["pattern"] == "n*" and got[1]["data"] == "both"
    assert r.pubsub_numsub("news") == [("news", 1)]
    assert r.pubsub_numpat() == 1
    assert r.pubsub_channels() == ["news"]
    p.unsubscribe("news")
    assert _wait_message(p) == {"type": "unsubscribe", "pattern": None, "channel": "news", "data": 1}
    p.punsubscribe()
    assert _wait_message(p)["type"] == "punsubscribe"
    assert r.publish("news", "nobody") == 0
    p.close()


def test_shard_channels(server):
    r = _client(server)
    p = r.pubsub()
    p.ssubscribe("orders")
    assert _wait_message(p) == {"type": "ssubscribe", "pattern": None, "channel": "orders", "data": 1}
    assert r.spublish("orders", "o1") == 1
    m = p.get_sharded_message(timeout=5)
    assert m == {"type": "smessage", "pattern": None, "channel": "orders", "data": "o1"}
    assert r.pubsub_shardchannels() == ["orders"]
    assert r.pubsub_shardnumsub("orders") == [("orders", 1)]
    p.sunsubscribe()
    assert _wait_message(p)["type"] == "sunsubscribe"
    p.close()


def test_listen_and_ping(server):
    r = _client(server)
    p = r.pubsub(ignore_subscribe_messages=True)
    p.subscribe("jobs")
    p.ping("hi")
    for i in range(5):
        r.publish("jobs", f"job-{i}")
    got = []
    for m in p.listen():
        if m["type"] == "message":
            got.append(m["data"])
        if len(got) == 5:
            break
    assert got == [f"job-{i}" for i in range(5)]
    p.close()


def test_run_in_thread(server):
    r = _client(server)
    p = r.pubsub()
    received = []
    done = threading.Event()

    def handler(message):
        received.append(message["data"])
        if len(received) == 100:
            done.set()

    p.subscribe(**{"events": handler})
    worker = p.run_in_thread(sleep_time=0.01, daemon=True)
    deadline = time.time() + 5
    while r.pubsub_numsub("events") != [("events", 1)] and time.time() < deadline:
        time.sleep(0.01)
    for i in range(100):
        r.publish("events", str(i))
    assert done.wait(10), f"only {len(received)} messages"
    assert received == [str(i) for i in range(100)]
    worker.stop()
    worker.join(timeout=5)
    p.close()


def test_resp3_push_messages(server):
    r = _client(server, protocol=3)
    p = r.pubsub()
    p.subscribe("r3")
    assert _wait_message(p)["type"] == "subscribe"
    assert r.publish("r3", "pushed") == 1
    assert _wait_message(p)["data"] == "pushed"
    p.close()


def test_asyncio_pubsub(server):
    async def main():
        r = redis.asyncio.Redis(host="127.0.0.1", port=server, decode_responses=True)
        p = r.pubsub()
        await p.subscribe("aio")
        await p.psubscribe("ai*")
        # Both confirmations first.
        seen = 0
        while seen < 2:
            m = await p.get_message(timeout=5)
            if m is not None:
                seen += 1
        assert await r.publish("aio", "async hello") == 2
        got = []
        while len(got) < 2:
            m = await p.get_message(timeout=5)
            if m is not None:
                got.append((m["type"], m["data"]))
        assert got == [("message", "async hello"), ("pmessage", "async hello")]

        async def reader():
            out = []
            async for m in p.listen():
                if m["type"] == "message":
                    out.append(m["data"])
                    if len(out) == 20:
                        return out

        task = asyncio.create_task(reader())
        await asyncio.sleep(0.05)
        for i in range(20):
            await r.publish("aio", str(i))
        assert await asyncio.wait_for(task, 10) == [str(i) for i in range(20)]
        await p.aclose()
        await r.aclose()

    asyncio.run(main())
