#!/usr/bin/env bash
# Scaling with cores over sockets: ferrokv with --threads N for N = 1, 2, 4, 8, ... up to
# the cores left after the load generator's, against redis-server (one thread) and, when
# installed, valkey-server with io-threads N; then pipeline 16 with one ferrokv thread
# against redis (the client must not be the bottleneck there: several client processes).
#
#   scripts/scale.sh
#   TESTS=set,get REQUESTS=200000 CLIENTS=50 PROCS=8 scripts/scale.sh
#   THREADS="1 2 4 8" LOADGEN_CORES=8 scripts/scale.sh
#
# Client: PROCS redis-benchmark processes at once (each -c CLIENTS connections, -n REQUESTS
# requests, random keys over 100,000, 16-byte values), or memtier_benchmark when
# CLIENT=memtier and it is on PATH (`memtier-benchmark` is not packaged in Debian 12; build
# it from its source and put it on PATH). rps = all processes' requests / wall time from the
# first start to the last finish; p99 = the worst process's p99 (ms).
#
# Cores: with at least 4, the load generator gets LOADGEN_CORES (default half) pinned with
# taskset and the servers the others (ferrokv --threads N on N of them, redis on one). On
# fewer (this 2-core machine), nothing is pinned and N = 1 and 2: the client shares the
# cores, so the numbers say little beyond "it runs" (the in-process bench
# `cargo bench -p ferrokv --bench dispatch` measures scaling without a client).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TESTS=${TESTS:-set,get}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-1}
KEYSPACE=${KEYSPACE:-100000}
CLIENT=${CLIENT:-redis-benchmark}
VALKEY_SERVER=${VALKEY_SERVER-$(command -v valkey-server || true)}

need_tools redis-benchmark redis-cli taskset python3
build_ferrokv

CORES=$(nproc)
if [ "$CORES" -ge 4 ]; then
    LOADGEN_CORES=${LOADGEN_CORES:-$((CORES / 2))}
    SERVER_CORES=$((CORES - LOADGEN_CORES))
    PIN=1
else
    LOADGEN_CORES=${LOADGEN_CORES:-1}
    SERVER_CORES=$CORES
    PIN=0
fi
PROCS=${PROCS:-$LOADGEN_CORES}
if [ -z "${THREADS:-}" ]; then
    THREADS=1
    n=2
    while [ "$n" -le "$SERVER_CORES" ]; do THREADS="$THREADS $n"; n=$((n * 2)); done
fi

# server_cpus N: the cores a server with N threads is pinned to ("" = not pinned)
server_cpus() { [ "$PIN" = 1 ] && echo "0-$(($1 - 1))" || true; }
# client_cpu I: the core of client process I
client_cpu() { [ "$PIN" = 1 ] && echo $((SERVER_CORES + $1 % LOADGEN_CORES)) || true; }
# the load generator's cores ("" = not pinned)
loadgen_cpus() { [ "$PIN" = 1 ] && echo "$SERVER_CORES-$((CORES - 1))" || true; }
pinned() { # pinned CPUS CMD... : run CMD under taskset when CPUS is set
    local cpus=$1
    shift
    if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi
}
exec_pinned() { # exec_pinned CPUS CMD... : pinned, replacing the shell
    local cpus=$1
    shift
    if [ -n "$cpus" ]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

# start NAME THREADS -> sets PORT and PID
start() {
    local name=$1 threads=$2 dir cmd
    PORT=$(free_port)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ferrokv-scale-$name.XXXXXX")
    WORKDIRS+=("$dir")
    case $name in
        ferrokv) cmd=("$FERROKV_BIN" --threads "$threads") ;;
        redis) cmd=("$REDIS_SERVER" --daemonize no) ;;
        valkey) cmd=("$VALKEY_SERVER" --daemonize no --io-threads "$threads") ;;
    esac
    cmd+=(--port "$PORT" --bind 127.0.0.1 --save '' --appendonly no)
    (cd "$dir" && exec_pinned "$(server_cpus "$threads")" "${cmd[@]}" >"$dir/server.log" 2>&1) &
    PID=$!
    SERVER_PIDS+=("$PID")
    if ! wait_ready "$PORT" "$PID"; then
        cat "$dir/server.log" >&2
        die "$name did not start on port $PORT"
    fi
}

# load PORT TEST PIPELINE -> "rps p99_ms"
load() {
    local port=$1 test=$2 p=$3 dir i t0 t1
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ferrokv-scale-load.XXXXXX")
    WORKDIRS+=("$dir")
    t0=$(date +%s.%N)
    if [ "$CLIENT" = memtier ]; then
        # one memtier process, PROCS threads; SET = 1:0 ratio, GET = 0:1 (keys set first)
        local ratio=1:0
        [ "$test" = get ] && ratio=0:1
        pinned "$(loadgen_cpus)" memtier_benchmark -s 127.0.0.1 -p "$port" \
            --protocol=redis -t "$PROCS" -c "$CLIENTS" -n "$((REQUESTS / CLIENTS))" \
            --pipeline="$p" --ratio="$ratio" --key-pattern=R:R --key-maximum="$KEYSPACE" \
            -d 16 --hide-histogram --json-out-file="$dir/out.json" >/dev/null 2>&1
        t1=$(date +%s.%N)
        python3 - "$dir/out.json" <<'PY'
import json, sys
totals = json.load(open(sys.argv[1]))["ALL STATS"]["Totals"]
p99 = totals.get("Percentile Latencies", {}).get("p99.00", 0)
print("%.0f %.3f" % (totals["Ops/sec"], p99))
PY
        return
    fi
    for ((i = 0; i < PROCS; i++)); do
        pinned "$(client_cpu "$i")" redis-benchmark -p "$port" -c "$CLIENTS" -n "$REQUESTS" \
            -P "$p" -r "$KEYSPACE" -d 16 -t "$test" --csv >"$dir/$i.csv" 2>/dev/null &
    done
    wait
    t1=$(date +%s.%N)
    python3 - "$dir" "$PROCS" "$REQUESTS" "$t0" "$t1" <<'PY'
import csv, glob, sys
d, procs, reqs, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
p99 = 0.0
for f in glob.glob(d + "/*.csv"):
    rows = list(csv.DictReader(open(f)))
    if not rows:
        sys.exit("redis-benchmark wrote no result to " + f)
    p99 = max(p99, float(rows[0]["p99_latency_ms"]))
print("%.0f %.3f" % (procs * reqs / max(t1 - t0, 1e-9), p99))
PY
}

# row LABEL THREADS NAME PIPELINE: one server, every test
row() {
    local label=$1 threads=$2 name=$3 p=$4 test rps p99 line
    start "$name" "$threads"
    line="| $label | $threads | $p"
    for test in ${TESTS//,/ }; do
        read -r rps p99 < <(load "$PORT" "$test" "$p")
        line="$line | $rps | $p99"
        eval "RPS_${name}_${threads}_${p}_${test}=$rps"
    done
    stop_server "$PID"
    echo "$line |"
}

echo "cores $CORES; servers on $SERVER_CORES, load generator on $LOADGEN_CORES$([ "$PIN" = 1 ] || echo ' (shared: not pinned)')"
echo "client: $PROCS x $CLIENT, -c $CLIENTS -n $REQUESTS each, $KEYSPACE random keys, 16-byte values"
echo "redis: $("$REDIS_SERVER" --version | cut -d' ' -f3)${VALKEY_SERVER:+; valkey: $("$VALKEY_SERVER" --version | cut -d' ' -f3)}"
echo
header="| server | threads | pipeline"
rule="|---|---:|---:"
for test in ${TESTS//,/ }; do
    header="$header | $test rps | $test p99 ms"
    rule="$rule|---:|---:"
done
echo "$header |"
echo "$rule|"
row "redis-server" 1 redis "$PIPELINE"
for n in $THREADS; do
    row "ferrokv" "$n" ferrokv "$PIPELINE"
    if [ -n "$VALKEY_SERVER" ]; then row "valkey io-threads" "$n" valkey "$PIPELINE"; fi
done
row "redis-server" 1 redis 16
row "ferrokv" 1 ferrokv 16
echo
echo "scaling (ferrokv rps at N threads / at 1 thread, pipeline $PIPELINE):"
for test in ${TESTS//,/ }; do
    base=RPS_ferrokv_1_${PIPELINE}_$test
    for n in $THREADS; do
        v=RPS_ferrokv_${n}_${PIPELINE}_$test
        python3 -c "print('  $test N=$n: %.2fx (target 0.85 x N = %.2f)' % (${!v} / ${!base}, 0.85 * $n))"
    done
done
echo "pipeline 16, ferrokv 1 thread / redis (target >= 1.3x):"
for test in ${TESTS//,/ }; do
    f=RPS_ferrokv_1_16_$test
    r=RPS_redis_1_16_$test
    python3 -c "print('  $test: %.2fx' % (${!f} / ${!r}))"
done
