#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind (repeatable, unlike timings):
# each server runs under `valgrind --tool=callgrind` three times: once answering nothing
# but one PING (the baseline: start-up, idle and shutdown), once for REQUESTS SETs and once
# for REQUESTS GETs (redis-benchmark -c 1 -P 1, after the SETs for GET so keys exist).
# Instructions per request = (total - baseline) / requests, totals from callgrind_annotate.
#
#   scripts/callgrind.sh
#   REQUESTS=5000 scripts/callgrind.sh
#   TESTS="sadd zadd lpush rpop" scripts/callgrind.sh   any redis-benchmark tests
#   TESTS=hget scripts/callgrind.sh       HGET of one existing field
#   TESTS=rpop ...                        RPOP from a filled list (the filling is subtracted)
#   TESTS=evalsha scripts/callgrind.sh    EVALSHA of `return redis.call('GET', KEYS[1])`
#                                         (baseline: a run that loads the script and sets
#                                         the key, so the Lua VM's creation is not counted)
#   TESTS=publish scripts/callgrind.sh    PUBLISH to one subscribed redis-cli
#   TESTS=pfadd scripts/callgrind.sh                     PFADD of random elements
#   TESTS="lpush-small rpush-small" scripts/callgrind.sh  pushes onto 2,000 small lists
#   TESTS="lpop-small rpop-small" scripts/callgrind.sh    pops from 2,000 small lists (their
#                                         filling is its own baseline run)
#   TESTS=zadd-small scripts/callgrind.sh                score updates in 2,000 small sets
#   TESTS=zadd-large scripts/callgrind.sh                random members into one large set
#                                         (redis-benchmark's zadd test adds one member,
#                                         `element:__rand_int__` without -r, to a set of one)
#   TESTS=xadd scripts/callgrind.sh                      XADD * f v into one stream
#   PIPELINE=16 scripts/callgrind.sh      redis-benchmark -P 16 (default 1)
#   APPENDFSYNC=everysec scripts/callgrind.sh   both servers with an append-only file
#   ALT_BIN=/tmp/ferrokv-old scripts/callgrind.sh
#                                         a third server (any binary taking ferrokv's
#                                         arguments) measured in the same run, its own column
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REQUESTS=${REQUESTS:-20000}
PIPELINE=${PIPELINE:-1}
need_tools valgrind callgrind_annotate redis-benchmark redis-cli python3
build_ferrokv

out=$(mktemp -d "${TMPDIR:-/tmp}/ferrokv-callgrind.XXXXXX")
WORKDIRS+=("$out")

# measure NAME TEST -> total instructions of a whole server run
measure() {
    local name=$1 test=$2 port pid file
    port=$(free_port)
    file="$out/$name-$test.callgrind"
    READY_SECONDS=120 start_server "$name" "$port" \
        valgrind --tool=callgrind --callgrind-out-file="$file" --dump-instr=no
    pid=$STARTED_PID
    case $test in
        baseline) ;;
        evalsha-setup)
            # evalsha's own baseline: the same set-up without the counted requests (ferrokv
            # creates its Lua VM on the first script, Redis at start-up)
            redis-cli -p "$port" script load "return redis.call('GET', KEYS[1])" >/dev/null
            redis-cli -p "$port" set key xxx >/dev/null
            ;;
        get)
            # GET needs the key; one SET outside the counted requests is noise
            redis-cli -p "$port" set key:__rand_int__ xxx >/dev/null
            redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" -t get >/dev/null 2>&1
            ;;
        hget)
            # HGET of an existing field (not a redis-benchmark -t test)
            redis-cli -p "$port" hset myhash element:__rand_int__ xxx >/dev/null
            redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" \
                hget myhash element:__rand_int__ >/dev/null 2>&1
            ;;
        rpop-setup | rpop)
            # RPOP from a list that holds an element for every request (redis-benchmark's
            # rpop test alone would pop an empty list); the filling is its own baseline run
            redis-benchmark -p "$port" -c 1 -P 16 -n "$REQUESTS" -t lpush >/dev/null 2>&1
            [ "$test" = rpop ] &&
                redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" -t rpop >/dev/null 2>&1
            ;;
        evalsha)
            # A small script (one redis.call), loaded and its key set outside the count
            local sha
            sha=$(redis-cli -p "$port" script load "return redis.call('GET', KEYS[1])")
            redis-cli -p "$port" set key xxx >/dev/null
            redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" evalsha "$sha" 1 key >/dev/null 2>&1
            ;;
        publish)
            # One subscriber (redis-cli reading every message), PUBLISH of a 19-byte message
            local sub
            redis-cli -p "$port" subscribe ch >/dev/null 2>&1 &
            sub=$!
            until [ "$(redis-cli -p "$port" pubsub numsub ch | tail -1)" = 1 ]; do sleep 0.1; done
            redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" publish ch hello-world-payload >/dev/null 2>&1
            kill "$sub" 2>/dev/null
            wait "$sub" 2>/dev/null || true
            ;;
        xadd)
            # XADD with a new ID into one stream (no redis-benchmark -t test; `*` unglobbed)
            redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" XADD bench:stream '*' f v >/dev/null 2>&1
            ;;
        lpush-small | rpush-small)
            # LPUSH/RPUSH onto 2,000 small lists (keys sl:<12 digits>): ~10 elements each
            # after the run, so most pushes edit a list small enough to live in its key's
            # record (ferrokv), some create one and some grow past it
            redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" -r 2000 \
                "${test%-small}" sl:__rand_int__ item-x >/dev/null 2>&1
            ;;
        pop-small-setup | lpop-small | rpop-small)
            # Pops from 2,000 small lists: 2 x REQUESTS one-byte elements pushed first
            # (~20 a list: 55-byte records in ferrokv; the filling is its own baseline run),
            # then REQUESTS pops leave ~10 a list
            redis-benchmark -p "$port" -c 1 -P 16 -n $((2 * REQUESTS)) -r 2000 \
                RPUSH sl:__rand_int__ x >/dev/null 2>&1
            [ "$test" != pop-small-setup ] &&
                redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" -r 2000 \
                    "${test%-small}" sl:__rand_int__ >/dev/null 2>&1
            ;;
        zadd-small)
            # ZADD of a new random score to the one member of 2,000 small sorted sets (keys
            # zs:<12 digits>): the first request on a key creates it, the others update a
            # set small enough to live in its key's record (ferrokv)
            redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" -r 2000 \
                ZADD zs:__rand_int__ __rand_int__ member >/dev/null 2>&1
            ;;
        zadd-large)
            # ZADD of random members (and scores) into one set, which soon holds thousands
            redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" -r 1000000 \
                ZADD bench:zset __rand_int__ element:__rand_int__ >/dev/null 2>&1
            ;;
        pfadd)
            # not a redis-benchmark -t test: random elements into one HLL
            redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" -r 1000000 \
                PFADD bench:hll e:__rand_int__ >/dev/null 2>&1
            ;;
        *) redis-benchmark -p "$port" -c 1 -P "$PIPELINE" -n "$REQUESTS" -t "$test" >/dev/null 2>&1 ;;
    esac
    stop_server "$pid"
    callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}

declare -A total
TESTS=${TESTS:-set get}
SERVERS="redis ferrokv${ALT_BIN:+ alt}"
for name in $SERVERS; do
    runs=(baseline $TESTS)
    # evalsha and rpop are measured against their own set-up runs
    [[ " $TESTS " == *" evalsha "* ]] && runs+=(evalsha-setup)
    [[ " $TESTS " == *" rpop "* ]] && runs+=(rpop-setup)
    [[ " $TESTS " == *"pop-small "* ]] && runs+=(pop-small-setup)
    for test in "${runs[@]}"; do
        total[$name-$test]=$(measure "$name" "$test")
        echo "$name $test: ${total[$name-$test]} instructions" >&2
    done
done

per() {
    local base=baseline
    case $2 in
        evalsha | rpop) base=$2-setup ;;
        lpop-small | rpop-small) base=pop-small-setup ;;
    esac
    python3 -c "print('%.0f' % ((${total[$1-$2]} - ${total[$1-$base]}) / $REQUESTS))"
}
echo
if [ -n "${ALT_BIN:-}" ]; then
    echo "(alt: $ALT_BIN)"
    echo "| command | redis instr/request | ferrokv instr/request | alt instr/request | ratio ferrokv/redis | ratio alt/redis |"
    echo "|---|---:|---:|---:|---:|---:|"
else
    echo "| command | redis instr/request | ferrokv instr/request | ratio ferrokv/redis |"
    echo "|---|---:|---:|---:|"
fi
for test in $TESTS; do
    r=$(per redis "$test")
    f=$(per ferrokv "$test")
    if [ -n "${ALT_BIN:-}" ]; then
        a=$(per alt "$test")
        echo "| $test | $r | $f | $a | $(python3 -c "print('%.2f' % ($f / $r))") | $(python3 -c "print('%.2f' % ($a / $r))") |"
    else
        echo "| $test | $r | $f | $(python3 -c "print('%.2f' % ($f / $r))") |"
    fi
done
echo
echo "($REQUESTS requests each, redis-benchmark -c 1 -P $PIPELINE${APPENDFSYNC:+, appendonly yes appendfsync $APPENDFSYNC}, baseline run subtracted)"
