#!/usr/bin/env bash
# Scale benchmark of the plan: a synthetic matrix of D distros x S suites (default 100 x 1000,
# i.e. 100,000 suite nodes), timed through `engine validate` and `engine graph --json` (load,
# schema and semantic checks, plan with cache keys, JSON of every node). Prints wall time and
# peak memory of each, over RUNS runs (median).
#
#   scripts/bench-plan.sh [DISTROS] [SUITES]      ENGINE=path/to/engine RUNS=5
set -euo pipefail
distros=${1:-100}
suites=${2:-1000}
runs=${RUNS:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
engine=${ENGINE:-$root/target/debug/engine}
[ -x "$engine" ] || (cd "$root" && cargo build -q -p engine)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/distros" "$work/suites" "$work/docker"
printf 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n' > "$work/docker/Dockerfile"
cat > "$work/matrix.toml" <<TOML
distros = "distros/*.toml"
suites = "suites/*"
[engine]
concurrency = 8
[caches.mounts]
pacman = { source = "pacman/{distro}", target = "/var/cache/pacman" }
[provision]
users = ["builder"]
steps = [{ name = "build", run = "true" }]
TOML
for d in $(seq -w 1 "$distros"); do
  printf 'base_image = "distro%s:latest"\nlocales = ["en_US.UTF-8", "de_DE.UTF-8"]\n' "$d" > "$work/distros/d$d.toml"
done
for s in $(seq -w 1 "$suites"); do
  mkdir "$work/suites/s$s"
  if [ $((10#$s % 10)) -eq 0 ]; then req='requires = { locales = ["de_DE.UTF-8"] }'; else req=''; fi
  printf 'summary = "suite %s"\ntimeout = "5m"\n%s\nexecute = "true"\n' "$s" "$req" > "$work/suites/s$s/task.toml"
done

measure() { # name, args...
  local name=$1; shift
  local times=() mems=()
  for _ in $(seq "$runs"); do
    local out
    out=$( { /usr/bin/time -f '%e %M' "$engine" -m "$work/matrix.toml" "$@" > /dev/null; } 2>&1 | tail -1)
    times+=("${out% *}"); mems+=("${out#* }")
  done
  local t m
  t=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  m=$(printf '%s\n' "${mems[@]}" | sort -n | tail -1)
  printf '%-22s median %6.3f s   peak %6d MB\n' "$name" "$t" "$((m / 1024))"
}

echo "matrix: $distros distros x $suites suites ($((distros * suites)) suite nodes), engine: $engine"
measure "validate" validate
measure "graph --json" graph --json
nodes=$("$engine" -m "$work/matrix.toml" graph --json | grep -c '"id"')
echo "graph --json nodes: $nodes"
