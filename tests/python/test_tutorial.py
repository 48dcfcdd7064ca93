"""Acceptance test: the redis-py tutorial path against ferrokv.

Starts ferrokv itself (binary from $FERROKV_BIN, else target/release/ferrokv-server; the
options are redis-server's too, so FERROKV_BIN=$(which redis-server) checks the test) on a
free loopback port in a temporary folder, then uses redis-py the way its tutorial does:
decode_responses=True, a numbered database, strings, JSON values, hashes with mapping=,
KEYS/HKEYS, pipelines and transactions, and a small real data set
(tests/data/Meteorite_Landings.json, one hash per record).
"""

import json
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "Meteorite_Landings.json"


def _client(port, db):
    return redis.Redis(host="127.0.0.1", port=port, db=db, decode_responses=True, socket_timeout=10)


@pytest.fixture
def r(server, request):
    """A client on its own numbered database (one per test, so tests do not see each other)."""
    db = 1 + TESTS.index(request.node.originalname)
    client = _client(server, db)
    yield client
    client.close()


def test_set_get(r):
    assert r.ping() is True
    assert r.set("foo", "bar") is True
    assert r.get("foo") == "bar"
    assert r.get("no-such-key") is None
    assert r.set("unicode", "héllo wörld ✓") is True
    assert r.get("unicode") == "héllo wörld ✓"
    assert r.set("n", 42) is True
    assert r.get("n") == "42"


def test_json_round_trip(r):
    user = {
        "name": "Ada Lovelace",
        "born": 1815,
        "languages": ["en", "fr"],
        "analytical": True,
        "notes": None,
        "ratio": 0.5,
    }
    assert r.set("user:ada", json.dumps(user)) is True
    assert json.loads(r.get("user:ada")) == user


def test_hashes(r):
    assert r.hset("bike:1", mapping={"model": "Deimos", "brand": "Ergonom", "type": "Enduro bikes", "price": 4972}) == 4
    assert r.hget("bike:1", "model") == "Deimos"
    assert r.hget("bike:1", "price") == "4972"
    assert r.hget("bike:1", "no-such-field") is None
    assert r.hgetall("bike:1") == {"model": "Deimos", "brand": "Ergonom", "type": "Enduro bikes", "price": "4972"}
    assert sorted(r.hkeys("bike:1")) == ["brand", "model", "price", "type"]
    # updating one field and adding another: only the new one counts
    assert r.hset("bike:1", mapping={"price": 4000, "color": "red"}) == 1
    assert r.hget("bike:1", "price") == "4000"
    assert r.hset("bike:1", "year", 2023) == 1
    assert r.hgetall("bike:2") == {}


def test_keys(r):
    for name in ["user:1", "user:2", "user:3", "order:1"]:
        r.set(name, "x")
    assert sorted(r.keys("user:*")) == ["user:1", "user:2", "user:3"]
    assert sorted(r.keys("*")) == ["order:1", "user:1", "user:2", "user:3"]
    assert r.keys("nothing:*") == []


def test_pipeline_transaction(r):
    with r.pipeline() as pipe:  # MULTI/EXEC
        pipe.set("p:a", "1")
        pipe.get("p:a")
        pipe.hset("p:h", mapping={"x": "1", "y": "2"})
        pipe.hgetall("p:h")
        assert pipe.execute() == [True, "1", 2, {"x": "1", "y": "2"}]
    with r.pipeline(transaction=False) as pipe:  # plain pipelining
        for i in range(100):
            pipe.set(f"p:{i}", i)
        for i in range(100):
            pipe.get(f"p:{i}")
        results = pipe.execute()
    assert results[:100] == [True] * 100
    assert results[100:] == [str(i) for i in range(100)]


def test_watch_transaction(r):
    r.set("balance", "10")

    def spend(pipe):
        value = int(pipe.get("balance"))
        pipe.multi()
        pipe.set("balance", value - 3)

    assert r.transaction(spend, "balance") == [True]
    assert r.get("balance") == "7"


def test_databases_are_separate(server, r):
    other = _client(server, 15)
    try:
        r.set("shared-name", "mine")
        other.set("shared-name", "theirs")
        assert r.get("shared-name") == "mine"
        assert other.get("shared-name") == "theirs"
    finally:
        other.close()


def test_meteorite_landings(r):
    records = json.loads(DATA.read_text())["meteorite_landings"]
    assert len(records) == 15
    with r.pipeline() as pipe:
        for rec in records:
            pipe.hset(f"meteorite:{rec['id']}", mapping=rec)
        assert pipe.execute() == [len(rec) for rec in records]
    keys = r.keys("meteorite:*")
    assert len(keys) == len(records)
    assert sorted(keys) == sorted(f"meteorite:{rec['id']}" for rec in records)
    for rec in records:
        key = f"meteorite:{rec['id']}"
        assert r.hgetall(key) == rec
        assert sorted(r.hkeys(key)) == sorted(rec)
    assert r.hget("meteorite:10002", "name") == "Beeler"
    assert r.hget("meteorite:10002", "mass (g)") == "720"
    assert r.hget("meteorite:10002", "GeoLocation") == "(56.18333, 10.23333)"
    heavy = [k for k in keys if float(r.hget(k, "mass (g)")) > 100000]
    assert sorted(heavy) == sorted(f"meteorite:{rec['id']}" for rec in records if float(rec["mass (g)"]) > 100000)


TESTS = [name for name in dir() if name.startswith("test_")]
