#!/usr/bin/env bash
# BGSAVE under write load, ferrokv (snapshot without fork) against redis-server (fork):
#   1. load KEYS (default 1000000) string keys (`key:%09d` -> 32 B) into each server;
#   2. start a redis-benchmark write load (SET over the same key space, 50 clients) and,
#      while it runs, sample the server's total RSS (all processes: Redis's forked child
#      included) every 10 ms for a baseline second, then BGSAVE and sample until it ends;
#   3. report steady-state RSS, peak RSS during BGSAVE and their ratio; and the latency of
#      the concurrent benchmark (p99, max) in a run without BGSAVE and a run with one.
#
#   scripts/bgsave.sh
#   KEYS=200000 scripts/bgsave.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEYS=${KEYS:-1000000}
need_tools redis-benchmark redis-cli python3
build_ferrokv

data=$(mktemp -d "${TMPDIR:-/tmp}/ferrokv-bgsave.XXXXXX")
WORKDIRS+=("$data")
python3 - "$data" "$KEYS" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
with open(out + "/keys.resp", "wb") as f:
    for i in range(n):
        k, v = b"key:%09d" % i, b"v%031d" % i
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY

# rss of PID and its children (kB)
tree_rss() {
    local pid=$1 total=0 p r
    for p in $pid $(pgrep -P "$pid" 2>/dev/null); do
        r=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${r:-0}))
    done
    echo "$total"
}

# latency PORT -> "p99 max" (ms) of a SET load of REQ requests
latency() {
    redis-benchmark -p "$1" -c 50 -n "${REQ:-400000}" -r "$KEYS" -t set -d 32 --csv 2>/dev/null |
        awk -F'","' 'NR > 1 { gsub(/"/, "", $0); split($0, f, ","); print f[7], f[8]; exit }'
}

measure() {
    local name=$1 port pid base peak b s with without
    port=$(free_port)
    start_server "$name" "$port"
    pid=$STARTED_PID
    redis-cli -p "$port" --pipe <"$data/keys.resp" >/dev/null
    sleep 1
    without=$(latency "$port")
    # Load in the background; baseline RSS, then BGSAVE and the peak until it is done.
    (latency "$port" >"$data/$name-lat") &
    local bench=$!
    sleep 0.5
    base=0
    for _ in $(seq 50); do
        s=$(tree_rss "$pid"); [ "$s" -gt "$base" ] && base=$s; sleep 0.01
    done
    redis-cli -p "$port" bgsave >/dev/null
    peak=$base
    sleep 0.05
    while redis-cli -p "$port" info persistence | grep -q 'rdb_bgsave_in_progress:1'; do
        s=$(tree_rss "$pid"); [ "$s" -gt "$peak" ] && peak=$s; sleep 0.01
    done
    wait "$bench"
    with=$(cat "$data/$name-lat")
    stop_server "$pid"
    echo "$base $peak $without $with"
}

read -r r_base r_peak r_p99 r_max r_p99s r_maxs < <(measure redis)
read -r f_base f_peak f_p99 f_max f_p99s f_maxs < <(measure ferrokv)
r() { python3 -c "print('%.2f' % ($1 / $2))"; }
echo
echo "| server | steady RSS (MB) | peak RSS during BGSAVE (MB) | peak/steady | SET p99 / max (ms), no save | SET p99 / max (ms), during BGSAVE |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| redis | $((r_base / 1024)) | $((r_peak / 1024)) | $(r "$r_peak" "$r_base") | $r_p99 / $r_max | $r_p99s / $r_maxs |"
echo "| ferrokv | $((f_base / 1024)) | $((f_peak / 1024)) | $(r "$f_peak" "$f_base") | $f_p99 / $f_max | $f_p99s / $f_maxs |"
