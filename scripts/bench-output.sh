#!/usr/bin/env bash
# Output benchmark of `engine run`: suites on one look-alike that print a lot, measured with
# /usr/bin/time -v (the engine's peak memory) and checked for loss (the log holds every line and
# the last words; the run folder's size next to the output's).
#
#   scripts/bench-output.sh [MB...]     (default 200 400; needs a Docker daemon and the
#                                        look-alike images: run the Docker tier once first)
set -euo pipefail
sizes=("${@:-200}")
[ $# -gt 0 ] || sizes=(200 400)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build -q -p engine
engine=$root/target/debug/engine
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/local/. "$work/"
rm -rf "$work/.cache" "$work/.engine" "$work/suites"
sed -i "s#../../../docker/bootstrap/debian.sh#$root/docker/bootstrap/debian.sh#" "$work"/distros/*.toml
sed -i "s#root = \".cache/engine\"#root = \"$root/examples/local/.cache/engine\"#" "$work/matrix.toml"
sed -i "1i allow_host_paths = [\"$root/examples/local/.cache/engine\", \"$root/docker/bootstrap\"]" "$work/matrix.toml"

printf '%-8s %-10s %-12s %-14s %-12s %s\n' output seconds "peak RSS" "log bytes" "run folder" "last words"
for mb in "${sizes[@]}"; do
  rm -rf "$work/suites" "$work/.engine"
  mkdir -p "$work/suites/chatty"
  # Numbered filler lines, then the reason on stderr and a failure.
  cat > "$work/suites/chatty/task.toml" <<TOML
distros = ["arch"]
timeout = "20m"
execute = '''
seq 1 $((mb * 20000)) | sed 's/\$/ filler filler filler filler filler filler filler filler/' | head -c $((mb << 20))
echo
echo "FATAL: the real reason" >&2
exit 7
'''
TOML
  start=$(date +%s.%N)
  set +e
  /usr/bin/time -v -o "$work/time.txt" "$engine" run -q -m "$work/matrix.toml" >/dev/null 2>&1
  code=$?
  set -e
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  [ "$code" = 1 ] || { echo "unexpected exit $code" >&2; exit 1; }
  peak=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time.txt")
  run=$(readlink -f "$work/.engine/runs/latest")
  log=$run/logs/suite_arch_chatty.log
  last=$(grep -c "FATAL: the real reason" "$log" || true)
  tail_ok=$(grep -c "FATAL: the real reason" "$run/report.json" || true)
  printf '%-8s %-10.1f %-12s %-14s %-12s %s\n' "${mb}MB" "$secs" "$((peak / 1024)) MiB" \
    "$(stat -c %s "$log")" "$(du -sb "$run" | cut -f1)" "log:$last tail:$tail_ok"
done
