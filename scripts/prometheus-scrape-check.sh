#!/usr/bin/env bash
# End-to-end check of the metrics endpoint with a real Prometheus (Debian's `prometheus`
# package, installed when missing; run on demand, not in CI, where test_metrics.py parses
# /metrics with prometheus_client). Starts ferrokv and Prometheus on free loopback ports,
# lets Prometheus scrape every second, then asks its API whether the target is healthy and
# the series are there. Also runs `promtool check metrics`: its only complaints should be
# about names kept as redis_exporter spells them (`_sec`, `_ms`, `_usec` units, the
# `quantile` gauge), which the script prints but does not count as failures.
#
#   scripts/prometheus-scrape-check.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${FERROKV_BIN:-$ROOT/target/release/ferrokv-server}
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release -q)
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    SUDO=""
    [ "$(id -u)" != 0 ] && SUDO=sudo
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends prometheus
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
MPORT=$(free_port)
PPORT=$(free_port)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" --port "$PORT" --metrics-port "$MPORT" --save "" --appendonly no --dir "$WORK" \
    >"$WORK/ferrokv.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
for i in $(seq 100); do echo "SET k:$i v"; done | redis-cli -p "$PORT" >/dev/null

get() { python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$1"; }

echo "--- promtool check metrics (lint of names; parse errors fail the script)"
get "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt" >"$WORK/lint.txt" 2>&1 || true
cat "$WORK/lint.txt"
if grep -v -E 'abbreviated units|should not have "quantile" label|should not have "_total" suffix' \
    "$WORK/lint.txt" | grep -q .; then
    echo "FAILED: promtool reported more than naming lints"
    exit 1
fi

cat >"$WORK/prometheus.yml" <<EOF
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: ferrokv
    static_configs: [{ targets: ["127.0.0.1:$MPORT"] }]
EOF
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
    --web.listen-address="127.0.0.1:$PPORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)

query() {
    python3 - "$PPORT" "$1" <<'EOF'
import json, sys, urllib.parse, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]})
try:
    print(len(json.load(urllib.request.urlopen(url))["data"]["result"]))
except Exception:
    print(0)
EOF
}

echo "--- Prometheus scrapes it"
ok=0
for _ in $(seq 60); do
    if [ "$(query 'up{job="ferrokv"} == 1')" = 1 ] && [ "$(query 'redis_db_keys{db="db0"} == 100')" = 1 ]; then
        ok=1
        break
    fi
    sleep 0.5
done
[ $ok = 1 ] || { echo "FAILED: Prometheus did not ingest the endpoint"; tail -20 "$WORK/prometheus.log"; exit 1; }
for q in redis_up redis_memory_used_bytes 'redis_commands_total{cmd="set"}' redis_commands_latencies_usec_bucket; do
    n=$(query "$q")
    echo "$q: $n series"
    [ "$n" -gt 0 ] || { echo "FAILED: no $q"; exit 1; }
done
echo "prometheus-scrape-check: ok"
