#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine, only when missing: graphviz (the DOT
# test), debootstrap (the offline base image), busybox-static (the Docker backend's tiny test
# image and the no-libc test), libxml2-utils (xmllint), file (the static runner check),
# docker-registry (the reference registry the registry tests start on a port of their own; a
# service the package may start on :5000 is not used), apache2-utils (`htpasswd -B` for its
# login), shellcheck (`engine validate --lint`), btrfs-progs (a second daemon on btrfs with
# quotas, for `[container] disk`), socat (the daemon over TCP on loopback), chromium (the HTML report, headless), podman (a
# second engine behind the same API; uidmap, slirp4netns, rootlesskit and the user
# engine-rootless with subordinate ID ranges for rootless Podman and Docker), python3 junitparser (JUnit read-back), check-jsonschema and
# pyyaml (the CI exports). The
# runner's static target is added by the engine's build.
set -euo pipefail
need=()
command -v dot >/dev/null || need+=(graphviz)
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v xmllint >/dev/null || need+=(libxml2-utils)
[ -x /usr/bin/time ] || need+=(time)
command -v file >/dev/null || need+=(file)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v mkfs.btrfs >/dev/null || need+=(btrfs-progs)
command -v socat >/dev/null || need+=(socat)
command -v chromium >/dev/null || need+=(chromium)
command -v podman >/dev/null || need+=(podman)
[ -x /usr/bin/catatonit ] || need+=(catatonit)
# Rootless Podman: newuidmap/newgidmap and user-mode networking for builds.
[ -x /usr/bin/newuidmap ] || need+=(uidmap)
command -v slirp4netns >/dev/null || need+=(slirp4netns)
# Rootless Docker: Debian's docker.io ships dockerd-rootless.sh, which runs under rootlesskit.
command -v rootlesskit >/dev/null || need+=(rootlesskit)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need[*]}; install them (as root): apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
# The rootless Podman test runs Podman and the engine as this user, which needs subordinate
# UID and GID ranges (useradd gives them from /etc/login.defs; usermod when it did not).
readonly ROOTLESS_USER=engine-rootless
if [ "$(id -u)" -eq 0 ]; then
  id "$ROOTLESS_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$ROOTLESS_USER"
  for f in /etc/subuid /etc/subgid; do
    if ! grep -q "^$ROOTLESS_USER:" "$f" 2>/dev/null; then
      usermod --add-subuids 100000-165535 --add-subgids 100000-165535 "$ROOTLESS_USER"
      break
    fi
  done
fi
if ! python3 -c 'import junitparser' 2>/dev/null; then
  python3 -m pip install -q junitparser >/dev/null 2>&1 || echo "warning: could not install junitparser" >&2
fi
# The CI exports' checks: GitHub's and GitLab's workflow schemas (vendored by check-jsonschema),
# and an independent YAML reader.
if ! command -v check-jsonschema >/dev/null; then
  python3 -m pip install -q check-jsonschema >/dev/null 2>&1 || echo "warning: could not install check-jsonschema" >&2
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
  python3 -m pip install -q pyyaml >/dev/null 2>&1 || echo "warning: could not install pyyaml" >&2
fi
