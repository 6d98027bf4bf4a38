#!/usr/bin/env bash
# The seed's own suites (examples/seed), cold and warm: how long `engine run` takes on this
# machine the first time and the next time. Prints both times and the grid's summary line.
#
#   cold: a new, empty engine cache (ENGINE_CACHE_DIR: no Debian rootfs, no seed rootfs with its
#         product and sudo-rs builds, no unpacked fixture, no runner), the example's images and
#         cache folders removed. Cargo's own download cache (~/.cargo/registry) is kept: the
#         crates are fetched once per machine.
#   warm: the same command again; every image and provision is reused.
#
#   scripts/bench-seed.sh            (needs root, a Docker daemon, ../shared/fixtures/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build -q -p engine
engine=$root/target/debug/engine
matrix=examples/seed/matrix.toml

cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export ENGINE_CACHE_DIR=$cache
"$engine" clean --images -m "$matrix" >/dev/null
rm -rf examples/seed/.cache

now() { date +%s.%N; }
run() {   # prints the seconds taken; the example has failing suites (exit 1), never INFRA (3)
  local t0 t1 code=0
  t0=$(now)
  "$engine" run -q -m "$matrix" >"$cache/out" 2>&1 || code=$?
  t1=$(now)
  if [ "$code" != 1 ]; then
    echo "engine run exited $code, not 1:" >&2
    tail -n 40 "$cache/out" >&2
    exit 1
  fi
  echo "$t1 - $t0" | bc
}
cold=$(run)
summary=$(grep '^suites:' "$cache/out")
warm=$(run)
made=$(python3 - "$root/examples/seed/.engine/runs/latest/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(" ".join(n["id"] for n in r["nodes"] if n["kind"] != "suite" and n["status"] != "cached"))
PY
)
[ -z "$made" ] || { echo "the warm run made again: $made" >&2; exit 1; }
printf 'examples/seed cold: %.0f s\nexamples/seed warm: %.1f s (%.3fx of cold)\n%s\n' \
  "$cold" "$warm" "$(echo "$warm / $cold" | bc -l)" "$summary"
