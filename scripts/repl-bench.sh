#!/usr/bin/env bash
# Replication benchmark, ferrokv (fork-free snapshot) beside redis-server (fork), same run:
#   (a) full sync under a write load: KEYS string keys (32 B values) on the primary, a
#       steady SET load (RATE per second, one client, latency of each request measured)
#       and the primary's memory sampled every 20 ms (VmRSS of the server process, and the
#       PSS of it plus its children: Redis's forked child included, shared pages counted
#       once); after STEADY seconds a replica of the same kind is started and syncs.
#       Reports steady and peak memory, their ratio, and the write load's p50/p99/max
#       latency before and during the sync.
#   (b) replication throughput: with the replica online, a redis-benchmark SET flood at
#       pipeline 16 (FLOOD requests, 50 clients) on the primary; the replica's lag
#       (primary master_repl_offset - replica slave_repl_offset) sampled every 100 ms.
#       Reports the flood's rate, the largest and the final lag, and how long the replica
#       took to catch up after the flood.
#
#   scripts/repl-bench.sh                         (1M keys; several minutes)
#   KEYS=2000 RATE=500 STEADY=0.5 FLOOD=20000 NO_BUILD=1 scripts/repl-bench.sh   (tiny)
# FERROKV_BIN / REDIS_SERVER pick the binaries (scripts/lib.sh). Output: markdown tables.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools redis-benchmark redis-cli python3
build_ferrokv

python3 - "$FERROKV_BIN" "$REDIS_SERVER" <<'PY'
import os, socket, statistics, subprocess, sys, tempfile, threading, time, shutil

FERROKV, REDIS = os.path.abspath(sys.argv[1]), sys.argv[2]
KEYS = int(os.environ.get("KEYS", "1000000"))
RATE = int(os.environ.get("RATE", "2000"))
STEADY = float(os.environ.get("STEADY", "3"))
FLOOD = int(os.environ.get("FLOOD", "2000000"))
SYNC_LIMIT = float(os.environ.get("SYNC_LIMIT", "600"))
procs, dirs = [], []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(kind, extra=(), attempts=5):
    """Start a server on a free port: (port, process, client). A port taken by another
    process between free_port() and the bind (tests run in parallel) makes the server exit
    at once: try again with a new port."""
    log = ""
    for _ in range(attempts):
        port = free_port()
        d = tempfile.mkdtemp(prefix="ferrokv-repl-bench-%s." % kind)
        dirs.append(d)
        common = ["--port", str(port), "--save", "", "--appendonly", "no",
                  "--repl-diskless-sync-delay", "0"]
        if kind == "redis":
            cmd = [REDIS, "--bind", "127.0.0.1", "--daemonize", "no"] + common
        else:
            cmd = [FERROKV, "--threads", "2"] + common
        cmd += list(extra)
        p = subprocess.Popen(cmd, cwd=d, stdout=open(d + "/server.log", "w"),
                             stderr=subprocess.STDOUT)
        procs.append(p)
        for _ in range(300):
            try:
                c = Client(port)
                if c.cmd("PING") == b"PONG":
                    return port, p, c
            except OSError:
                pass
            except RuntimeError as e:
                # A replica answers -LOADING while it loads what its primary sent.
                if "LOADING" not in str(e):
                    raise
            if p.poll() is not None:
                break
            time.sleep(0.1)
        log = open(d + "/server.log").read()
        if p.poll() is None:
            break
    sys.exit("%s did not start:\n%s" % (kind, log))


def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def reply(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t in (b"+", b":"):
            return rest
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError("bad reply %r" % line)

    def cmd(self, *args):
        self.s.sendall(enc(*args))
        return self.reply()

    def info(self, section):
        text = self.cmd("INFO", section).decode()
        return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)


def load(c, n):
    value = b"v" * 32
    for base in range(0, n, 100000):
        batch = []
        for i in range(base, min(n, base + 100000), 100):
            args = ["MSET"]
            for k in range(i, min(n, base + 100000, i + 100)):
                args += [b"key:%09d" % k, value]
            batch.append(enc(*args))
        c.s.sendall(b"".join(batch))
        for _ in batch:
            c.reply()


def mem_kb(pid):
    """(VmRSS of pid, PSS of pid and its children) in kB."""
    rss, pss = 0, 0
    try:
        for l in open("/proc/%d/status" % pid):
            if l.startswith("VmRSS:"):
                rss = int(l.split()[1])
    except OSError:
        pass
    pids = [pid]
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            pids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for l in open("/proc/%d/smaps_rollup" % p):
                if l.startswith("Pss:"):
                    pss += int(l.split()[1])
        except OSError:
            pass
    return rss, pss


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def full_sync(kind):
    port, proc, c = start(kind)
    load(c, KEYS)
    stop = threading.Event()
    lat, mem = [], []

    def writer():
        w = Client(port)
        value = b"w" * 32
        i, t0 = 0, time.monotonic()
        while not stop.is_set():
            due = t0 + i / RATE
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            key = b"key:%09d" % ((i * 7919) % KEYS)
            a = time.monotonic()
            w.cmd("SET", key, value)
            lat.append((a, time.monotonic() - a))
            i += 1

    def sampler():
        while not stop.is_set():
            mem.append((time.monotonic(),) + mem_kb(proc.pid))
            time.sleep(0.02)

    threads = [threading.Thread(target=writer, daemon=True),
               threading.Thread(target=sampler, daemon=True)]
    for t in threads:
        t.start()
    time.sleep(STEADY)
    sync_start = time.monotonic()
    rport, rproc, rc = start(kind, ["--replicaof", "127.0.0.1", str(port)])
    deadline = sync_start + SYNC_LIMIT
    while True:
        if rc.info("replication").get("master_link_status") == "up":
            break
        if time.monotonic() > deadline:
            sys.exit("%s: the replica did not sync within %s s" % (kind, SYNC_LIMIT))
        time.sleep(0.05)
    sync_end = time.monotonic()
    time.sleep(max(0.5, STEADY / 2))
    stop.set()
    for t in threads:
        t.join()
    before = [m for m in mem if m[0] < sync_start]
    during = [m for m in mem if sync_start <= m[0] <= sync_end + 0.5]
    steady_rss = statistics.median(m[1] for m in before)
    steady_pss = statistics.median(m[2] for m in before)
    peak_rss = max([m[1] for m in during] + [steady_rss])
    peak_pss = max([m[2] for m in during] + [steady_pss])
    lat_before = [l for t, l in lat if t < sync_start]
    lat_during = [l for t, l in lat if sync_start <= t <= sync_end]
    row = dict(kind=kind, sync_s=sync_end - sync_start, steady_rss=steady_rss,
               peak_rss=peak_rss, steady_pss=steady_pss, peak_pss=peak_pss,
               before=lat_before, during=lat_during)
    return row, (port, proc, c), (rport, rproc, rc)


def throughput(kind, primary, replica):
    port, _, pc = primary
    _, _, rc = replica
    samples = []
    bench = subprocess.Popen(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-P", "16", "-c", "50",
         "-n", str(FLOOD), "-r", str(KEYS), "-d", "32", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.monotonic()

    def lag():
        r = int(rc.info("replication").get("slave_repl_offset", "0"))
        p = int(pc.info("replication")["master_repl_offset"])
        return max(0, p - r)

    while bench.poll() is None:
        samples.append((time.monotonic() - t0, lag()))
        time.sleep(0.1)
    flood_s = time.monotonic() - t0
    out = bench.stdout.read()
    end_lag = lag()
    caught = None
    limit = time.monotonic() + 120
    while time.monotonic() < limit:
        if lag() == 0:
            caught = time.monotonic() - t0 - flood_s
            break
        time.sleep(0.05)
    rate = ""
    for l in out.replace("\r", "\n").splitlines():
        if "requests per second" in l:
            rate = l.split(":", 1)[1].split("requests")[0].strip()
    lags = [l for _, l in samples] or [0]
    return dict(kind=kind, rate=rate, flood_s=flood_s, max_lag=max(lags),
                mean_lag=statistics.mean(lags), end_lag=end_lag, caught=caught,
                samples=samples)


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


try:
    syncs, floods = [], []
    for kind in ("redis", "ferrokv"):
        row, primary, replica = full_sync(kind)
        syncs.append(row)
        floods.append(throughput(kind, primary, replica))
        stop_all()
        procs.clear()
        dirs.clear()
    mb = lambda kb: kb / 1024.0
    ms = lambda s: s * 1000.0
    print()
    print("(a) full sync of %d keys under %d SET/s (steady %.1f s before the sync)" %
          (KEYS, RATE, STEADY))
    print()
    print("| server | sync (s) | RSS steady / peak (MB) | peak/steady RSS "
          "| PSS incl. children steady / peak (MB) | peak/steady PSS "
          "| SET p50 / p99 / max (ms) before | during the sync |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in syncs:
        b, d = r["before"], r["during"]
        print("| %s | %.2f | %.0f / %.0f | %.2f | %.0f / %.0f | %.2f | %.2f / %.2f / %.2f "
              "| %.2f / %.2f / %.2f |" % (
                  r["kind"], r["sync_s"], mb(r["steady_rss"]), mb(r["peak_rss"]),
                  r["peak_rss"] / r["steady_rss"], mb(r["steady_pss"]), mb(r["peak_pss"]),
                  r["peak_pss"] / r["steady_pss"],
                  ms(pct(b, .5)), ms(pct(b, .99)), ms(max(b or [0])),
                  ms(pct(d, .5)), ms(pct(d, .99)), ms(max(d or [0]))))
    print()
    print("(b) SET flood at pipeline 16 (%d requests, 50 clients), replica lag sampled "
          "every 100 ms" % FLOOD)
    print()
    print("| server | flood (req/s) | flood (s) | max lag (KB) | mean lag (KB) "
          "| lag at flood end (KB) | caught up after (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for f in floods:
        caught = "%.2f" % f["caught"] if f["caught"] is not None else "no (120 s)"
        print("| %s | %s | %.2f | %.0f | %.0f | %.0f | %s |" % (
            f["kind"], f["rate"], f["flood_s"], f["max_lag"] / 1024.0,
            f["mean_lag"] / 1024.0, f["end_lag"] / 1024.0, caught))
    if os.environ.get("LAG_SERIES"):
        for f in floods:
            print("lag series %s: %s" % (f["kind"], " ".join(
                "%.1f:%d" % (t, l // 1024) for t, l in f["samples"])))
    bad = [f["kind"] for f in floods if f["caught"] is None]
    if bad:
        sys.exit("replica never caught up: %s" % ", ".join(bad))
finally:
    stop_all()
PY
