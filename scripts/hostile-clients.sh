#!/usr/bin/env bash
# The hostile-client test, bigger than in CI, with redis-server measured beside ferrokv:
# CONNS idle connections (each sent one PING), ATTACKERS clients that pipeline 3000 GETs
# of a 100 KB value and never read (closed at `client-output-buffer-limit normal 8mb 2mb
# 1`), and a normal client whose PING round trip is timed meanwhile. Prints the RSS per
# idle connection of both servers, the RSS under attack and the worst PING.
#
#   scripts/hostile-clients.sh                  20000 connections, 16 attackers
#   CONNS=50000 ATTACKERS=32 scripts/hostile-clients.sh
#
# The open-files limit of this shell bounds CONNS (the test uses what it may and says so);
# raise it first with `ulimit -n` where the hard limit allows. CI runs the same test with
# 10,000 connections and 4 attackers (crates/ferrokv/tests/client_limits.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FERROKV_HOSTILE_CONNS=${CONNS:-20000} \
FERROKV_HOSTILE_ATTACKERS=${ATTACKERS:-16} \
FERROKV_HOSTILE_REDIS=1 \
    cargo test --release -p ferrokv --test client_limits hostile_clients -- --nocapture
