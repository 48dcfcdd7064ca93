#!/usr/bin/env bash
# Memory per key: loads the same data into redis-server and into ferrokv (one after the
# other, persistence off) and reports the growth of each server's resident set size.
#   1. STRINGS (default 1000000) keys `key:%09d` with 32-byte values
#   2. HASHES (default 100000) hashes `hash:%07d` with 10 fields `field:N` -> 16-byte values
#   3. LISTS and ZSETS (default 100000 each): lists of 10 items, sorted sets of 10 members
# Loaded with `redis-cli --pipe`. The raw payload of one string key is 13 + 32 = 45 bytes;
# everything above that is overhead.
#
#   scripts/memory.sh
#   STRINGS=200000 HASHES=20000 scripts/memory.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STRINGS=${STRINGS:-1000000}
HASHES=${HASHES:-100000}
need_tools redis-cli python3
build_ferrokv

data=$(mktemp -d "${TMPDIR:-/tmp}/ferrokv-memory.XXXXXX")
WORKDIRS+=("$data")
python3 - "$data" "$STRINGS" "$HASHES" <<'PY'
import sys
out, strings, hashes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)

with open(out + "/strings.resp", "wb") as f:
    for i in range(strings):
        f.write(cmd(b"SET", b"key:%09d" % i, (b"v%031d" % i)))
with open(out + "/hashes.resp", "wb") as f:
    for i in range(hashes):
        args = [b"HSET", b"hash:%07d" % i]
        for j in range(10):
            args += [b"field:%d" % j, b"value-%010d" % (i * 10 + j)]
        f.write(cmd(*args))
PY

# load NAME -> prints "strings_bytes_per_key hashes_bytes_per_hash" (or n/a)
load() {
    local name=$1 port pid rss0 rss1 rss2 per_string per_hash="n/a"
    port=$(free_port)
    start_server "$name" "$port"
    pid=$STARTED_PID
    sleep 0.5
    rss0=$(rss_kb "$pid")
    redis-cli -p "$port" --pipe <"$data/strings.resp" >"$data/$name-strings.log" 2>&1 ||
        { cat "$data/$name-strings.log" >&2; die "$name: loading strings failed"; }
    sleep 0.5
    rss1=$(rss_kb "$pid")
    per_string=$(python3 -c "print('%.1f' % (($rss1 - $rss0) * 1024 / $STRINGS))")
    if supports "$port" HSET memory:probe f v; then
        redis-cli -p "$port" --pipe <"$data/hashes.resp" >"$data/$name-hashes.log" 2>&1 ||
            { cat "$data/$name-hashes.log" >&2; die "$name: loading hashes failed"; }
        sleep 0.5
        rss2=$(rss_kb "$pid")
        per_hash=$(python3 -c "print('%.1f' % (($rss2 - $rss1) * 1024 / $HASHES))")
    fi
    echo "$name: RSS $rss0 kB at start, $rss1 kB after strings, ${rss2:-?} kB after hashes" >&2
    stop_server "$pid"
    echo "$per_string $per_hash"
}

read -r r_str r_hash < <(load redis)
read -r f_str f_hash < <(load ferrokv)
ratio() { python3 -c "
try: print('%.2f' % (float('$1') / float('$2')))
except ValueError: print('-')"; }

echo
echo "| data | redis bytes | ferrokv bytes | ratio ferrokv/redis |"
echo "|---|---:|---:|---:|"
echo "| per string key ($STRINGS x 13 B key + 32 B value) | $r_str | $f_str | $(ratio "$f_str" "$r_str") |"
echo "| per hash ($HASHES x 10 fields of 7 B + 16 B) | $r_hash | $f_hash | $(ratio "$f_hash" "$r_hash") |"

# ---------------------------------------------------------------------------------------
# Collections, each loaded into a freshly started server of each kind; RSS growth per key:
#   LISTS (default 100000) lists `list:%06d` of 10 elements `item-0`..`item-9` (one RPUSH)
#   ZSETS (default 100000) sorted sets `zset:%06d` of 10 members `member-1`..`member-10`
#   with scores 1..10 (one ZADD)
# (Only these: STRINGS=1 HASHES=1 scripts/memory.sh.)
LISTS=${LISTS:-100000}
ZSETS=${ZSETS:-100000}
python3 - "$data" "$LISTS" "$ZSETS" <<'PY'
import sys
out, lists, zsets = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def cmd(args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
with open(out + "/lists.resp", "wb") as f:
    for i in range(lists):
        f.write(cmd([b"RPUSH", b"list:%06d" % i] + [b"item-%d" % j for j in range(10)]))
with open(out + "/zsets.resp", "wb") as f:
    for i in range(zsets):
        args = [b"ZADD", b"zset:%06d" % i]
        for j in range(1, 11):
            args += [b"%d" % j, b"member-%d" % j]
        f.write(cmd(args))
PY

# load_one NAME FILE COUNT -> prints bytes per key
load_one() {
    local name=$1 file=$2 count=$3 port pid rss0 rss1
    port=$(free_port)
    start_server "$name" "$port"
    pid=$STARTED_PID
    sleep 0.5
    rss0=$(rss_kb "$pid")
    redis-cli -p "$port" --pipe <"$data/$file" >"$data/$name-$file.log" 2>&1 ||
        { cat "$data/$name-$file.log" >&2; die "$name: loading $file failed"; }
    sleep 0.5
    rss1=$(rss_kb "$pid")
    echo "$name: RSS $rss0 kB at start, $rss1 kB after $count keys of $file" >&2
    stop_server "$pid"
    python3 -c "print('%.1f' % (($rss1 - $rss0) * 1024 / $count))"
}

r_list=$(load_one redis lists.resp "$LISTS")
f_list=$(load_one ferrokv lists.resp "$LISTS")
echo "| per list ($LISTS x 10 elements of 6 B, 11 B keys) | $r_list | $f_list | $(ratio "$f_list" "$r_list") |"
r_zset=$(load_one redis zsets.resp "$ZSETS")
f_zset=$(load_one ferrokv zsets.resp "$ZSETS")
echo "| per sorted set ($ZSETS x 10 members of 8-9 B, scores 1..10) | $r_zset | $f_zset | $(ratio "$f_zset" "$r_zset") |"
