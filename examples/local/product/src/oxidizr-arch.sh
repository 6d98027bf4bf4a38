#!/bin/bash
# oxidizr-arch @VERSION@ -- stand-in of the seed project's product, which swaps
# GNU coreutils for the Rust uutils. This one "swaps" a few applets for copies in
# /usr/lib/uutils, keeping the original as /usr/bin/.NAME.oxidizr.bak like the real tool.
#   oxidizr-arch enable  --yes [--experiments coreutils]
#   oxidizr-arch disable --yes [--all | --experiments coreutils]
#   oxidizr-arch status
#   oxidizr-arch --version
set -euo pipefail

readonly VERSION="@VERSION@"
readonly APPLETS=(ls cat date)
readonly UUTILS=/usr/lib/uutils
readonly STATE=/var/lib/oxidizr-arch/state

die() {
	printf 'oxidizr-arch: error: %s\n' "$*" >&2
	exit 1
}

# The real tool parses localized command output; under a locale that is not
# installed that silently goes wrong, so this stand-in refuses loudly instead.
require_usable_locale() {
	local wanted="${LC_ALL:-${LC_MESSAGES:-${LANG:-}}}" warnings norm
	case "$wanted" in "" | C | POSIX | C.UTF-8 | C.utf8) return 0 ;; esac
	warnings="$(locale 2>&1 >/dev/null || true)"
	norm="$(printf '%s' "$wanted" | sed -E 's/\.UTF-?8$/.utf8/I')"
	if [[ -n "$warnings" ]] || ! locale -a 2>/dev/null | grep -qixF "$norm"; then
		printf 'oxidizr-arch: error: locale %s is not available on this system\n' "$wanted" >&2
		[[ -z "$warnings" ]] || printf '%s\n' "$warnings" >&2
		printf 'oxidizr-arch: hint: enable it in /etc/locale.gen and run locale-gen\n' >&2
		exit 1
	fi
}

need_root() { [[ "$(id -u)" -eq 0 ]] || die "This command must be run as root"; }

parse_selection() {
	local yes=0 all=0
	while (($#)); do
		case "$1" in
		--yes | -y) yes=1 ;;
		--all) all=1 ;;
		--experiments)
			shift
			[[ "${1:-}" == coreutils ]] || die "unknown experiment '${1:-}' (this stand-in has: coreutils)"
			;;
		--experiments=coreutils) ;;
		*) die "unknown argument '$1'" ;;
		esac
		shift
	done
	((yes)) || die "refusing to change the system without --yes"
	: "$all"
}

is_enabled() { [[ "$(readlink "/usr/bin/$1" || true)" == "$UUTILS/$1" ]]; }

enable() {
	parse_selection "$@"
	need_root
	local a
	mkdir -p "$UUTILS" "$(dirname "$STATE")"
	for a in "${APPLETS[@]}"; do
		is_enabled "$a" && continue
		cp -p "/usr/bin/$a" "$UUTILS/$a"
		cp -p "/usr/bin/$a" "/usr/bin/.$a.oxidizr.bak"
		# Replace through a rename, so /usr/bin/$a is never missing.
		ln -sfn "$UUTILS/$a" "/usr/bin/.$a.oxidizr.new"
		mv -Tf "/usr/bin/.$a.oxidizr.new" "/usr/bin/$a"
		printf 'enabled %s -> %s\n' "/usr/bin/$a" "$UUTILS/$a"
	done
	echo coreutils >"$STATE"
}

disable() {
	parse_selection "$@"
	need_root
	local a
	for a in "${APPLETS[@]}"; do
		[[ -e "/usr/bin/.$a.oxidizr.bak" ]] || continue
		mv -Tf "/usr/bin/.$a.oxidizr.bak" "/usr/bin/$a"
		rm -f "$UUTILS/$a"
		printf 'restored %s\n' "/usr/bin/$a"
	done
	rmdir "$UUTILS" 2>/dev/null || true
	rm -f "$STATE"
}

status() {
	local a
	for a in "${APPLETS[@]}"; do
		if is_enabled "$a"; then echo "$a enabled"; else echo "$a disabled"; fi
	done
}

main() {
	local cmd="${1:-}"
	(($#)) && shift
	case "$cmd" in
	--version | -V) echo "oxidizr-arch $VERSION" ;;
	enable) require_usable_locale && enable "$@" ;;
	disable) require_usable_locale && disable "$@" ;;
	status) require_usable_locale && status ;;
	*)
		echo "usage: oxidizr-arch {enable|disable} --yes [--all|--experiments coreutils] | status | --version" >&2
		exit 2
		;;
	esac
}

main "$@"
