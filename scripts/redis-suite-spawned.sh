#!/usr/bin/env bash
# Redis's Tcl suite in its own mode, where the test framework starts the server itself
# (with tests/assets/default.conf and per-test overrides): units tagged `external:skip`,
# such as unit/acl and unit/acl-v2, only run this way. scripts/redis-suite.sh runs the
# external mode used in CI; this script is run on demand.
#
#   scripts/redis-suite-spawned.sh                    unit/acl unit/acl-v2 integration/failover
#   KEEP_WORK=1 RUNTEST_ARGS=--dont-clean scripts/redis-suite-spawned.sh ...   keep the servers' logs
#   scripts/redis-suite-spawned.sh unit/acl unit/auth
#
# It copies the unpacked suite (the one scripts/redis-suite.sh uses, from ../shared) to a
# temporary folder, puts a `src/redis-server` there that announces its PID the way the
# framework waits for and runs target/release/ferrokv-server, and drops the one line of
# default.conf that ferrokv does not know (propagation-error-behavior). Prints, per unit, the
# counts of [ok] / [err] / [exception] lines; logs in $LOG_DIR (default
# target/redis-suite-spawned/).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
BIN=$ROOT/target/release/ferrokv-server
LOG_DIR=${LOG_DIR:-$ROOT/target/redis-suite-spawned}
SRC=${REDIS_SRC:-$HOME/.cache/ferrokv/redis-7.0.15}
UNITS=("$@")
[ ${#UNITS[@]} -eq 0 ] && UNITS=(unit/acl unit/acl-v2 integration/failover)

fail() { echo "redis-suite-spawned: $*" >&2; exit 2; }
[ -x "$BIN" ] || fail "no $BIN: run cargo build --release first"
[ -f "$SRC/runtest" ] || fail "no suite at $SRC: run scripts/redis-suite.sh once (it unpacks it)"
command -v redis-cli >/dev/null || fail "redis-cli is needed"

work=$(mktemp -d "${TMPDIR:-/tmp}/ferrokv-spawned.XXXXXX")
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
cp -r "$SRC/." "$work/"
mkdir -p "$work/src" "$LOG_DIR"
cat > "$work/src/redis-server" <<EOF
#!/bin/sh
# The framework waits for " PID: <pid>" in the server's output.
echo " PID: \$\$"
exec "$BIN" "\$@"
EOF
chmod +x "$work/src/redis-server"
for tool in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
  p=$(command -v "$tool") && cp "$p" "$work/src/$tool"
done
sed -i '/^propagation-error-behavior/d' "$work/tests/assets/default.conf"

status=0
for unit in "${UNITS[@]}"; do
  log="$LOG_DIR/${unit//\//_}.log"
  (cd "$work" && timeout 900 ./runtest --single "$unit" --clients 1 --timeout 120 ${RUNTEST_ARGS:-} >"$log" 2>&1)
  plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
  ok=$(grep -c '^\[ok\]' <<<"$plain")
  err=$(grep -c '^\[err\]' <<<"$plain")
  exc=$(grep -c '^\[exception\]' <<<"$plain")
  printf '%-24s ok=%-4s err=%-4s exception=%s\n' "$unit" "$ok" "$err" "$exc"
  [ "$err" = 0 ] && [ "$exc" = 0 ] || status=1
done
exit $status
