# Helpers shared by scripts/bench.sh, scripts/memory.sh and scripts/callgrind.sh (sourced).
# Servers started here are recorded in SERVER_PIDS and stopped by stop_all (an EXIT trap).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERROKV_BIN=${FERROKV_BIN:-$ROOT/target/release/ferrokv-server}
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
SERVER_PIDS=()
WORKDIRS=()

die() { echo "error: $*" >&2; exit 1; }

need_tools() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || die "$t not found (scripts/test.sh installs redis-server and redis-tools)"
    done
}

build_ferrokv() {
    if [ -z "${NO_BUILD:-}" ]; then
        (cd "$ROOT" && cargo build --release -q -p ferrokv) || die "cargo build failed"
    fi
    [ -x "$FERROKV_BIN" ] || die "no ferrokv binary at $FERROKV_BIN"
    [ -n "$REDIS_SERVER" ] || die "redis-server not found"
}

# A free loopback port, chosen by the kernel.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_ready PORT PID [SECONDS]: wait until the server answers PING.
wait_ready() {
    local port=$1 pid=$2 limit=${3:-30} i
    for ((i = 0; i < limit * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    return 1
}

# start_server NAME PORT PREFIX... : start redis or ferrokv (persistence off unless
# APPENDFSYNC is set) in a new temp
# folder, optionally behind a PREFIX command (taskset, valgrind); sets STARTED_PID.
start_server() {
    local name=$1 port=$2
    shift 2
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ferrokv-bench-$name.XXXXXX")
    WORKDIRS+=("$dir")
    local cmd persistence=(--appendonly no)
    # APPENDFSYNC=always|everysec|no: both servers keep an append-only file with that policy
    # (in their temp folders, on the same disk).
    if [ -n "${APPENDFSYNC:-}" ]; then
        persistence=(--appendonly yes --appendfsync "$APPENDFSYNC")
    fi
    if [ "$name" = redis ]; then
        cmd=("$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' "${persistence[@]}" --daemonize no)
    elif [ "$name" = alt ]; then
        # ALT_BIN: another build or binary with ferrokv's arguments (scripts/callgrind.sh)
        cmd=("$ALT_BIN" --port "$port" --threads 1 --save '' "${persistence[@]}")
    else
        cmd=("$FERROKV_BIN" --port "$port" --threads 1 --save '' "${persistence[@]}")
    fi
    (cd "$dir" && exec "$@" "${cmd[@]}" >"$dir/server.log" 2>&1) &
    STARTED_PID=$!
    SERVER_PIDS+=("$STARTED_PID")
    if ! wait_ready "$port" "$STARTED_PID" "${READY_SECONDS:-30}"; then
        cat "$dir/server.log" >&2
        die "$name did not start on port $port"
    fi
}

# stop_server PID: SIGTERM and wait (valgrind writes its output at exit).
stop_server() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 600; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_all() {
    local pid
    for pid in "${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}"; do stop_server "$pid"; done
    SERVER_PIDS=()
    if [ -z "${KEEP_WORKDIRS:-}" ]; then
        for d in "${WORKDIRS[@]+"${WORKDIRS[@]}"}"; do rm -rf "$d"; done
    fi
}
trap stop_all EXIT

# cpu_ns PID: CPU time the scheduler ran all threads of a process, in nanoseconds
# (/proc/PID/task/*/schedstat, first field). Exact, unlike the 10 ms ticks of /proc/PID/stat;
# threads that exited are not counted, so read it while the server runs.
cpu_ns() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'
}

# cpu_ticks PID: user+system CPU time of a process, in clock ticks (/proc/PID/stat 14+15).
cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# rss_kb PID: resident set size in KiB.
rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# supports PORT CMD ARGS...: true unless the server says the command is unknown.
supports() {
    local port=$1
    shift
    ! redis-cli -p "$port" "$@" 2>&1 | grep -q "unknown command"
}
