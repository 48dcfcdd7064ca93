"""Real redis-sentinel (three processes) fails over a ferrokv primary with two ferrokv
replicas (issue 14).

The primary is killed with SIGKILL under a write load where each SET is followed by
WAIT 1 <timeout>. The test checks that a replica is promoted, that every write WAIT
acknowledged is on the new primary, that redis-py's Sentinel client follows the new
primary, and that the old primary, restarted, is turned into a replica of the new one by
the sentinels. Short sentinel timeouts (down-after 1 s, failover-timeout 5 s); every wait
polls against a deadline, so a loaded machine only makes it slower.
"""

import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
import redis
from redis.sentinel import Sentinel

from conftest import _binary

MASTER = "mymaster"
SENTINEL = shutil.which("redis-sentinel")

pytestmark = pytest.mark.skipif(SENTINEL is None, reason="redis-sentinel is not installed")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what, timeout, check):
    """Poll `check` until it returns a true value (returned) or fail after `timeout` s."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except (redis.exceptions.RedisError, OSError) as e:
            last = e
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what} (last error: {last})")


def _info(port, section="replication"):
    return redis.Redis(port=port, socket_timeout=2).info(section)


class Procs:
    """Processes started by the test, killed at the end whatever happens."""

    def __init__(self):
        self.procs = []
        self.logs = []

    def start(self, argv, log_path):
        log = open(log_path, "a")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for log in self.logs:
            log.close()


def _start_ferrokv(procs, workdir, port, replicaof=None):
    """ferrokv with a config file (so that sentinel's CONFIG REWRITE has one to write)."""
    workdir.mkdir(exist_ok=True)
    conf = workdir / "ferrokv.conf"
    if not conf.exists():
        lines = [f"port {port}", "bind 127.0.0.1", 'save ""', "appendonly no", f'dir "{workdir}"']
        if replicaof:
            lines.append(f"replicaof 127.0.0.1 {replicaof}")
        conf.write_text("\n".join(lines) + "\n")
    proc = procs.start([str(_binary()), str(conf)], workdir / "server.log")
    _wait(f"ferrokv on port {port}", 20, lambda: redis.Redis(port=port, socket_timeout=1).ping())
    return proc


def _start_sentinel(procs, workdir, port, master_port):
    workdir.mkdir(exist_ok=True)
    conf = workdir / "sentinel.conf"
    conf.write_text(
        "\n".join(
            [
                f"port {port}",
                "bind 127.0.0.1",
                "daemonize no",
                f'dir "{workdir}"',
                f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 2",
                f"sentinel down-after-milliseconds {MASTER} 1000",
                f"sentinel failover-timeout {MASTER} 5000",
                f"sentinel parallel-syncs {MASTER} 2",
            ]
        )
        + "\n"
    )
    procs.start([SENTINEL, str(conf)], workdir / "sentinel.log")
    _wait(f"sentinel on port {port}", 20, lambda: redis.Redis(port=port, socket_timeout=1).ping())


def _sentinel_ready(port):
    """The sentinel knows both replicas (online) and the two other sentinels."""
    s = redis.Redis(port=port, socket_timeout=2, decode_responses=True)
    master = s.sentinel_master(MASTER)
    replicas = s.sentinel_slaves(MASTER)
    online = [r for r in replicas if r.get("is_odown") is False and r.get("is_sdown") is False]
    return master.get("num-other-sentinels") == 2 and len(online) == 2


class Writer(threading.Thread):
    """SET k:<i> <i>, then WAIT 1 500, until the connection breaks; keeps the acknowledged
    keys (WAIT answered >= 1)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.acked = []
        self.sent = 0
        self.error = None
        self.stop = threading.Event()

    def run(self):
        c = redis.Redis(port=self.port, socket_timeout=3)
        i = 0
        try:
            while not self.stop.is_set():
                i += 1
                c.set(f"k:{i}", i)
                self.sent = i
                if c.execute_command("WAIT", 1, 500) >= 1:
                    self.acked.append(i)
        except (redis.exceptions.RedisError, OSError) as e:
            self.error = e


def test_sentinel_fails_over_ferrokv(tmp_path):
    procs = Procs()
    try:
        ports = [_free_port() for _ in range(3)]
        primary_port = ports[0]
        primary = _start_ferrokv(procs, tmp_path / "primary", primary_port)
        for i, port in enumerate(ports[1:]):
            _start_ferrokv(procs, tmp_path / f"replica{i}", port, replicaof=primary_port)
        for port in ports[1:]:
            _wait(
                f"replica {port} in sync",
                30,
                lambda port=port: _info(port).get("master_link_status") == "up",
            )

        sentinel_ports = [_free_port() for _ in range(3)]
        for i, port in enumerate(sentinel_ports):
            _start_sentinel(procs, tmp_path / f"sentinel{i}", port, primary_port)
        for port in sentinel_ports:
            _wait(f"sentinel {port} to see replicas and sentinels", 40, lambda port=port: _sentinel_ready(port))

        sentinel = Sentinel([("127.0.0.1", p) for p in sentinel_ports], socket_timeout=2)
        assert sentinel.discover_master(MASTER) == ("127.0.0.1", primary_port)

        writer = Writer(primary_port)
        writer.start()
        _wait("acknowledged writes", 30, lambda: len(writer.acked) >= 200)
        primary.send_signal(signal.SIGKILL)
        primary.wait()
        writer.stop.set()
        writer.join(timeout=10)
        acked = list(writer.acked)
        assert acked, "no write was acknowledged by WAIT"

        # A replica is promoted and the sentinels name it.
        new_addr = _wait(
            "the sentinels to name a new primary",
            40,
            lambda: (a := sentinel.discover_master(MASTER)) != ("127.0.0.1", primary_port) and a,
        )
        new_port = new_addr[1]
        assert new_port in ports[1:]
        _wait("the promoted replica to be a primary", 20, lambda: _info(new_port)["role"] == "master")

        # Every write that WAIT acknowledged is there.
        c = redis.Redis(port=new_port, socket_timeout=5)
        missing = []
        for start in range(0, len(acked), 500):
            chunk = acked[start : start + 500]
            values = c.mget([f"k:{i}" for i in chunk])
            missing += [i for i, v in zip(chunk, values) if v != str(i).encode()]
        assert not missing, f"{len(missing)} acknowledged writes lost, first {missing[:10]}"

        # redis-py's Sentinel client follows the new primary. (On a loaded machine the
        # sentinels may fail over once more, from the promoted replica to the other one:
        # from here on "the primary" is whichever the sentinels name now.)
        def current():
            return sentinel.discover_master(MASTER)[1]

        client = sentinel.master_for(MASTER, socket_timeout=2)
        _wait("a write through the Sentinel client", 20, lambda: client.set("after-failover", "1"))
        assert redis.Redis(port=current(), socket_timeout=2).get("after-failover") == b"1"

        # The other replica follows the new primary; sentinel's CONFIG REWRITE recorded the
        # roles in the config files.
        confs = {port: tmp_path / f"replica{i}" / "ferrokv.conf" for i, port in enumerate(ports[1:])}

        def reconfigured():
            cur = current()
            others = [p for p in ports[1:] if p != cur]
            if "replicaof" in confs[cur].read_text():
                return False
            for p in others:
                info = _info(p)
                if info.get("master_port") != cur or info.get("master_link_status") != "up":
                    return False
                if f"replicaof 127.0.0.1 {cur}\n" not in confs[p].read_text():
                    return False
            return True

        _wait("the replicas and config files to follow the new primary", 30, reconfigured)

        # The old primary, restarted, is made a replica of the new one by the sentinels
        # and gets its data.
        _start_ferrokv(procs, tmp_path / "primary", primary_port)
        old = redis.Redis(port=primary_port, socket_timeout=2)

        def rejoined():
            info = _info(primary_port)
            return info.get("master_port") == current() and info.get("master_link_status") == "up"

        _wait("the old primary to rejoin as a replica", 45, rejoined)

        def caught_up():
            client.set("after-rejoin", "1")
            client.execute_command("WAIT", 2, 2000)
            return old.get("after-rejoin") == b"1"

        _wait("the old primary to get the new writes", 30, caught_up)
        assert old.get(f"k:{acked[-1]}") == str(acked[-1]).encode()
    finally:
        procs.close()
