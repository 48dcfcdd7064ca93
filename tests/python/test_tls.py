"""redis-py over TLS (ssl=True) against a TLS-only ferrokv (`--port 0 --tls-port N`), with
certificates made here by the openssl CLI: commands, pipelines with large values, Pub/Sub,
blocking pops and MONITOR go through the same connection code as over plain TCP, and a
missing client certificate is refused."""

import subprocess
import threading
import time

import pytest
import redis

from conftest import _binary, _free_port


def _openssl(cwd, *args):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _issue(d, ca, name, cn, ext):
    (d / f"{name}.ext").write_text(ext)
    _openssl(d, "req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={cn}")
    _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "30", "-extfile", f"{name}.ext")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    _openssl(d, "req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", "ca.key",
             "-out", "ca.crt", "-days", "30", "-subj", "/CN=Test CA")
    _issue(d, "ca", "server", "localhost",
           "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _issue(d, "ca", "client", "client", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    return d


@pytest.fixture(scope="module")
def tls_port(pki, tmp_path_factory):
    """A ferrokv that listens only on a TLS port (plain port 0)."""
    workdir = tmp_path_factory.mktemp("ferrokv-tls")
    for _attempt in range(5):
        port = _free_port()
        log = open(workdir / "server.log", "w")
        proc = subprocess.Popen(
            [str(_binary()), "--port", "0", "--tls-port", str(port),
             "--tls-cert-file", str(pki / "server.crt"), "--tls-key-file", str(pki / "server.key"),
             "--tls-ca-cert-file", str(pki / "ca.crt"), "--save", "", "--appendonly", "no"],
            cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            if "Ready to accept connections" in (workdir / "server.log").read_text():
                break
            time.sleep(0.05)
        if proc.poll() is None:
            break
        log.close()
    else:
        pytest.fail("ferrokv with TLS did not start:\n" + (workdir / "server.log").read_text())
    yield port
    proc.kill()
    proc.wait()


def _client(pki, port, cert=True, **kw):
    extra = dict(ssl_certfile=str(pki / "client.crt"), ssl_keyfile=str(pki / "client.key")) if cert else {}
    return redis.Redis(host="localhost", port=port, ssl=True, ssl_ca_certs=str(pki / "ca.crt"),
                       socket_timeout=10, **extra, **kw)


def test_commands_over_tls(pki, tls_port):
    r = _client(pki, tls_port)
    assert r.ping() is True
    assert r.set("greeting", "hello") is True
    assert r.get("greeting") == b"hello"
    assert r.incr("counter") == 1
    # Replies far larger than one TLS record (16 KiB) and than the read chunk.
    big = b"x" * (3 << 20)
    r.set("big", big)
    assert r.get("big") == big
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"k{i}", i)
        pipe.get(f"k{i}")
    replies = pipe.execute()
    assert replies[1::2] == [str(i).encode() for i in range(2000)]
    assert r.config_get("tls-port") == {"tls-port": str(tls_port)}
    assert r.config_get("port") == {"port": "0"}


def test_resp3_over_tls(pki, tls_port):
    r = _client(pki, tls_port, protocol=3)
    r.hset("h", mapping={"a": "1"})
    assert r.hgetall("h") == {b"a": b"1"}


def test_pubsub_blocking_and_monitor_over_tls(pki, tls_port):
    r = _client(pki, tls_port)
    p = _client(pki, tls_port).pubsub()
    p.subscribe("news")
    assert p.get_message(timeout=5)["type"] == "subscribe"
    assert r.publish("news", "flash") == 1
    msg = p.get_message(timeout=5)
    assert msg["data"] == b"flash"

    got = {}
    def pop():
        got["v"] = _client(pki, tls_port).blpop("queue", timeout=10)
    t = threading.Thread(target=pop)
    t.start()
    deadline = time.time() + 5
    while time.time() < deadline and not any(c["cmd"] == "blpop" for c in r.client_list()):
        time.sleep(0.05)
    assert r.info("clients")["blocked_clients"] == 1
    r.rpush("queue", "job")
    t.join(10)
    assert got["v"] == (b"queue", b"job")

    with _client(pki, tls_port).monitor() as m:
        r.set("watched", "1")
        seen = m.next_command()
        assert "watched" in seen["command"]


def test_missing_client_certificate_is_refused(pki, tls_port):
    with pytest.raises(redis.exceptions.ConnectionError):
        _client(pki, tls_port, cert=False).ping()


def test_plain_connection_to_tls_port_gets_nothing(tls_port):
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis(port=tls_port, socket_timeout=3).ping()
