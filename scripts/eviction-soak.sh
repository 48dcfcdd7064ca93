#!/usr/bin/env bash
# eviction-soak.sh: the long maxmemory eviction soak, on demand (not in CI).
# Starts ferrokv (release) and then redis-server with the same settings, and runs
# tests/eviction.rs's soak_external against each: for every policy that evicts, writes of
# random sizes for SOAK_SECS seconds (at least 10x maxmemory), VmRSS sampled throughout,
# then the policy's choice checked. Prints one SOAK line per policy and server, with the
# max RSS / maxmemory ratio of each server.
#   SOAK_MAXMEMORY [268435456]  SOAK_SECS [43] per policy (7 policies: ~5 min per server)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
MAXMEM=${SOAK_MAXMEMORY:-268435456}
SECS=${SOAK_SECS:-43}
cargo build --release -p ferrokv >/dev/null
cargo test --release -p ferrokv --test eviction --no-run >/dev/null 2>&1
run_one() { # name port command...
  local name=$1 port=$2; shift 2
  "$@" >"/tmp/eviction-soak-$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  SOAK_PORT=$port SOAK_PID=$pid SOAK_MAXMEMORY=$MAXMEM SOAK_SECS=$SECS SOAK_NAME=$name \
    cargo test --release -p ferrokv --test eviction -- --ignored soak_external --nocapture \
    2>&1 | grep '^SOAK' || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
run_one ferrokv 7791 target/release/ferrokv-server --port 7791 --save "" --appendonly no
run_one redis 7792 redis-server --port 7792 --bind 127.0.0.1 --save "" --appendonly no
