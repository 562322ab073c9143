#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, checks
# formatting and lints, builds every binary and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# A private PostgreSQL for the catalogue's contract tests.
eval "export $(bash scripts/postgres-test.sh)"
echo "postgres for tests: ${XLGW_TEST_POSTGRES%%@*}@…"

export CARGO_TERM_COLOR=never
echo "== fmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== build"
cargo build --workspace --bins
export XLGW_CAMSIM="$PWD/target/debug/xlgw-camsim"
echo "== test"
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt
echo "== summary"
grep -E "^test result:" target/test-output.txt | awk '{p+=$4; f+=$6; i+=$8} END {print p " passed, " f " failed, " i " skipped"}'
