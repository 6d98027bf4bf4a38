#!/usr/bin/env bash
# Builds the rootfs of the offline "pacman-based Arch look-alike" for the seed project
# (oxidizr-arch), for a distro's `base_rootfs = { script = ..., args = [...] }` in the engine.
# It is the one heavy step, done once per machine and shared by the four look-alikes; the
# Dockerfile beside it only dresses the result up as one distro.
#
# Contract with the engine (the same as docker/bootstrap/debian.sh at the repository root):
#   cwd                the folder of this script (the engine runs a rootfs script there)
#   ENGINE_ROOTFS_OUT  absolute path of the tar to write (optional when run by hand)
#   ENGINE_CACHE_DIR   persistent cache folder (default: $HOME/.cache/engine)
# The last line on stdout is the path of the tar; everything else goes to stderr. Needs root
# (debootstrap, chroot, mounts), cargo on PATH or in ~/.cargo/bin, and the crate registry.
#
# What it does:
#   1. a Debian minbase rootfs from ../../../docker/bootstrap/debian.sh, with the real
#      pacman (pacman-package-manager), makepkg, bsdtar, fakeroot, binutils and rust-coreutils;
#   2. on the host, with cargo: the product from the fixture (cargo build --release --locked)
#      and sudo-rs from the crate registry (cargo install --locked), both cached;
#   3. in the rootfs, through chroot and the REAL makepkg run as `nobody` (makepkg refuses
#      root), a pacman sync repository `extra` at /srv/repo/extra (repo-add) with:
#        uutils-coreutils  Debian's uutils 0.0.17 in the layout the product expects on ID=arch:
#                          /usr/bin/coreutils (multicall), /usr/lib/uutils/coreutils/<applet>
#                          (rust-coreutils is then purged from dpkg: /usr/bin/coreutils must
#                          not exist before the package is installed)
#        sudo-rs           /usr/bin/sudo-rs, su-rs (setuid root), visudo-rs
#        oxidizr-arch      /usr/bin/oxidizr-arch (installed at provision: pacman -S oxidizr-arch)
#        stubs             file-less packages standing for what the Debian userland provides,
#                          with Debian's versions: glibc bash coreutils findutils sudo which
#                          pacman git curl base-devel glibc-locales, plus rustup and reflector
#                          (reflector holds a no-op /usr/bin/reflector)
#      uutils-findutils is NOT in `extra`: it is in the local AUR (the Dockerfile's
#      /srv/aur/uutils-findutils.git), so that the product's fallback to the AUR helper runs;
#   4. /etc/pacman.conf with [extra] Server = file:///srv/repo/extra and SigLevel = Never,
#      /etc/makepkg.conf with Arch's PKGEXT (.pkg.tar.zst), CHOST and INTEGRITY_CHECK.
#
# Arguments:
#   --fixture PATH   the seed's source archive (oxidizr-arch-<commit>.tar.gz, with one top
#                    folder holding Cargo.toml and Cargo.lock). A relative PATH is relative to
#                    the working folder, which is this script's folder when the engine runs it:
#                    from a distro file in examples/seed/distros/, write
#                    args = ["--fixture", "../../../../shared/fixtures/oxidizr-arch-d9480f9.tar.gz"]
#                    (or an absolute path).
#   --refresh        rebuild the rootfs even when a cached tar exists (the cargo builds stay)
#
# Cache ($ENGINE_CACHE_DIR/seed-lookalike/): the unpacked fixture and its cargo target dir,
# the sudo-rs install root, and the rootfs tar, keyed by a hash of this script, the Debian
# rootfs tar (whose name is debian.sh's own key), the fixture's sha256, the sudo-rs version and
# rustc's version: a second call with the same inputs is a hardlink.
set -euo pipefail

readonly PROG="${0##*/}"
readonly SUDO_RS_VERSION="0.2.15" # rust-version 1.85; builds with the machine's rustc
# On top of debian.sh's defaults (locales sudo git ca-certificates procps xz-utils zstd less):
#   pacman-package-manager  pacman, repo-add (6.0.2)
#   makepkg                 makepkg (pulls fakeroot, debugedit, patch, pkgconf, texinfo)
#   libarchive-tools        bsdtar, which makepkg and repo-add use
#   fakeroot, zstd          package() as non-root; .pkg.tar.zst
#   binutils                strip, which makepkg's default OPTIONS=(strip ...) requires
#   rust-coreutils          uutils 0.0.17: repackaged as uutils-coreutils, then purged
#   curl                    makepkg's DLAGENTS; the `curl` stub stands for it
readonly EXTRA_PACKAGES="pacman-package-manager,makepkg,libarchive-tools,fakeroot,zstd,binutils,rust-coreutils,curl"
# Stubs: NAME:DEBIAN_PACKAGE (the Debian package whose version it takes; "-" for none).
readonly STUBS="glibc:libc6 bash:bash coreutils:coreutils findutils:findutils sudo:sudo which:debianutils pacman:pacman-package-manager git:git curl:curl base-devel:- glibc-locales:libc6 rustup:- reflector:-"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
}

publish() { # SRC DEST: hardlink (or copy) through a temporary name and a rename
	local src="$1" dest="$2" tmp
	mkdir -p "$(dirname "$dest")"
	tmp="$(dirname "$dest")/.${dest##*/}.tmp.$$"
	rm -f "$tmp"
	ln "$src" "$tmp" 2>/dev/null || cp "$src" "$tmp"
	mv -f "$tmp" "$dest"
}

unmount_under() { # unmount whatever is mounted under $1, deepest first
	local dir="$1" mnt
	[[ -d "$dir" ]] || return 0
	while read -r mnt; do
		umount -l "$mnt" 2>/dev/null || true
	done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
}

WORK_DIR=""
TMP_TAR=""
cleanup() {
	if [[ -n "$WORK_DIR" ]]; then
		unmount_under "$WORK_DIR"
		rm -rf --one-file-system "$WORK_DIR"
	fi
	[[ -z "$TMP_TAR" ]] || rm -f "$TMP_TAR"
}

find_cargo() {
	if command -v cargo >/dev/null 2>&1; then
		command -v cargo
	elif [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
		printf '%s\n' "${HOME:-/root}/.cargo/bin/cargo"
	else
		die "cargo is not on PATH nor in ~/.cargo/bin (install Rust with rustup)"
	fi
}

# The product, built from an unpacked copy of the fixture; target dir under the cache.
build_product() { # FIXTURE FIXTURE_SHA CACHE -> prints the binary's path
	local fixture="$1" sha="$2" cache="$3" src target
	src="$cache/product-src/${sha:0:16}"
	target="$cache/product-target"
	if [[ ! -f "$src/.unpacked" ]]; then
		rm -rf "$src"
		mkdir -p "$src"
		tar -xzf "$fixture" -C "$src" --strip-components=1
		[[ -f "$src/Cargo.toml" && -f "$src/Cargo.lock" ]] || die "$fixture holds no Cargo.toml and Cargo.lock under one top folder"
		: >"$src/.unpacked"
	fi
	log "cargo build --release --locked (the product, target dir $target)"
	local started=$SECONDS
	"$CARGO" build --release --locked --manifest-path "$src/Cargo.toml" --target-dir "$target" >&2
	log "product built in $((SECONDS - started)) s"
	[[ -x "$target/release/oxidizr-arch" ]] || die "the build left no $target/release/oxidizr-arch"
	printf '%s\n' "$target/release/oxidizr-arch"
}

# sudo-rs from the crate registry. It links -lpam: the host has libpam.so.0 (every Debian has),
# so a folder with a libpam.so link to it is given to the linker instead of libpam0g-dev.
build_sudo_rs() { # CACHE -> prints the install root's bin folder
	local cache="$1" root pamdir lib
	root="$cache/sudo-rs-$SUDO_RS_VERSION"
	if [[ -x "$root/bin/sudo" && -x "$root/bin/su" && -x "$root/bin/visudo" ]]; then
		log "sudo-rs $SUDO_RS_VERSION: cached in $root"
	else
		lib="$(ldconfig -p 2>/dev/null | awk '/libpam\.so\.0 .*x86-64|libpam\.so\.0 / { print $NF; exit }')"
		[[ -n "$lib" && -e "$lib" ]] || lib="$(ls /usr/lib/*-linux-gnu/libpam.so.0 /lib/*-linux-gnu/libpam.so.0 2>/dev/null | head -n1)"
		[[ -n "$lib" && -e "$lib" ]] || die "no libpam.so.0 on this host: sudo-rs links -lpam"
		pamdir="$cache/pam-link"
		mkdir -p "$pamdir"
		ln -sfn "$lib" "$pamdir/libpam.so"
		log "cargo install sudo-rs --version $SUDO_RS_VERSION --locked (links $lib)"
		local started=$SECONDS
		RUSTFLAGS="${RUSTFLAGS:-} -L native=$pamdir" CARGO_TARGET_DIR="$cache/sudo-rs-target" \
			"$CARGO" install sudo-rs --version "$SUDO_RS_VERSION" --locked --root "$root" >&2
		log "sudo-rs built in $((SECONDS - started)) s"
		rm -rf "$cache/sudo-rs-target"
	fi
	printf '%s\n' "$root/bin"
}

# Runs a command in the rootfs as root, with a clean environment.
in_root() {
	chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root "$@"
}
# Runs makepkg in /build/NAME of the rootfs as `nobody` (makepkg refuses root). --nodeps:
# pacman's local database is still empty here (the Dockerfile installs the stubs).
# SOURCE_DATE_EPOCH makes the packages reproducible: a rootfs made again holds the same bytes
# under the same file names, as a real mirror does, so the pacman caches that outlive a base
# (the build's cache mount, the engine's `pacman` mount) never hold a package pacman would
# call corrupted.
makepkg_as_nobody() { # NAME
	chown -R 65534:65534 "$ROOT/build/$1" "$ROOT/build/out"
	chroot --userspec=65534:65534 "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 \
		HOME=/build USER=nobody PKGDEST=/build/out SOURCE_DATE_EPOCH=1735689600 \
		/bin/sh -c 'cd "/build/$1" && makepkg --nodeps --noconfirm --nocolor' sh "$1" >&2
}

# pkgver from a package's Debian version in the rootfs: no epoch, no revision, no characters
# makepkg refuses.
pkgver_of() { # DEBIAN_PACKAGE (installed in the rootfs)
	local v
	v="$(in_root dpkg-query -W -f='${Version}' "$1")"
	v="${v#*:}"
	v="${v%-*}"
	printf '%s\n' "${v//[~-]/_}"
}

write_stub() { # NAME VERSION DESC [REFLECTOR]
	local dir="$ROOT/build/$1"
	mkdir -p "$dir"
	{
		printf '# Stand-in for Arch'\''s %s: generated by examples/seed/docker/bootstrap.sh\n' "$1"
		printf 'pkgname=%s\npkgver=%s\npkgrel=1\n' "$1" "$2"
		printf 'pkgdesc="%s"\narch=(any)\nurl="https://archlinux.org/packages/?name=%s"\nlicense=(custom)\n' "$3" "$1"
		if [[ "$1" == reflector ]]; then
			cat <<'EOF'
package() {
  # A no-op: there are no mirrors to rank offline.
  install -d "$pkgdir/usr/bin"
  printf '#!/bin/sh\n# reflector stand-in (engine test bed): no mirrors to rank offline\nexit 0\n' >"$pkgdir/usr/bin/reflector"
  chmod 755 "$pkgdir/usr/bin/reflector"
}
EOF
		else
			printf 'package() {\n  : # no files: the Debian userland provides them\n}\n'
		fi
	} >"$dir/PKGBUILD"
}

build_repo() { # PRODUCT_BIN SUDO_RS_BIN PRODUCT_VERSION
	local product="$1" sudo_bin="$2" product_version="$3"
	mkdir -p "$ROOT/build/out"

	# --- uutils-coreutils from Debian's rust-coreutils, then rust-coreutils purged ---------
	local ucore="$ROOT/build/uutils-coreutils" uver
	mkdir -p "$ucore"
	uver="$(pkgver_of rust-coreutils)"
	cp -p "$ROOT/usr/bin/coreutils" "$ucore/coreutils"
	in_root dpkg-query -L rust-coreutils | sed -n 's|^/usr/lib/cargo/bin/coreutils/||p' | sed '/^$/d' | sort -u >"$ucore/applets"
	[[ -s "$ucore/applets" ]] || die "rust-coreutils lists no applet under /usr/lib/cargo/bin/coreutils"
	in_root dpkg --purge rust-coreutils >&2
	cat >"$ucore/PKGBUILD" <<EOF
# Arch's uutils-coreutils layout, from Debian's rust-coreutils $uver (a prebuilt multicall binary)
pkgname=uutils-coreutils
pkgver=$uver
pkgrel=1
pkgdesc="Cross-platform Rust rewrite of the GNU coreutils (Debian's rust-coreutils build)"
arch=(x86_64)
url="https://github.com/uutils/coreutils"
license=(MIT)
depends=(glibc)
options=(!strip !debug)
source=(coreutils applets)
sha256sums=(SKIP SKIP)
package() {
  install -Dm755 "\$srcdir/coreutils" "\$pkgdir/usr/bin/coreutils"
  install -d "\$pkgdir/usr/lib/uutils/coreutils"
  local applet
  while read -r applet; do
    ln -s /usr/bin/coreutils "\$pkgdir/usr/lib/uutils/coreutils/\$applet"
  done <"\$srcdir/applets"
}
EOF
	makepkg_as_nobody uutils-coreutils

	# --- sudo-rs: Arch's layout (/usr/bin/*-rs) --------------------------------------------
	local srs="$ROOT/build/sudo-rs"
	mkdir -p "$srs"
	cp "$sudo_bin/sudo" "$sudo_bin/su" "$sudo_bin/visudo" "$srs/"
	cat >"$srs/PKGBUILD" <<EOF
# Arch's sudo-rs layout, from \`cargo install sudo-rs --version $SUDO_RS_VERSION\` on the host
pkgname=sudo-rs
pkgver=$SUDO_RS_VERSION
pkgrel=1
pkgdesc="A memory safe implementation of sudo and su"
arch=(x86_64)
url="https://github.com/trifectatechfoundation/sudo-rs"
license=(Apache-2.0 MIT)
depends=(glibc pam)
options=(!strip !debug)
source=(sudo su visudo)
sha256sums=(SKIP SKIP SKIP)
package() {
  install -Dm4755 "\$srcdir/sudo" "\$pkgdir/usr/bin/sudo-rs"
  install -Dm4755 "\$srcdir/su" "\$pkgdir/usr/bin/su-rs"
  install -Dm755 "\$srcdir/visudo" "\$pkgdir/usr/bin/visudo-rs"
  ln -s sudo-rs "\$pkgdir/usr/bin/sudoedit-rs"
}
EOF
	# `pam` is a dependency on Arch: one more stub (Debian's libpam0g provides it).
	local pam_version
	pam_version="$(pkgver_of libpam0g)"
	write_stub pam "$pam_version" "Stand-in: Debian's libpam0g $pam_version provides the files (owned by dpkg)"
	makepkg_as_nobody pam
	makepkg_as_nobody sudo-rs

	# --- the product -------------------------------------------------------------------------
	local ox="$ROOT/build/oxidizr-arch"
	mkdir -p "$ox"
	cp "$product" "$ox/oxidizr-arch"
	cat >"$ox/PKGBUILD" <<EOF
# The product, built on the host from the seed's fixture (cargo build --release --locked)
pkgname=oxidizr-arch
pkgver=$product_version
pkgrel=1
pkgdesc="oxidizr-arch style coreutils switching tool (the seed project, built from its fixture)"
arch=(x86_64)
url="https://github.com/veighnsche/oxidizr"
license=(GPL3)
depends=(pacman bash)
options=(!strip !debug)
source=(oxidizr-arch)
sha256sums=(SKIP)
package() {
  install -Dm755 "\$srcdir/oxidizr-arch" "\$pkgdir/usr/bin/oxidizr-arch"
}
EOF
	makepkg_as_nobody oxidizr-arch

	# --- stubs ---------------------------------------------------------------------------------
	local entry name deb ver desc
	for entry in $STUBS; do
		name="${entry%%:*}" deb="${entry#*:}"
		case "$name" in
		base-devel) ver=1 desc="Stand-in: the build tools makepkg needs come from Debian packages" ;;
		rustup) ver=1.28.2 desc="Stand-in: no rustup here (the product is prebuilt on the host and installed as a package)" ;;
		reflector) ver=2023 desc="Stand-in: a no-op reflector (no mirrors offline)" ;;
		*)
			ver="$(pkgver_of "$deb")"
			desc="Stand-in: Debian's $deb $ver provides the files (owned by dpkg)"
			;;
		esac
		write_stub "$name" "$ver" "$desc"
		makepkg_as_nobody "$name"
	done

	# --- the sync repository -------------------------------------------------------------------
	mkdir -p "$ROOT/srv/repo/extra"
	mv "$ROOT"/build/out/*.pkg.tar.zst "$ROOT/srv/repo/extra/"
	in_root sh -c 'cd /srv/repo/extra && repo-add -q extra.db.tar.gz ./*.pkg.tar.zst' >&2
	chown -R root:root "$ROOT/srv/repo"
	rm -rf "$ROOT/build"
}

configure_pacman() {
	cat >"$ROOT/etc/pacman.conf" <<'EOF'
# /etc/pacman.conf of the engine's offline Arch look-alike (examples/seed/docker/bootstrap.sh).
# It is Arch's default file reduced to what matters offline, with ONE difference:
#   SigLevel = Never    Arch has "SigLevel = Required DatabaseOptional" and a keyring; the
#                       packages of this local repository are built unsigned by makepkg.
[options]
HoldPkg     = pacman glibc
Architecture = auto
ParallelDownloads = 5
SigLevel    = Never
LocalFileSigLevel = Optional

# The one repository: built by bootstrap.sh with makepkg and repo-add. Arch's repositories
# are core, extra and multilib; everything here is in `extra`.
[extra]
SigLevel = Never
Server = file:///srv/repo/extra
EOF
	# Arch's makepkg.conf values where Debian's differ in what a build produces.
	sed -i -E \
		-e "s/^PKGEXT=.*/PKGEXT='.pkg.tar.zst'/" \
		-e 's/^CHOST=.*/CHOST="x86_64-pc-linux-gnu"/' \
		-e 's/^INTEGRITY_CHECK=.*/INTEGRITY_CHECK=(sha256)/' \
		"$ROOT/etc/makepkg.conf"
	mkdir -p "$ROOT/var/lib/pacman/sync" "$ROOT/var/cache/pacman/pkg"
	# pacman creates its local database (with its version file) on first use, as root.
	in_root pacman -Q >&2 || true
	[[ -f "$ROOT/var/lib/pacman/local/ALPM_DB_VERSION" ]] || die "pacman did not create its local database"
}

main() {
	local fixture="" refresh=0
	while (($#)); do
		case "$1" in
		--fixture) fixture="${2:?--fixture needs a path}"; shift 2 ;;
		--fixture=*) fixture="${1#*=}"; shift ;;
		--refresh) refresh=1; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage; die "unknown argument: $1" ;;
		esac
	done
	[[ -n "$fixture" ]] || die "--fixture PATH is required (the seed's oxidizr-arch-<commit>.tar.gz)"
	[[ -f "$fixture" ]] || die "no fixture at $fixture (relative paths are relative to $(pwd))"
	fixture="$(cd "$(dirname "$fixture")" && pwd)/${fixture##*/}"
	[[ "$(id -u)" -eq 0 ]] || die "needs root (debootstrap, chroot, mounts); run: sudo $0 --fixture $fixture"

	local here
	here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
	local debian_sh="$here/../../../docker/bootstrap/debian.sh"
	[[ -x "$debian_sh" ]] || die "missing $debian_sh"

	local cache_root="${ENGINE_CACHE_DIR:-$HOME/.cache/engine}"
	mkdir -p "$cache_root/seed-lookalike"
	cache_root="$(cd "$cache_root" && pwd)"
	local cache="$cache_root/seed-lookalike"
	export ENGINE_CACHE_DIR="$cache_root"
	CARGO="$(find_cargo)"

	# 1. The Debian rootfs (its own cache); not published at our output path.
	local debian_tar
	debian_tar="$(env -u ENGINE_ROOTFS_OUT "$debian_sh" --include "$EXTRA_PACKAGES" | tail -n1)"
	[[ -s "$debian_tar" ]] || die "debian.sh gave no tar"

	local fixture_sha rustc_version key
	fixture_sha="$(sha256sum <"$fixture" | cut -d' ' -f1)"
	rustc_version="$("${CARGO%/*}/rustc" --version 2>/dev/null || rustc --version)"
	key="$(
		{
			sha256sum <"${BASH_SOURCE[0]}"
			printf 'debian=%s\nfixture=%s\nsudo-rs=%s\nrustc=%s\n' \
				"${debian_tar##*/}" "$fixture_sha" "$SUDO_RS_VERSION" "$rustc_version"
		} | sha256sum | cut -c1-16
	)"
	local cached="$cache/seed-lookalike-$key.tar"
	local out="${ENGINE_ROOTFS_OUT:-$cached}"

	exec 9>"$cache/build.lock"
	flock 9
	if ((refresh == 0)) && [[ -s "$cached" ]]; then
		log "cache hit: $cached"
	else
		local started=$SECONDS
		# 2. Host builds (cached by cargo and by the install root).
		local product sudo_bin product_version
		product="$(build_product "$fixture" "$fixture_sha" "$cache")"
		sudo_bin="$(build_sudo_rs "$cache")"
		product_version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$cache/product-src/${fixture_sha:0:16}/Cargo.toml" | head -n1)"

		# 3. The rootfs, with /dev and /proc mounted for makepkg and fakeroot.
		trap cleanup EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		local stale
		for stale in "$cache"/.build.*; do
			[[ -d "$stale" ]] || continue
			log "removing the leftovers of an interrupted run: $stale"
			unmount_under "$stale"
			rm -rf --one-file-system "$stale"
		done
		WORK_DIR="$(mktemp -d "$cache/.build.XXXXXX")"
		ROOT="$WORK_DIR/root"
		mkdir -p "$ROOT"
		log "unpacking ${debian_tar##*/}"
		tar --numeric-owner -xpf "$debian_tar" -C "$ROOT"
		mount --bind /dev "$ROOT/dev"
		mount -t proc proc "$ROOT/proc"
		# The host's glibc must not be newer than the rootfs's: run the product once in it.
		cp "$product" "$ROOT/tmp/oxidizr-arch-check"
		in_root /tmp/oxidizr-arch-check --version >&2 ||
			die "the product built on this host does not run in the rootfs (a newer host glibc?)"
		rm -f "$ROOT/tmp/oxidizr-arch-check"

		configure_pacman
		build_repo "$product" "$sudo_bin" "$product_version"
		unmount_under "$ROOT"
		rm -rf "$ROOT"/var/cache/pacman/pkg/* "$ROOT"/tmp/* "$ROOT"/var/tmp/*

		TMP_TAR="$cache/.seed-lookalike-$key.tar.tmp.$$"
		tar --numeric-owner -C "$ROOT" \
			--exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
			-cf "$TMP_TAR" .
		mv -f "$TMP_TAR" "$cached"
		TMP_TAR=""
		rm -f "$cache"/seed-lookalike-*.tar.old
		log "built $cached in $((SECONDS - started)) s"
	fi
	[[ "$out" == "$cached" ]] || publish "$cached" "$out"
	printf '%s\n' "$out"
}

main "$@"
