#!/bin/bash
# "Builds" the stand-in product and installs it as /usr/local/bin/oxidizr-arch.
# Runs at provision (as root, in the container), reading the sources from the
# bind-mounted workspace and writing the build output outside of it.
set -euo pipefail

src="$(cd "$(dirname "$0")" && pwd)"
out="${OXIDIZR_BUILD_DIR:-/tmp/oxidizr-arch-build}"
version="$(cat "$src/VERSION")"

mkdir -p "$out"
sed "s/@VERSION@/$version/g" "$src/src/oxidizr-arch.sh" >"$out/oxidizr-arch"
# The compile step of a shell program: a syntax check that fails the build.
bash -n "$out/oxidizr-arch"
install -Dm755 "$out/oxidizr-arch" /usr/local/bin/oxidizr-arch
/usr/local/bin/oxidizr-arch --version
