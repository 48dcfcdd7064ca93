#!/usr/bin/env bash
# THE test command: installs what is missing, builds, and runs every check.
#
#   scripts/test.sh            build + cargo tests (unit, integration, differential against a
#                              real redis-server, concurrency) + Python acceptance tests +
#                              Redis's own Tcl suite (scripts/redis-suite.sh: no failure
#                              beyond tests/redis-suite/known-failures.tsv) + clippy +
#                              rustfmt + fuzz target compile check
#   FUZZ=1 scripts/test.sh     ... plus a bounded cargo-fuzz run (FUZZ_SECONDS, default 60;
#                              installs cargo-fuzz, needs a nightly toolchain)
#
# Every step runs even when an earlier one failed; the summary at the end lists the failures
# and the exit status is non-zero if any step failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

log() { printf '\n=== %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# --- system packages -------------------------------------------------------------------------
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ command -v redis-cli >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1; } || need+=(redis-tools)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v tclsh8.6 >/dev/null 2>&1 || need+=(tcl)
# tests/python/test_sentinel.py runs three real sentinels
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# the TLS tests make their certificates and read raw replies with the openssl CLI
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    $SUDO apt-get update -q
    # RUNLEVEL=1: do not start the packaged redis service on port 6379
    $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q "${need[@]}"
fi
redis-server --version

# --- Python virtualenv -----------------------------------------------------------------------
if ! .venv/bin/python -c 'import redis, pytest, hotqueue, rq, celery, prometheus_client' >/dev/null 2>&1; then
    log "creating .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt
fi

# --- Node packages (tests/node: BullMQ, from the npm registry) -------------------------------
# The versions are pinned by tests/node/package-lock.json; node_modules is not committed.
if ! (cd tests/node && node -e 'require.resolve("bullmq")') >/dev/null 2>&1; then
    log "npm ci in tests/node"
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- steps -----------------------------------------------------------------------------------
passed=()
failed=()
# Each step's output is also kept in target/test-logs/STEP.log, so the summary can repeat why
# a failed step failed: CI shows only the end of the output.
STEP_LOGS=$ROOT/target/test-logs
mkdir -p "$STEP_LOGS"
step() {
    local name=$1 rc
    shift
    log "$name: $*"
    local start=$SECONDS
    "$@" 2>&1 | tee "$STEP_LOGS/$name.log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" = 0 ]; then
        passed+=("$name")
        echo "--- $name ok ($((SECONDS - start)) s)"
    else
        failed+=("$name")
        echo "--- $name FAILED ($((SECONDS - start)) s, exit $rc)"
    fi
}

# why_failed STEP: the lines of a failed step's log that say what failed, at most 25.
why_failed() {
    grep -a -E 'FAILED|panicked|^error|^failures:|^test .* \.\.\. FAILED|^redis-suite:|^  unit/|^  integration/|^E  |^FAILED |Error:' \
        "$STEP_LOGS/$1.log" | grep -v -E '^--- ' | tail -n 25
}

step build cargo build --release --workspace
step cargo-test timeout 1500 cargo test --workspace --no-fail-fast
pytest_run() {
    FERROKV_BIN="$ROOT/target/release/ferrokv-server" timeout 600 .venv/bin/pytest -q tests/python
    local rc=$?
    if [ $rc = 5 ]; then echo "pytest collected no tests"; fi
    return $rc
}
step pytest pytest_run
step redis-suite timeout 900 bash scripts/redis-suite.sh
step clippy cargo clippy --workspace --all-targets -- -D warnings
step rustfmt cargo fmt --all -- --check
step fuzz-build cargo check --quiet --manifest-path fuzz/Cargo.toml

if [ "${FUZZ:-0}" = 1 ]; then
    fuzz_run() {
        if ! rustup toolchain list | grep -q '^nightly'; then
            echo "FUZZ=1 needs a nightly toolchain (rustup toolchain install nightly)"
            return 1
        fi
        command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz || return 1
        mkdir -p fuzz/corpus/parse_request
        cargo +nightly fuzz run parse_request fuzz/corpus/parse_request fuzz/seeds/parse_request \
            -- -max_total_time="${FUZZ_SECONDS:-60}"
    }
    step fuzz fuzz_run
fi

log "summary"
for s in "${failed[@]+"${failed[@]}"}"; do
    echo "--- why $s failed (from $STEP_LOGS/$s.log):"
    why_failed "$s"
done
for s in "${passed[@]}"; do echo "ok      $s"; done
for s in "${failed[@]+"${failed[@]}"}"; do echo "FAILED  $s"; done
echo "test.sh steps: ${#passed[@]} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
