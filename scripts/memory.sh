#!/usr/bin/env bash
# Memory per key: loads the same data into redis-server and into ferrokv (persistence off),
# each data set into a freshly started server of each kind, and reports the growth of the
# server's resident set size divided by the number of keys. Rows (0 skips one):
#   STRINGS (default 1000000) keys `key:%09d` with 32-byte values (SET)
#   TTLS    (default STRINGS) the same keys and values with a TTL (SET ... EX 100000); the
#           "TTL costs" line is this row minus the plain string row
#   HASHES  (default 100000) hashes `hash:%07d` with 10 fields `field:N` -> 16-byte values
#   HASHES2 (default HASHES) hashes `hash:%07d` with 10 fields `f0`..`f9` -> 8-byte values
#           (`v` and 7 digits: not integers, which Redis's listpack would store as numbers)
#   LISTS   (default 100000) lists `list:%06d` of 10 elements `item-0`..`item-9` (one RPUSH)
#   ZSETS   (default 100000) sorted sets `zset:%06d` of 10 members `member-1`..`member-10`
#           with scores 1..10 (one ZADD)
# Each data set is loaded with one HSET/RPUSH/ZADD/SET per key through `redis-cli --pipe`.
# The raw payload of one string key is 13 + 32 = 45 bytes; everything above is overhead.
#
# Two readings per load: 0.5 s after it (what memory.sh always reported), and "settled",
# SETTLE seconds later (default 12; 0 skips it). Both servers run jemalloc with its
# background thread (`jemalloc-bg-thread yes`, the default of both), which returns the
# pages freed while loading (old hash-table arrays, grown buffers) over jemalloc's 10 s
# decay; the settled reading is what the data set costs once that garbage is gone.
#
#   scripts/memory.sh
#   QUICK=1 scripts/memory.sh                 # a tenth of every default size
#   STRINGS=200000 TTLS=0 HASHES=20000 scripts/memory.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

div=1
[ -n "${QUICK:-}" ] && div=10
STRINGS=${STRINGS:-$((1000000 / div))}
TTLS=${TTLS:-$STRINGS}
HASHES=${HASHES:-$((100000 / div))}
HASHES2=${HASHES2:-$HASHES}
LISTS=${LISTS:-$((100000 / div))}
ZSETS=${ZSETS:-$((100000 / div))}
SETTLE=${SETTLE:-12}
need_tools redis-cli python3
build_ferrokv

data=$(mktemp -d "${TMPDIR:-/tmp}/ferrokv-memory.XXXXXX")
WORKDIRS+=("$data")
python3 - "$data" "$STRINGS" "$TTLS" "$HASHES" "$HASHES2" "$LISTS" "$ZSETS" <<'PY'
import sys
out = sys.argv[1]
strings, ttls, hashes, hashes2, lists, zsets = map(int, sys.argv[2:8])

def cmd(args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)

def write(name, count, make):
    with open("%s/%s.resp" % (out, name), "wb") as f:
        for i in range(count):
            f.write(cmd(make(i)))

write("strings", strings, lambda i: [b"SET", b"key:%09d" % i, b"v%031d" % i])
write("ttls", ttls, lambda i: [b"SET", b"key:%09d" % i, b"v%031d" % i, b"EX", b"100000"])

def hash1(i):
    args = [b"HSET", b"hash:%07d" % i]
    for j in range(10):
        args += [b"field:%d" % j, b"value-%010d" % (i * 10 + j)]
    return args

def hash2(i):
    args = [b"HSET", b"hash:%07d" % i]
    for j in range(10):
        args += [b"f%d" % j, b"v%07d" % (i * 10 + j)]
    return args

write("hashes", hashes, hash1)
write("hashes2", hashes2, hash2)
write("lists", lists, lambda i: [b"RPUSH", b"list:%06d" % i] + [b"item-%d" % j for j in range(10)])

def zset(i):
    args = [b"ZADD", b"zset:%06d" % i]
    for j in range(1, 11):
        args += [b"%d" % j, b"member-%d" % j]
    return args

write("zsets", zsets, zset)
PY

# load_one NAME FILE COUNT -> prints the RSS growth per key in bytes, 0.5 s after the load
# and settled (SETTLE s later; "-" when SETTLE=0), separated by a space
load_one() {
    local name=$1 file=$2 count=$3 port pid rss0 rss1 rss2
    port=$(free_port)
    start_server "$name" "$port"
    pid=$STARTED_PID
    sleep 0.5
    rss0=$(rss_kb "$pid")
    redis-cli -p "$port" --pipe <"$data/$file" >"$data/$name-$file.log" 2>&1 ||
        { cat "$data/$name-$file.log" >&2; die "$name: loading $file failed"; }
    grep -q "errors: 0," "$data/$name-$file.log" ||
        { cat "$data/$name-$file.log" >&2; die "$name: $file got error replies"; }
    sleep 0.5
    rss1=$(rss_kb "$pid")
    rss2=$rss1
    if [ "$SETTLE" -gt 0 ]; then
        sleep "$SETTLE"
        rss2=$(rss_kb "$pid")
    fi
    echo "$name: RSS $rss0 kB at start, $rss1 kB after $count keys of $file, $rss2 kB settled" >&2
    stop_server "$pid"
    python3 -c "
print('%.1f' % (($rss1 - $rss0) * 1024 / $count), end=' ')
print('%.1f' % (($rss2 - $rss0) * 1024 / $count) if $SETTLE > 0 else '-')"
}

ratio() { python3 -c "
try: print('%.2f' % (float('$1') / float('$2')))
except (ValueError, ZeroDivisionError): print('-')"; }

# row FILE COUNT LABEL: one table row, both servers; sets R_<FILE> and F_<FILE> (the
# 0.5 s readings)
row() {
    local file=$1 count=$2 label=$3 r f rs fs out
    [ "$count" -gt 0 ] || return 0
    out=$(load_one redis "$file.resp" "$count")
    read -r r rs <<<"$out"
    out=$(load_one ferrokv "$file.resp" "$count")
    read -r f fs <<<"$out"
    printf -v "R_$file" '%s' "$r"
    printf -v "F_$file" '%s' "$f"
    echo "| $label | $r | $f | $(ratio "$f" "$r") | $rs | $fs | $(ratio "$fs" "$rs") |"
}

echo
echo "| data | redis bytes | ferrokv bytes | ratio ferrokv/redis | redis settled | ferrokv settled | ratio settled |"
echo "|---|---:|---:|---:|---:|---:|---:|"
row strings "$STRINGS" "per string key ($STRINGS x 13 B key + 32 B value)"
row ttls "$TTLS" "per string key with a TTL ($TTLS x SET ... EX 100000)"
row hashes "$HASHES" "per hash ($HASHES x 10 fields of 7 B + 16 B)"
row hashes2 "$HASHES2" "per hash ($HASHES2 x 10 fields \`f0\`..\`f9\` + 8 B)"
row lists "$LISTS" "per list ($LISTS x 10 elements of 6 B, 11 B keys)"
row zsets "$ZSETS" "per sorted set ($ZSETS x 10 members of 8-9 B, scores 1..10)"
if [ "$STRINGS" -gt 0 ] && [ "$TTLS" -gt 0 ]; then
    extra() { python3 -c "print('%.1f' % (float('$1') - float('$2')))"; }
    echo
    echo "TTL costs (with-TTL row minus plain row, bytes per key): redis $(extra "$R_ttls" "$R_strings"), ferrokv $(extra "$F_ttls" "$F_strings")"
fi
