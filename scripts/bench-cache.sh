#!/usr/bin/env bash
# Cache benchmark: `engine run` of examples/local (in a copy) right after editing one suite
# file, against a warm run with no edit. The image keys cover only what the Dockerfile can read,
# so the edit must cause no image or provision work: the two times should be about equal. Prints
# both medians and their ratio, and fails if the edited run rebuilt anything.
#
#   scripts/bench-cache.sh              (needs a Docker daemon; ROUNDS=3 by default)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build -q -p engine
engine=$root/target/debug/engine

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/local/. "$work/"
rm -rf "$work/.cache" "$work/.engine"
sed -i "s#../../../docker/bootstrap/debian.sh#$root/docker/bootstrap/debian.sh#" "$work"/distros/*.toml
sed -i "s#root = \".cache/engine\"#root = \"$root/examples/local/.cache/engine\"#" "$work/matrix.toml"
sed -i "1i allow_host_paths = [\"$root/examples/local/.cache/engine\", \"$root/docker/bootstrap\"]" "$work/matrix.toml"

echo "preparing the images (engine build)..."
"$engine" -m "$work/matrix.toml" build >/dev/null 2>&1
suite=$(find "$work/suites" -name 'task.*' | sort | head -n 1)

now() { date +%s.%N; }
made_again() {   # base/image/provision nodes of the last run that were not reused
  python3 - "$work/.engine/runs/latest/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(" ".join(n["id"] for n in r["nodes"] if n["kind"] != "suite" and n["status"] != "cached"))
PY
}
rounds=${ROUNDS:-3}
times=()
for i in $(seq "$rounds"); do   # alternate the two sides so that drift hits both
  t0=$(now)
  "$engine" -m "$work/matrix.toml" run -q >/dev/null 2>&1 || true   # the example has failing suites
  t1=$(now)
  printf '\n# edit %s\n' "$i" >> "$suite"
  "$engine" -m "$work/matrix.toml" run -q >/dev/null 2>&1 || true
  t2=$(now)
  again=$(made_again)
  [ -z "$again" ] || { echo "the run after a suite edit made these again: $again" >&2; exit 1; }
  times+=("$t0 $t1 $t2")
done
python3 - "${times[@]}" <<'PY'
import statistics, sys
rounds = [tuple(map(float, r.split())) for r in sys.argv[1:]]
warm = statistics.median(t1 - t0 for t0, t1, _ in rounds)
edit = statistics.median(t2 - t1 for _, t1, t2 in rounds)
print(f"examples/local, median of {len(rounds)}: warm run {warm:.2f} s, after a suite edit {edit:.2f} s, ratio {edit/warm:.2f}x (no image or provision made again)")
PY
