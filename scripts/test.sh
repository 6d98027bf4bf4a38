#!/usr/bin/env bash
# The project's test command: installs the test dependencies when missing, runs every test of
# the workspace (the end-to-end tests on the real Docker daemon included), then a newcomer's
# path on a fresh clone (scripts/fresh-clone.sh), and closes with one line counting them all.
#
# Two tiers: a plain `cargo test` is the fast tier (no daemon needed; the Docker tests are
# ignored there); this script is the full tier: the Docker tests included (`--include-ignored`)
# and the loader fuzz at its full count (PROPTEST_CASES=10000).
#
#   scripts/test.sh [TEST NAME FILTER...]    SKIP_FRESH_CLONE=1 leaves out the fresh clone
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# No prior build: the tests must find everything they need the way a user's command does.
PROPTEST_CASES=${PROPTEST_CASES:-10000} cargo test --workspace --all-targets --no-fail-fast -- --include-ignored "$@" 2>&1 | tee "$log" || status=$?
if [ "${SKIP_FRESH_CLONE:-}" != 1 ]; then
  # The dependencies built above are reused (copied), never our own crates: see the script.
  scripts/fresh-clone.sh --reuse-deps 2>&1 | tee -a "$log" || status=1
fi
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
passed=$((passed + $(grep -c '^ok: ' "$log" || true)))
failed=$((failed + $(grep -c '^FAILED: ' "$log" || true)))
echo "tests: $passed passed, $failed failed"
exit "$status"
