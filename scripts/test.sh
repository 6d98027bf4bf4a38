#!/usr/bin/env bash
# The project's test command: installs the test dependencies when missing, then runs every test
# of the workspace, including the end-to-end tests on the real Docker daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
# The runner binary is mounted into containers by the end-to-end tests: build it first.
cargo build --workspace --quiet
cargo test --workspace "$@"
