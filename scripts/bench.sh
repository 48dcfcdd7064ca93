#!/usr/bin/env bash
# Throughput and server CPU per request: ferrokv (--threads 1) against redis-server, side by
# side in one run. Both servers are pinned to core 1, redis-benchmark to core 0; persistence
# is off on both; the servers take turns for every test so drift hits both alike.
#
#   scripts/bench.sh                     all tests, pipeline 1 and 16
#   TESTS=set,get PIPELINES=16 REQUESTS=100000 CLIENTS=50 scripts/bench.sh
#   APPENDFSYNC=always TESTS=set PIPELINES=1 scripts/bench.sh   both with an append-only file
#   SERVER_CPU_QUOTA=0.4 TESTS=get,set PIPELINES=16 scripts/bench.sh
#       each server capped at 0.4 of a core (a cgroup v1 CPU quota, 10 ms periods; needs
#       root): the server, not the one client core, is then the bottleneck, so the rps
#       ratio is a throughput comparison (issue 15 target 5 on a machine with few cores)
#
# Output: a Markdown table: rps of each, ratio ferrokv/redis (higher is better for ferrokv),
# server CPU per request in microseconds (scheduler run time of all server threads from
# /proc/PID/task/*/schedstat, nanosecond resolution) and
# its ratio ferrokv/redis (lower is better for ferrokv). Numbers are noisy: compare ratios
# within one run, never absolute numbers across machines or runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TESTS=${TESTS:-ping_inline,ping_mbulk,set,get,incr,hset,mset}
PIPELINES=${PIPELINES:-1 16}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}

need_tools redis-benchmark redis-cli taskset python3
build_ferrokv
TICK=$(getconf CLK_TCK)

# cap PID NAME: put every thread of PID into a CPU-quota cgroup of its own (SERVER_CPU_QUOTA).
cap() {
    [ -n "${SERVER_CPU_QUOTA:-}" ] || return 0
    local dir=/sys/fs/cgroup/cpu/ferrokv-bench-$$-$2
    mkdir -p "$dir" || die "SERVER_CPU_QUOTA needs a writable cgroup v1 cpu controller ($dir)"
    echo 10000 >"$dir/cpu.cfs_period_us"
    awk -v q="$SERVER_CPU_QUOTA" 'BEGIN { printf "%d\n", q * 10000 }' >"$dir/cpu.cfs_quota_us"
    echo "$1" >"$dir/cgroup.procs"
    CGROUPS+=("$dir")
}
CGROUPS=()
# The cgroups go when the script ends, after the servers are stopped.
remove_cgroups() {
    local d
    for d in "${CGROUPS[@]+"${CGROUPS[@]}"}"; do
        rmdir "$d" 2>/dev/null || true
    done
}
trap 'stop_all; remove_cgroups' EXIT

rport=$(free_port)
start_server redis "$rport" taskset -c "$SERVER_CPU"
rpid=$STARTED_PID
cap "$rpid" redis
fport=$(free_port)
start_server ferrokv "$fport" taskset -c "$SERVER_CPU"
fpid=$STARTED_PID
cap "$fpid" ferrokv

echo "redis: $("$REDIS_SERVER" --version | cut -d' ' -f3) pid $rpid port $rport; ferrokv: pid $fpid port $fport"
echo "redis-benchmark -c $CLIENTS -n $REQUESTS; servers on core $SERVER_CPU, client on core $CLIENT_CPU"
echo

# probe: the command redis-benchmark sends for a test (to mark tests ferrokv cannot run yet)
probe() {
    case $1 in
        incr) echo "INCR bench:probe" ;;
        hset) echo "HSET bench:probe f v" ;;
        mset) echo "MSET bench:probe v" ;;
        set) echo "SET bench:probe v" ;;
        lpush | lpop | rpop | lrange*) echo "LPUSH bench:probe:list v" ;;
        rpush) echo "RPUSH bench:probe:list v" ;;
        sadd | spop) echo "SADD bench:probe:set v" ;;
        zadd | zpopmin) echo "ZADD bench:probe:zset 1 v" ;;
        get) echo "GET bench:probe" ;;
        geosearch) echo "GEOADD bench:probe:geo 1 1 v" ;;
        pfadd | pfcount | pfcount_union) echo "PFADD bench:probe:hll v" ;;
        xadd | xreadgroup | xack) echo "XADD bench:probe:stream * f v" ;;
        *) echo "PING" ;;
    esac
}

# custom TEST: the command line of a test redis-benchmark has no -t for (empty: a -t test).
# geosearch: the 10 nearest of 100,000 points within 50 km of a point (setup_custom loads
# them); pfadd: random elements into one HLL (dense after the first few thousand);
# pfcount: one dense HLL whose cached cardinality PFADD keeps invalidating is not what
# this measures, so it reads the union of three dense HLLs (computed on every call) as
# pfcount_union, and one key (answered from the header cache) as pfcount. Streams: xadd
# appends `f v` with a new ID; xreadgroup delivers the next of 1,000,000 preloaded jobs
# (IDs 0-1 ... 0-1000000) to one consumer, one per call; xack acknowledges a random job ID
# (a pending one once xreadgroup has delivered it; run xreadgroup first).
custom() {
    case $1 in
        geosearch) echo "GEOSEARCH bench:geo FROMLONLAT 12.5 42 BYRADIUS 50 km ASC COUNT 10 WITHDIST" ;;
        pfadd) echo "PFADD bench:hll:add e:__rand_int__" ;;
        pfcount) echo "PFCOUNT bench:hll:1" ;;
        pfcount_union) echo "PFCOUNT bench:hll:1 bench:hll:2 bench:hll:3" ;;
        xadd) echo "XADD bench:stream:add * f v" ;;
        xreadgroup) echo "XREADGROUP GROUP g c COUNT 1 STREAMS bench:stream:jobs >" ;;
        xack) echo "XACK bench:stream:jobs g 0-__rand_int__" ;;
    esac
}

# setup_custom PORT: the data the custom tests read (same on both servers).
setup_custom() {
    python3 - "$1" "$TESTS" <<'PY' | redis-cli -p "$1" --pipe >/dev/null
import random, sys
def cmd(*a):
    out = ["*%d\r\n" % len(a)]
    for x in a:
        x = str(x)
        out.append("$%d\r\n%s\r\n" % (len(x.encode()), x))
    sys.stdout.write("".join(out))
rnd = random.Random(7)
for batch in range(100):
    args = ["GEOADD", "bench:geo"]
    for i in range(1000):
        args += ["%.6f" % rnd.uniform(6.6, 18.5), "%.6f" % rnd.uniform(36.6, 47.1), "p%d" % (batch * 1000 + i)]
    cmd(*args)
if "xreadgroup" in sys.argv[2] or "xack" in sys.argv[2]:
    for n in range(1, 1000001):
        cmd("XADD", "bench:stream:jobs", "0-%d" % n, "job", n)
    cmd("XGROUP", "CREATE", "bench:stream:jobs", "g", "0")
for k in (1, 2, 3):
    for batch in range(20):
        cmd("PFADD", "bench:hll:%d" % k, *("%d:%d" % (k, batch * 1000 + i) for i in range(1000)))
    cmd("PFCOUNT", "bench:hll:%d" % k)
PY
}

# run PORT PID TEST PIPELINE -> "rps us_per_request"
run() {
    local port=$1 pid=$2 test=$3 p=$4 before after csv rps
    before=$(cpu_ns "$pid")
    local cmd
    cmd=$(custom "$test")
    if [ -n "$cmd" ]; then
        # word splitting wanted, globbing not (XADD's `*`)
        set -f
        # shellcheck disable=SC2086
        csv=$(taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" -n "$REQUESTS" -P "$p" -r 1000000 --csv $cmd 2>/dev/null)
        set +f
    else
        csv=$(taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" -n "$REQUESTS" -P "$p" -t "$test" --csv 2>/dev/null)
    fi
    after=$(cpu_ns "$pid")
    rps=$(echo "$csv" | awk -F'","' 'NR > 1 { print $2; exit }')
    python3 -c "print('%.0f %.3f' % (float('$rps'), ($after - $before) / 1e3 / $REQUESTS))"
}

ratio() { python3 -c "a, b = float('$1'), float('$2'); print('%.2f' % (a / b) if b else '-')"; }

for port in "$rport" "$fport"; do setup_custom "$port"; done

printf '| test | pipeline | redis rps | ferrokv rps | rps ratio | redis µs/req | ferrokv µs/req | CPU ratio |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
i=0
for p in $PIPELINES; do
    for test in ${TESTS//,/ }; do
        set -f
        # shellcheck disable=SC2046
        if ! supports "$fport" $(probe "$test"); then
            set +f
            printf '| %s | %s | | | not implemented in ferrokv | | | |\n' "$test" "$p"
            continue
        fi
        set +f
        # alternate which server goes first
        if [ $((i % 2)) = 0 ]; then
            read -r r_rps r_cpu < <(run "$rport" "$rpid" "$test" "$p")
            read -r f_rps f_cpu < <(run "$fport" "$fpid" "$test" "$p")
        else
            read -r f_rps f_cpu < <(run "$fport" "$fpid" "$test" "$p")
            read -r r_rps r_cpu < <(run "$rport" "$rpid" "$test" "$p")
        fi
        i=$((i + 1))
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$test" "$p" "$r_rps" "$f_rps" \
            "$(ratio "$f_rps" "$r_rps")" "$r_cpu" "$f_cpu" "$(ratio "$f_cpu" "$r_cpu")"
    done
done
