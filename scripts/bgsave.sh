#!/usr/bin/env bash
# Latency during background work, ferrokv (snapshots without fork) against redis-server
# (fork), both in the same run, under an open-loop write load at a fixed rate:
#   1. load KEYS (default 1000000) string keys (`key:%09d` -> 32 B) into each server;
#   2. the rate: RATE, or half the lower of the two servers' SET capacity measured first
#      with redis-benchmark (-c 50, pipelining off);
#   3. ferrokv-loadgen (src/bin/ferrokv-loadgen.rs) sends SETs over the loaded keys at that
#      rate on CONNS connections (pipelining off), each request timed from when it was due,
#      into one histogram per phase: steady (no background work), during BGSAVE, during
#      BGREWRITEAOF (appendonly yes, everysec), and while GROW (default KEYS) new keys are
#      inserted by the same load (table growth); it samples RSS (children included) too;
#   4. report max, p99, p99.9 per phase and server, and steady/peak RSS.
# Numbers from a loaded 2-core machine mean little; see BENCHMARKS.md.
#
#   scripts/bgsave.sh
#   KEYS=200000 RATE=20000 scripts/bgsave.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KEYS=${KEYS:-1000000}
GROW=${GROW:-$KEYS}
CONNS=${CONNS:-50}
STEADY=${STEADY:-2}
WARMUP=${WARMUP:-1}
LOADGEN_BIN=${LOADGEN_BIN:-$ROOT/target/release/ferrokv-loadgen}
need_tools redis-benchmark redis-cli python3
build_ferrokv
[ -x "$LOADGEN_BIN" ] || die "no load generator at $LOADGEN_BIN (cargo build --release -p ferrokv)"

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

# capacity NAME -> SET requests per second, closed loop (redis-benchmark -c 50).
capacity() {
    local port pid
    port=$(free_port)
    start_server "$1" "$port"
    pid=$STARTED_PID
    redis-benchmark -p "$port" -c 50 -n "${CAP_REQ:-200000}" -r "$KEYS" -t set -d 32 --csv 2>/dev/null |
        awk -F'","' 'NR > 1 { gsub(/"/, "", $0); split($0, f, ","); printf "%d\n", f[2]; exit }'
    stop_server "$pid"
}

if [ -z "${RATE:-}" ]; then
    cap_r=$(capacity redis)
    cap_f=$(capacity ferrokv)
    RATE=$(( (cap_r < cap_f ? cap_r : cap_f) / 2 ))
    echo "capacity (SET, redis-benchmark -c 50): redis $cap_r rps, ferrokv $cap_f rps; rate $RATE rps"
fi

# measure NAME -> the load generator's output for that server.
measure() {
    local name=$1 port pid
    port=$(free_port)
    start_server "$name" "$port"
    pid=$STARTED_PID
    redis-cli -p "$port" --pipe <"$data/keys.resp" >/dev/null
    "$LOADGEN_BIN" --port "$port" --pid "$pid" --rate "$RATE" --conns "$CONNS" \
        --keys "$KEYS" --grow "$GROW" --steady "$STEADY" --warmup "$WARMUP" >"$data/$name.out"
    stop_server "$pid"
}

measure redis
measure ferrokv

# field NAME PHASE KEY -> value from the generator's output
field() {
    awk -v phase="$2" -v key="$3" '
        { ok = 0; for (i = 1; i <= NF; i++) if ($i == "phase=" phase || ($1 == phase)) ok = 1
          if (!ok) next
          for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] } }' "$data/$1.out"
}
ms() { python3 -c "print('%.2f' % ($1 / 1000))"; }
ratio() { python3 -c "print('%.2f' % ($1 / $2) if $2 else 'n/a')"; }

echo
echo "Open-loop SET load at $RATE rps on $CONNS connections, $KEYS keys; latency in ms (p99 / p99.9 / max)."
echo
echo "| phase | redis p99 / p99.9 / max | ferrokv p99 / p99.9 / max | p99.9 ferrokv/redis | requests (redis, ferrokv) |"
echo "|---|---:|---:|---:|---:|"
for phase in steady bgsave aofrw growth; do
    row="| $phase |"
    for s in redis ferrokv; do
        row="$row $(ms "$(field "$s" "$phase" p99_us)") / $(ms "$(field "$s" "$phase" p999_us)") / $(ms "$(field "$s" "$phase" max_us)") |"
    done
    row="$row $(ratio "$(field ferrokv "$phase" p999_us)" "$(field redis "$phase" p999_us)") | $(field redis "$phase" n), $(field ferrokv "$phase" n) |"
    echo "$row"
done
echo
echo "| server | steady RSS (MB) | peak RSS during BGSAVE (MB) | peak/steady | peak RSS during BGREWRITEAOF (MB) | peak/steady |"
echo "|---|---:|---:|---:|---:|---:|"
for s in redis ferrokv; do
    base=$(field "$s" rss steady_kb)
    save=$(field "$s" rss bgsave_peak_kb)
    aof=$(field "$s" rss aofrw_peak_kb)
    echo "| $s | $((base / 1024)) | $((save / 1024)) | $(ratio "$save" "$base") | $((aof / 1024)) | $(ratio "$aof" "$base") |"
done
