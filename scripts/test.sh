#!/usr/bin/env bash
# The project's test command: installs the test dependencies when missing, then runs every test
# of the workspace, including the end-to-end tests on the real Docker daemon, and closes with one
# line counting them all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
# The runner binary is mounted into containers by the end-to-end tests: build it first.
cargo build --workspace --quiet
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets "$@" 2>&1 | tee "$log" || status=$?
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
echo "tests: $passed passed, $failed failed"
exit "$status"
