#!/usr/bin/env bash
# A newcomer's first steps, checked as they would take them:
#   1. clone the repository (its last commit) into an empty folder;
#   2. run the README's main command exactly as written there, with an empty target/;
#      its verdict grid and exit code must be the ones the README shows;
#   3. `cargo install --path engine --root <tmp>`, delete the clone's target/, and run the
#      installed engine on the local example from a clean environment (no ENGINE_RUNNER, a new
#      HOME): the same grid and exit code; the runner it mounts is statically linked.
# Prints one `ok:` or `FAILED:` line per check and a closing count; exits 1 when one failed.
#
#   scripts/fresh-clone.sh [--release] [--reuse-deps]
#     --release     `cargo install` in release (default: --debug, which reuses the clone's dev
#                   build instead of a second cold build)
#     --reuse-deps  the clone's target/ starts with a copy of the third-party crates this
#                   checkout's target/ has built, and nothing of the workspace's own crates:
#                   no engine, no runner, no build-script output. The README's command still
#                   builds everything of ours from nothing (what a missing build step would
#                   break); only the ~8 minutes of dependencies are not paid twice. scripts/test.sh
#                   uses it; without it the clone's target/ is empty.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
profile=(--debug)
reuse_deps=0
for a in "$@"; do
  case "$a" in
  --release) profile=() ;;
  --reuse-deps) reuse_deps=1 ;;
  *) echo "usage: $0 [--release] [--reuse-deps]" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }
finish() {
  echo "fresh clone: $passed passed, $failed failed"
  exit $((failed > 0))
}

git clone -q "$repo" "$work/clone"
cd "$work/clone"
[ ! -e target ] || { bad "the clone has a target/ folder"; finish; }
if [ "$reuse_deps" = 1 ] && [ -d "$repo/target/debug/deps" ]; then
  mkdir -p target
  # A copy, not hard links: cargo rewrites some files in place (a build script's `output`),
  # which through a shared inode would change this checkout's own build.
  cp -a "$repo/target/debug" target/debug
  # Everything of the workspace's own crates goes: binaries, libraries, test binaries, build
  # scripts and their output (the embedded runner), fingerprints, incremental state.
  (cd target/debug && rm -rf engine engine.d runner runner.d libengine.* librunner.* examples incremental \
    deps/engine-* deps/libengine-* deps/runner-* deps/librunner-* deps/cli-* deps/docker-* \
    build/engine-* build/runner-* .fingerprint/engine-* .fingerprint/runner-* \
    .fingerprint/cli-* .fingerprint/docker-*)
  left=$(find target -type f \( -name 'runner' -o -name 'runner-*' -o -name 'engine' -o -name 'engine-*' \) -perm -u+x | head -n 3)
  if [ -n "$left" ]; then bad "the reused target/ still holds our binaries: $left"; finish; fi
  echo "target/ starts with a copy of the dependencies in $repo/target, none of our crates"
fi

# The README's main command: in the first code block, the line marked `# the main job`.
cmd=$(awk '/^```/ { inblock = !inblock; next } inblock && /# the main job/ { sub(/[ \t]+#.*$/, ""); print; exit }' README.md)
# The grid the README shows: the code block after the one holding the main command.
grid=$(awk '/^```/ { n++; next } n == 3 { print }' README.md | sed 's/[ \t]*$//')
want_exit=$(grep -Eo 'it exits [0-9]+' README.md | head -n 1 | grep -Eo '[0-9]+$')
if [ -z "$cmd" ] || [ -z "$grid" ] || [ -z "$want_exit" ]; then
  bad "cannot read the main command, its grid or its exit code from README.md"
  finish
fi
echo "README's main command: $cmd (expects exit $want_exit)"

# Every line of the README's grid, in order, in what the command printed.
has_grid() {
  local out=$1
  python3 - "$out" "$grid" <<'EOF'
import sys
out = [l.rstrip() for l in open(sys.argv[1], encoding="utf-8", errors="replace")]
want = [l.rstrip() for l in sys.argv[2].splitlines() if l.strip()]
at = 0
for line in out:
    if at < len(want) and line == want[at]:
        at += 1
sys.exit(0 if at == len(want) else 1)
EOF
}

# Runs the rest of the arguments (output in $work/NAME.out and .err) and checks the README's
# exit code and grid; WHAT names the run in the verdicts.
check_run() {
  local name=$1 what=$2 code
  shift 2
  set +e
  "$@" >"$work/$name.out" 2>"$work/$name.err"
  code=$?
  set -e
  if [ "$code" -eq "$want_exit" ]; then ok "$what exits $code"; else
    bad "$what exited $code, not $want_exit"
    tail -n 30 "$work/$name.err"
  fi
  if has_grid "$work/$name.out"; then ok "$what prints the README's grid"; else
    bad "$what's grid differs from the README's"
    cat "$work/$name.out"
  fi
}

start=$(date +%s)
check_run main "the main command" bash -c "$cmd"
echo "  took $(($(date +%s) - start)) s (cold build included)"

# cargo install from the clone, then run the installed engine with no workspace around it.
start=$(date +%s)
if CARGO_TARGET_DIR="$work/clone/target" cargo install -q "${profile[@]}" --path engine --root "$work/inst" 2>"$work/install.err"; then
  ok "cargo install --path engine ($(($(date +%s) - start)) s)"
else
  bad "cargo install --path engine"
  tail -n 30 "$work/install.err"
  finish
fi
rm -rf "$work/clone/target"
mkdir -p "$work/home"
clean_env=(env -i "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" "HOME=$work/home")
[ -n "${DOCKER_HOST:-}" ] && clean_env+=("DOCKER_HOST=$DOCKER_HOST")
check_run inst "the installed engine" "${clean_env[@]}" "$work/inst/bin/engine" run -m examples/local/matrix.toml
runner=$("${clean_env[@]}" "$work/inst/bin/engine" doctor -m examples/local/matrix.toml | awk '$2 == "runner" { print $3 }')
case "$runner" in
"$work/home/.cache/engine/runner/"*) ok "the installed engine wrote its runner to the user's cache" ;;
*) bad "the installed engine's runner is at '$runner', not in the new HOME's cache" ;;
esac
if [ -n "$runner" ] && file "$runner" | grep -Eq 'statically linked|static-pie linked'; then
  ok "the runner is statically linked: $(file -b "$runner" | cut -d, -f1-2)"
else
  bad "the runner is not statically linked: $(file -b "$runner" 2>&1)"
fi
"${clean_env[@]}" "$work/inst/bin/engine" --version | grep -q 'runner .*static' &&
  ok "engine --version names its runner" || bad "engine --version does not name a static runner"
finish
