"""The tutorial's last exercise, with restarts: load the meteorite data set with redis-py
(one hash per record), stop the server (SIGTERM; then, separately, kill -9), start it
again on the same folder, and every record is still there. ferrokv keeps an append-only
file by default, so nothing has to be configured for this.
"""

import json
import signal
import time
from pathlib import Path

import redis

from conftest import start_ferrokv

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "Meteorite_Landings.json"


def _load(port):
    r = redis.Redis(host="127.0.0.1", port=port, db=2, decode_responses=True)
    records = json.loads(DATA.read_text())["meteorite_landings"]
    with r.pipeline() as pipe:
        for rec in records:
            pipe.hset(f"meteorite:{rec['id']}", mapping=rec)
        pipe.execute()
    r.set("meteorites:count", len(records))
    return records


def _check(port, records):
    r = redis.Redis(host="127.0.0.1", port=port, db=2, decode_responses=True)
    assert int(r.get("meteorites:count")) == len(records)
    assert len(r.keys("meteorite:*")) == len(records)
    for rec in records:
        assert r.hgetall(f"meteorite:{rec['id']}") == rec


def _stop(proc, sig):
    proc.send_signal(sig)
    proc.wait(timeout=20)


def test_records_survive_sigterm(tmp_path):
    proc, port = start_ferrokv(tmp_path)
    records = _load(port)
    _stop(proc, signal.SIGTERM)
    proc, port = start_ferrokv(tmp_path)
    try:
        _check(port, records)
    finally:
        _stop(proc, signal.SIGKILL)


def test_records_survive_kill_9(tmp_path):
    proc, port = start_ferrokv(tmp_path)
    records = _load(port)
    # The default policy fsyncs every second: give it that second, as the docs promise.
    time.sleep(1.5)
    _stop(proc, signal.SIGKILL)
    proc, port = start_ferrokv(tmp_path)
    try:
        _check(port, records)
    finally:
        _stop(proc, signal.SIGKILL)


def test_records_survive_kill_9_at_once_with_fsync_always(tmp_path):
    proc, port = start_ferrokv(tmp_path, "--appendfsync", "always")
    records = _load(port)
    _stop(proc, signal.SIGKILL)
    proc, port = start_ferrokv(tmp_path)
    try:
        _check(port, records)
    finally:
        _stop(proc, signal.SIGKILL)
