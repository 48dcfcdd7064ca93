#!/usr/bin/env bash
# Redis's own Tcl suite over TLS (runtest --tls) against the release binary, on demand:
# the suite's client then speaks only TLS to ferrokv's `tls-port`, so every command, reply
# and push of the unit goes through the TLS stream.
#
#   scripts/redis-suite-tls.sh                      unit/type/string unit/pubsub
#   scripts/redis-suite-tls.sh unit/tracking ...    these units
#
# Certificates: made as Redis's utils/gen-test-certs.sh makes them (that script of the
# unpacked suite is run, into its tests/tls/, where runtest --tls looks for them).
# Needs tclsh with the tls package (Debian: tcl-tls; installed here if missing) and openssl.
# Prints one line per unit: passed/failed, and the plain (non-TLS) run's counts are in
# target/redis-suite/ for comparison. Logs: target/redis-suite-tls/<unit>.log.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
BIN=$ROOT/target/release/ferrokv-server
REDIS_SRC=${REDIS_SRC:-$HOME/.cache/ferrokv/redis-7.0.15}
LOG_DIR=${LOG_DIR:-$ROOT/target/redis-suite-tls}
PORT=${PORT:-7741}
UNITS=(unit/type/string unit/pubsub)
[ $# -gt 0 ] && UNITS=("$@")

fail() { echo "redis-suite-tls: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "no $BIN: run cargo build --release first"
if [ ! -f "$REDIS_SRC/runtest" ]; then
  # The plain runner unpacks the suite on first use.
  bash "$ROOT/scripts/redis-suite.sh" unit/info >/dev/null 2>&1 || true
fi
[ -f "$REDIS_SRC/runtest" ] || fail "no Redis suite at $REDIS_SRC"
if ! echo 'package require tls' | tclsh >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  { $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q tcl-tls; } >/dev/null \
    || fail "tclsh has no tls package and apt-get install tcl-tls failed"
fi
if [ ! -f "$REDIS_SRC/tests/tls/client.crt" ]; then
  (cd "$REDIS_SRC" && bash utils/gen-test-certs.sh) >/dev/null 2>&1 || fail "making the test certificates failed"
fi
TLS=$REDIS_SRC/tests/tls
mkdir -p "$LOG_DIR"
status=0
for unit in "${UNITS[@]}"; do
  stem=$(printf '%s' "$unit" | tr '/' '_')
  log=$LOG_DIR/$stem.log
  dir=$(mktemp -d)
  (cd "$dir" && exec "$BIN" --port 0 --tls-port "$PORT" --tls-cert-file "$TLS/server.crt" \
    --tls-key-file "$TLS/server.key" --tls-ca-cert-file "$TLS/ca.crt" --save "" \
    --appendonly no --enable-debug-command yes) >"$LOG_DIR/$stem.server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    redis-cli --tls --cacert "$TLS/ca.crt" --cert "$TLS/client.crt" --key "$TLS/client.key" \
      -p "$PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  (cd "$REDIS_SRC" && TERM=dumb timeout -k 10 600 ./runtest --host 127.0.0.1 --port "$PORT" \
    --tls --tags -slow --durable --timeout 120 --single "$unit" \
    --skiptest "redis-server command line arguments - error cases") </dev/null >"$log" 2>&1
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  rm -rf "$dir"
  passed=$(grep -c '^\[ok\]: ' "$log")
  failed=$(grep -c '^\[err\]: ' "$log")
  ended=$(grep -q 'All tests passed\|tests failed' "$log" && echo ran || echo aborted)
  printf '%-28s passed %4d failed %3d %s\n' "$unit" "$passed" "$failed" "$ended"
  [ "$failed" = 0 ] && [ "$ended" = ran ] || status=1
done
exit $status
