#!/usr/bin/env bash
# Builds a Debian minbase root filesystem with debootstrap and writes it as a tar,
# for a distro's `base_rootfs = { script = ..., args = [...] }` in the engine.
#
# Contract with the engine:
#   ENGINE_ROOTFS_OUT  absolute path of the tar to write (optional when run by hand)
#   ENGINE_CACHE_DIR   persistent cache folder (default: $HOME/.cache/engine)
# The last line on stdout is the path of the tar; everything else goes to stderr.
#
# The mirror and the suite come from this machine's apt sources, so nothing here
# names a host. The default suite is the host's own: its archive is the one this
# machine's apt sources are known to reach.
set -euo pipefail

readonly PROG="${0##*/}"
# Packages the look-alikes and the runner rely on (on top of minbase, which
# already has passwd for useradd, util-linux for runuser, tar and gzip):
#   locales          locale-gen and the /usr/share/i18n/locales definitions
#   sudo             passwordless sudo for provisioned users (visudo included)
#   git              cloning the stand-in AUR repository over file://
#   ca-certificates  so git/curl over https work when a network exists
#   procps           ps/pkill for suites and for killing timed-out process groups
#   xz-utils, zstd   unpacking real-looking package archives
#   less             readable `engine shell` sessions
readonly DEFAULT_PACKAGES="locales,sudo,git,ca-certificates,procps,xz-utils,zstd,less"
readonly VARIANT="minbase"

usage() {
	cat <<EOF
Usage: $PROG [--suite NAME] [--include PKG,PKG] [--arch ARCH] [--mirror URL]
             [--refresh] [--print-source]

Builds a Debian $VARIANT rootfs tar with debootstrap (cached by a hash of its inputs).

  --suite NAME       Debian suite (default: the main suite in this machine's apt sources)
  --include P,P      extra packages, added to: $DEFAULT_PACKAGES
  --arch ARCH        Debian architecture (default: this machine's)
  --mirror URL       archive URL (default: the main Debian entry of this machine's apt sources)
  --refresh          rebuild even when a cached tar exists
  --print-source     print "MIRROR SUITE" as read from the apt sources and exit

Environment: ENGINE_ROOTFS_OUT (tar to write), ENGINE_CACHE_DIR (cache folder),
APT_SOURCES_DIR (where to read apt sources; default /etc/apt).
EOF
}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

# Prints "URI SUITE" for every enabled `deb` entry of the apt sources, in file order:
# deb822 files (*.sources) and one-line files (sources.list, *.list).
apt_source_entries() {
	local dir="$1" f
	shopt -s nullglob
	for f in "$dir"/sources.list "$dir"/sources.list.d/*.list; do
		[[ -f "$f" ]] || continue
		# One-line format: deb [options] URI SUITE COMPONENT...
		awk '
			{ sub(/#.*/, "") }
			$1 != "deb" { next }
			{
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if (i + 1 <= NF) print $i, $(i + 1)
			}' "$f"
	done
	for f in "$dir"/sources.list.d/*.sources; do
		# deb822 format: paragraphs of "Field: value" separated by blank lines.
		awk '
			function flush(   nu, ns, u, s, us, ss) {
				if (types ~ /(^| )deb( |$)/ && enabled != "no") {
					nu = split(uris, us, " "); ns = split(suites, ss, " ")
					for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++) print us[u], ss[s]
				}
				types = ""; uris = ""; suites = ""; enabled = ""; last = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ { if (last == "uris") uris = uris " " $0; else if (last == "suites") suites = suites " " $0; next }
			{
				key = tolower($0); sub(/:.*/, "", key)
				val = $0; sub(/^[^:]*:[ \t]*/, "", val)
				last = key
				if (key == "types") types = val
				else if (key == "uris") uris = val
				else if (key == "suites") suites = val
				else if (key == "enabled") enabled = tolower(val)
			}
			END { flush() }' "$f"
	done
}

# Picks the main archive entry: not -security/-updates/-backports, and a URI
# debootstrap can fetch from. Prefers the host's own codename.
# Prints "URI SUITE".
main_apt_source() {
	local dir="$1" codename="" uri suite first=""
	if [[ -r /etc/os-release ]]; then
		# shellcheck disable=SC1091 # the host's file, read at run time
		codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
	fi
	while read -r uri suite; do
		case "$uri" in http://* | https://* | file:/* | ftp://*) ;; *) continue ;; esac
		case "$suite" in
		*-security | *-updates | *-backports | *-backports-sloppy | */* | nodistro) continue ;;
		esac
		if [[ -n "$codename" && "$suite" == "$codename" ]]; then
			printf '%s %s\n' "${uri%/}" "$suite"
			return 0
		fi
		[[ -n "$first" ]] || first="${uri%/} $suite"
	done < <(apt_source_entries "$dir")
	[[ -n "$first" ]] || return 1
	printf '%s\n' "$first"
}

host_arch() {
	if command -v dpkg >/dev/null 2>&1; then
		dpkg --print-architecture
		return
	fi
	case "$(uname -m)" in
	x86_64) echo amd64 ;;
	aarch64) echo arm64 ;;
	*) die "unknown machine $(uname -m); pass --arch" ;;
	esac
}

# Places $1 at $2 atomically: a hardlink when on one file system, else a copy,
# always through a temporary name next to $2 and a rename.
publish() {
	local src="$1" dest="$2" tmp
	mkdir -p "$(dirname "$dest")"
	tmp="$(dirname "$dest")/.${dest##*/}.tmp.$$"
	rm -f "$tmp"
	ln "$src" "$tmp" 2>/dev/null || cp "$src" "$tmp"
	mv -f "$tmp" "$dest"
}

ensure_debootstrap() {
	command -v debootstrap >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and apt-get is not available to install it"
	log "installing debootstrap with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q debootstrap >&2; then
		# A fresh machine has empty package lists: refresh once, then retry.
		apt-get update -q >&2
		apt-get install -y -q debootstrap >&2
	fi
}

# Unmounts whatever debootstrap may have left mounted under $1 (deepest first).
unmount_under() {
	local dir="$1" mnt
	[[ -d "$dir" ]] || return 0
	while read -r mnt; do
		umount -l "$mnt" 2>/dev/null || true
	done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
}

WORK_DIR=""
TMP_TAR=""
CHILD=""
cleanup() {
	if [[ -n "$CHILD" ]]; then
		# debootstrap runs in its own process group: stop all of it (dpkg, chroot...).
		kill -TERM -- "-$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
	fi
	if [[ -n "$WORK_DIR" ]]; then
		unmount_under "$WORK_DIR"
		# --one-file-system: never follow a mount that survived the unmount.
		rm -rf --one-file-system "$WORK_DIR"
	fi
	[[ -z "$TMP_TAR" ]] || rm -f "$TMP_TAR"
}

main() {
	local suite="" include="" arch="" mirror="" refresh=0 print_source=0
	local -a given=("$@")
	while (($#)); do
		case "$1" in
		--suite) suite="${2:?--suite needs a value}"; shift 2 ;;
		--suite=*) suite="${1#*=}"; shift ;;
		--include) include="${2:?--include needs a value}"; shift 2 ;;
		--include=*) include="${1#*=}"; shift ;;
		--arch) arch="${2:?--arch needs a value}"; shift 2 ;;
		--arch=*) arch="${1#*=}"; shift ;;
		--mirror) mirror="${2:?--mirror needs a value}"; shift 2 ;;
		--mirror=*) mirror="${1#*=}"; shift ;;
		--refresh) refresh=1; shift ;;
		--print-source) print_source=1; shift ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown argument: $1" ;;
		esac
	done

	local apt_dir="${APT_SOURCES_DIR:-/etc/apt}" source_line src_mirror src_suite
	if source_line="$(main_apt_source "$apt_dir")"; then
		read -r src_mirror src_suite <<<"$source_line"
	else
		src_mirror=""
		src_suite=""
	fi
	if ((print_source)); then
		[[ -n "$src_mirror" ]] || die "no main Debian archive entry in $apt_dir/sources.list{,.d/*.list,.d/*.sources}"
		printf '%s %s\n' "$src_mirror" "$src_suite"
		exit 0
	fi
	mirror="${mirror:-$src_mirror}"
	suite="${suite:-$src_suite}"
	[[ -n "$mirror" ]] || die "no Debian mirror found in the apt sources under $apt_dir; pass --mirror URL"
	[[ -n "$suite" ]] || die "no Debian suite found in the apt sources under $apt_dir; pass --suite NAME"
	arch="${arch:-$(host_arch)}"

	# Sorted and de-duplicated so that the order of --include does not change the hash.
	local packages
	packages="$(printf '%s\n' "${DEFAULT_PACKAGES//,/$'\n'}" "${include//,/$'\n'}" | sed '/^$/d' | sort -u | paste -sd, -)"

	local cache_root="${ENGINE_CACHE_DIR:-$HOME/.cache/engine}"
	local rootfs_dir="$cache_root/rootfs"
	mkdir -p "$rootfs_dir"
	cache_root="$(cd "$cache_root" && pwd)"
	rootfs_dir="$cache_root/rootfs"

	local key
	key="$(
		{
			sha256sum <"${BASH_SOURCE[0]}"
			printf 'mirror=%s\nsuite=%s\narch=%s\nvariant=%s\npackages=%s\n' \
				"$mirror" "$suite" "$arch" "$VARIANT" "$packages"
		} | sha256sum | cut -c1-16
	)"
	local cached="$rootfs_dir/debian-$suite-$arch-$key.tar"
	local out="${ENGINE_ROOTFS_OUT:-$cached}"

	# One build per key at a time; a second caller waits and then hits the cache.
	exec 9>"$cached.lock"
	flock 9

	if ((refresh == 0)) && [[ -s "$cached" ]]; then
		log "cache hit: $cached"
	else
		[[ "$(id -u)" -eq 0 ]] || die "building the rootfs needs root (debootstrap chroots and creates device nodes); run: sudo $0 ${given[*]}"
		ensure_debootstrap

		trap cleanup EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		# Leftovers of a run of this key that was killed outright (SIGKILL): the
		# lock proves no other run of this key is using them.
		local stale
		for stale in "$rootfs_dir/.build-$key".*; do
			[[ -d "$stale" ]] || continue
			log "removing the leftovers of an interrupted run: $stale"
			unmount_under "$stale"
			rm -rf --one-file-system "$stale"
		done
		rm -f "$rootfs_dir/.debian-$suite-$arch-$key.tar.tmp".*
		WORK_DIR="$(mktemp -d "$rootfs_dir/.build-$key.XXXXXX")"
		local target="$WORK_DIR/root"
		local debs="$cache_root/debootstrap/$suite-$arch"
		mkdir -p "$debs"
		# Builds of other keys (other package lists) share the downloaded debs: one
		# debootstrap at a time writes there.
		exec 8>"$debs.lock"
		flock 8

		log "debootstrap --variant=$VARIANT $suite from $mirror ($arch), packages: $packages"
		local started=$SECONDS
		# In the background with `wait`, so that INT/TERM reach the trap at once
		# instead of after debootstrap has finished.
		setsid debootstrap --variant="$VARIANT" --arch="$arch" --include="$packages" \
			--cache-dir="$debs" "$suite" "$target" "$mirror" >&2 &
		CHILD=$!
		wait "$CHILD"
		CHILD=""

		# Package lists, downloaded debs and documentation only make the image
		# bigger. Message catalogs (/usr/share/locale) stay: suites run under
		# other locales and may depend on translated output.
		chroot "$target" apt-get clean
		rm -rf "$target"/var/lib/apt/lists/* "$target"/var/log/*.log "$target"/var/log/apt/* \
			"$target"/usr/share/doc/* "$target"/usr/share/man/* "$target"/usr/share/info/*
		unmount_under "$target"
		exec 8>&-

		TMP_TAR="$rootfs_dir/.debian-$suite-$arch-$key.tar.tmp.$$"
		# /dev, /proc and /sys are provided by the container runtime.
		tar --numeric-owner -C "$target" \
			--exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
			-cf "$TMP_TAR" .
		mv -f "$TMP_TAR" "$cached"
		TMP_TAR=""
		log "built $cached in $((SECONDS - started)) s"
	fi

	[[ "$out" == "$cached" ]] || publish "$cached" "$out"
	printf '%s\n' "$out"
}

main "$@"
