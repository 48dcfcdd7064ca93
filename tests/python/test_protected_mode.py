"""Protected mode: with `protected-mode yes` and no password, a server bound to every
interface answers connections from addresses other than 127.0.0.1/::1 with Redis's DENIED
text and closes them. This machine has only loopback networking, so the "remote" client
connects from 127.0.0.2, which Redis treats as non-local too. ferrokv's reply bytes are
compared with a real redis-server's in the same test."""

import shutil
import socket
import subprocess
import time

import pytest
import redis

from conftest import _binary, _free_port


def _start(binary, extra, workdir):
    port = _free_port()
    proc = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "0.0.0.0", "--save", "", "--appendonly", "no", *extra],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=open(workdir / f"server-{port}.log", "w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if redis.Redis(port=port, socket_timeout=1).ping():
                return proc, port
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError):
            return proc, port  # NOAUTH: up, with a password
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{binary} did not start (exit status {proc.poll()})")


def _from_127_0_0_2(port):
    """Connect from source address 127.0.0.2: what a refused connection is sent before it
    is closed (nothing is sent first: a refused client's unread request would make the
    server's close a reset), else the reply to a PING."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.2", 0))
    s.settimeout(0.5)
    s.connect(("127.0.0.2", port))
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    if not data:
        s.settimeout(2)
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        while not data.endswith(b"\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    s.close()
    return data


@pytest.fixture
def servers(tmp_path):
    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        pytest.fail("redis-server is not installed (scripts/test.sh installs it)")
    started = []

    def start(which, extra=()):
        binary = _binary() if which == "ferrokv" else redis_bin
        proc, port = _start(binary, list(extra), tmp_path)
        started.append(proc)
        return port

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_non_loopback_clients_are_denied_like_redis(servers):
    ferrokv = servers("ferrokv")
    real = servers("redis")
    denied = _from_127_0_0_2(real)
    assert denied.startswith(b"-DENIED Redis is running in protected mode")
    assert _from_127_0_0_2(ferrokv) == denied
    # Loopback clients are served, and the refusals are counted.
    r = redis.Redis(port=ferrokv)
    assert r.ping()
    assert r.info("stats")["rejected_connections"] == 1


def test_protected_mode_off_or_a_password_lets_them_in(servers):
    off = servers("ferrokv", ["--protected-mode", "no"])
    assert _from_127_0_0_2(off) == b"+PONG\r\n"
    with_password = servers("ferrokv", ["--requirepass", "secret"])
    assert _from_127_0_0_2(with_password) == b"-NOAUTH Authentication required.\r\n"
    # CONFIG SET from loopback turns it off at run time.
    on = servers("ferrokv")
    assert _from_127_0_0_2(on).startswith(b"-DENIED")
    redis.Redis(port=on).config_set("protected-mode", "no")
    assert _from_127_0_0_2(on) == b"+PONG\r\n"
