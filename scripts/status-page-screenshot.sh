#!/usr/bin/env bash
# Screenshot of the status page (GET / on the metrics port) in headless Chromium, saved as
# docs/status-page.png (or $1). Starts its own ferrokv on free loopback ports with a little
# data and traffic, then stops it. Installs Debian's `chromium` when it is missing (a large
# package: this script is run on demand, not in CI, where test_metrics.py parses the page).
#
#   scripts/status-page-screenshot.sh [out.png]
#   FERROKV_BIN=target/debug/ferrokv-server scripts/status-page-screenshot.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/docs/status-page.png}
BIN=${FERROKV_BIN:-$ROOT/target/release/ferrokv-server}
if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --release -q)
fi

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    SUDO=""
    [ "$(id -u)" != 0 ] && SUDO=sudo
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
    CHROMIUM=$(command -v chromium)
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
MPORT=$(free_port)
WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN" --port "$PORT" --metrics-port "$MPORT" --save "" --appendonly no --dir "$WORK" \
    >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
    redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done

# Some data and traffic so that every table has rows (the first page view starts the
# ops/sec sample, as a first INFO does).
python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1]).read()" "http://127.0.0.1:$MPORT/"
for i in $(seq 200); do echo "SET user:$i name-$i"; done | redis-cli -p "$PORT" >/dev/null
for i in $(seq 50); do echo "EXPIRE user:$i 3600"; done | redis-cli -p "$PORT" >/dev/null
for i in $(seq 30); do echo "HSET session:$i user $i seen $i"; done | redis-cli -n 1 -p "$PORT" >/dev/null
for i in $(seq 300); do echo "GET user:$((i % 250))"; done | redis-cli -p "$PORT" >/dev/null
for i in $(seq 40); do echo "LPUSH queue:jobs job-$i"; done | redis-cli -p "$PORT" >/dev/null
redis-cli -p "$PORT" INCR user:1 >/dev/null 2>&1 || true
redis-cli -p "$PORT" LPUSH user:2 x >/dev/null 2>&1 || true

mkdir -p "$(dirname "$OUT")"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1200,1250 --screenshot="$OUT" "http://127.0.0.1:$MPORT/" 2>/dev/null
echo "saved $OUT"
