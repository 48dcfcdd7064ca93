"""Shared fixtures for the Python acceptance tests: a ferrokv server per test module.

The binary is $FERROKV_BIN, else target/release/ferrokv-server (its options are
redis-server's too, so FERROKV_BIN=$(which redis-server) checks the tests themselves).
"""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary():
    path = Path(os.environ.get("FERROKV_BIN", ROOT / "target" / "release" / "ferrokv-server"))
    if not path.is_file():
        pytest.fail(
            f"ferrokv binary not found at {path}: run `cargo build --release` "
            "(scripts/test.sh does) or set FERROKV_BIN"
        )
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A ferrokv process for this module; yields its port."""
    workdir = tmp_path_factory.mktemp("ferrokv")
    binary = _binary()
    for _attempt in range(5):
        port = _free_port()
        log = open(workdir / "server.log", "w")
        proc = subprocess.Popen(
            [str(binary), "--port", str(port), "--io-threads", "2", "--save", "", "--appendonly", "no"],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            try:
                if redis.Redis(port=port, socket_timeout=1).ping():
                    break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        if proc.poll() is None:
            break
        log.close()
    else:
        pytest.fail("ferrokv did not start:\n" + (workdir / "server.log").read_text())
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()




def start_ferrokv(workdir, *extra):
    """Start ferrokv with its data in `workdir` (its defaults otherwise: the append-only
    file on, fsync every second) and wait until it answers; returns (process, port)."""
    binary = _binary()
    for _attempt in range(5):
        port = _free_port()
        log = open(Path(workdir) / "server.log", "a")
        proc = subprocess.Popen(
            [str(binary), "--port", str(port), "--dir", str(workdir), *extra],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            try:
                if redis.Redis(port=port, socket_timeout=1).ping():
                    return proc, port
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        proc.kill()
        proc.wait()
    pytest.fail("ferrokv did not start:\n" + (Path(workdir) / "server.log").read_text())
