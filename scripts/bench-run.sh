#!/usr/bin/env bash
# Overhead benchmark of `engine run`: N trivial suites (`true`) on one provisioned image through
# `engine run -j J`, against the same N containers (the same runner command) started by a plain
# shell loop of `docker run --rm` with J in parallel. Prints both wall times and their ratio.
#
#   scripts/bench-run.sh [N] [J]        (default 40 suites, 4 in parallel; needs a Docker daemon)
set -euo pipefail
n=${1:-40}
j=${2:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build -q -p engine
engine=$root/target/debug/engine
# The runner the engine mounts (built into it; `engine doctor` says where it is written out).
runner=$("$engine" doctor 2>/dev/null | awk '$2 == "runner" {print $3}')
[ -x "$runner" ] || { echo "cannot find the engine's runner (engine doctor)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/local/. "$work/"
rm -rf "$work/.cache"
rm -rf "$work/.engine" "$work/suites"
sed -i "s#../../../docker/bootstrap/debian.sh#$root/docker/bootstrap/debian.sh#" "$work"/distros/*.toml
sed -i "s#root = \".cache/engine\"#root = \"$root/examples/local/.cache/engine\"#" "$work/matrix.toml"
sed -i "1i allow_host_paths = [\"$root/examples/local/.cache/engine\", \"$root/docker/bootstrap\"]" "$work/matrix.toml"
for i in $(seq -w 1 "$n"); do
  mkdir -p "$work/suites/s$i"
  printf 'distros = ["arch"]\nexecute = "true"\n' > "$work/suites/s$i/task.toml"
done

echo "preparing the provisioned arch image (engine build arch)..."
"$engine" -m "$work/matrix.toml" build arch >/dev/null 2>&1
image=$("$engine" -m "$work/matrix.toml" graph --json --status --distros arch | python3 -c '
import json,sys
for n in json.load(sys.stdin)["nodes"]:
    if n["kind"] == "provision": print("engine-provisioned/arch:" + n["cache_key"][:16])')

# The plain loop runs exactly what the engine runs in each container.
for i in $(seq -w 1 "$n"); do
  mkdir -p "$work/io/$i"
  printf '{"v":1,"name":"s%s","distro":"arch","workdir":"/workspace","environment":{},"timeout_secs":60,"prepare":null,"execute":"true","restore":null,"user":null}\n' "$i" > "$work/io/$i/suite.json"
done

now() { date +%s.%N; }
rounds=${ROUNDS:-3}
times=()
for _ in $(seq "$rounds"); do   # alternate the two sides so that drift hits both
  t0=$(now)
  "$engine" -m "$work/matrix.toml" run -j "$j" -q > /dev/null 2>&1 || { echo "engine run failed" >&2; exit 1; }
  t1=$(now)
  seq -w 1 "$n" | xargs -P "$j" -I{} docker run --rm --init \
    -v "$runner:/engine/bin/runner:ro" -v "$work/io/{}:/engine/io" -v "$work:/workspace:ro" \
    --entrypoint /engine/bin/runner "$image" suite --spec /engine/io/suite.json --events /engine/io/events.jsonl > /dev/null
  t2=$(now)
  times+=("$t0 $t1 $t2")
done
python3 - "$n" "$j" "${times[@]}" <<'PY'
import statistics, sys
n, j = int(sys.argv[1]), int(sys.argv[2])
rounds = [tuple(map(float, r.split())) for r in sys.argv[3:]]
e = statistics.median(t1 - t0 for t0, t1, _ in rounds)
p = statistics.median(t2 - t1 for _, t1, t2 in rounds)
print(f"{n} trivial suites, {j} in parallel, median of {len(rounds)}: engine run {e:.2f} s, docker run loop {p:.2f} s, ratio {e/p:.2f}x")
PY
