#!/bin/bash
# Dresses the seed look-alike rootfs (bootstrap.sh) up as one Arch-family distro, at image
# build time. Inputs (Docker build args, passed as environment):
#   LOOKALIKE     arch | manjaro | cachyos | endeavouros   (os-release identity)
#   AUR_HELPER    "" | paru    paru preinstalled as a pacman package (makepkg + pacman -U)
#   DROP_LOCALES  space-separated locale definitions to delete from /usr/share/i18n/locales
# Runs from the folder holding aur/ (the local AUR's recipes).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
: "${LOOKALIKE:?set the LOOKALIKE build arg: arch, manjaro, cachyos or endeavouros}"
AUR_HELPER="${AUR_HELPER:-}"
DROP_LOCALES="${DROP_LOCALES:-}"
[[ -f /srv/repo/extra/extra.db.tar.gz ]] || {
	echo "lookalike.sh: no /srv/repo/extra: BASE_IMAGE must be the rootfs of examples/seed/docker/bootstrap.sh" >&2
	exit 2
}

# --- identity -------------------------------------------------------------------------
case "$LOOKALIKE" in
arch) name="Arch Linux" pretty="Arch Linux" like="" ;;
manjaro) name="Manjaro Linux" pretty="Manjaro Linux" like="arch" ;;
cachyos) name="CachyOS Linux" pretty="CachyOS" like="arch" ;;
endeavouros) name="EndeavourOS" pretty="EndeavourOS" like="arch" ;;
*)
	echo "lookalike.sh: unknown LOOKALIKE '$LOOKALIKE' (arch, manjaro, cachyos, endeavouros)" >&2
	exit 2
	;;
esac
{
	printf 'NAME="%s"\nPRETTY_NAME="%s"\nID=%s\n' "$name" "$pretty" "$LOOKALIKE"
	[[ -z "$like" ]] || printf 'ID_LIKE=%s\n' "$like"
	printf 'BUILD_ID=rolling\nANSI_COLOR="38;2;23;147;209"\n'
	# Not part of the real files: tells a human in `engine shell` what this is.
	printf 'VARIANT="engine seed test-bed look-alike on a Debian base"\nVARIANT_ID=engine-seed-lookalike\n'
} >/usr/lib/os-release
ln -sfn ../usr/lib/os-release /etc/os-release
[[ "$LOOKALIKE" != arch ]] || : >/etc/arch-release

# Arch-family systems have a wheel group; sudoers rules and useradd -G use it.
getent group wheel >/dev/null || groupadd --system wheel

# --- pacman: what `pacman -Qi NAME` answers -----------------------------------------------
# File-less stubs for what the Debian userland really provides (the binaries stay dpkg's), so
# that `pacman -Qi coreutils`, `pacman -Qi sudo`, `pacman -S --needed base-devel git` answer as
# on Arch. Left in `extra` only: glibc-locales, rustup, reflector, and the real packages
# uutils-coreutils, sudo-rs and oxidizr-arch.
pacman -Sy --noconfirm
stubs=(glibc bash coreutils findutils sudo which pam pacman git curl base-devel)
# The package cache is shared across builds and outlives the base: a base made again (its
# repository rebuilt, so same names with other bytes) finds the old files there, which pacman
# calls corrupted and deletes (the default answer). The second try fetches them again.
if ! pacman -S --noconfirm --needed "${stubs[@]}"; then
	echo "lookalike.sh: stale packages in the cache mount were removed; fetching again" >&2
	pacman -S --noconfirm --needed "${stubs[@]}"
fi

# --- the local "AUR": bare git repositories under /srv/aur ---------------------------------
export GIT_AUTHOR_NAME="engine test bed" GIT_AUTHOR_EMAIL="testbed@localhost"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_AUTHOR_DATE="2025-01-01T00:00:00Z" GIT_COMMITTER_DATE="2025-01-01T00:00:00Z"
mkdir -p /srv/aur
for recipe in "$here"/aur/*/; do
	pkg="$(basename "$recipe")"
	work="$(mktemp -d)"
	cp -a "$recipe". "$work/"
	ver="$(sed -n 's/^pkgver=//p' "$work/PKGBUILD")-$(sed -n 's/^pkgrel=//p' "$work/PKGBUILD")"
	git -C "$work" init -q -b master
	git -C "$work" add -A
	git -C "$work" commit -q -m "$pkg $ver"
	git clone -q --bare "$work" "/srv/aur/$pkg.git"
	rm -rf "$work"
	# A stand-in for a remote: any user may clone it though root owns it.
	git config --system --add safe.directory "/srv/aur/$pkg.git"
done

# --- a preinstalled AUR helper, built as the AUR would have it ------------------------------
case "$AUR_HELPER" in
"") ;;
paru)
	build="$(mktemp -d)"
	git clone -q file:///srv/aur/paru-bin.git "$build/paru-bin"
	chown -R nobody:nogroup "$build"
	# makepkg refuses root: build as nobody, install as root.
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env -i PATH=/usr/bin:/bin HOME="$build" LANG=C.UTF-8 \
		sh -c 'cd "$1" && makepkg --noconfirm --nocolor' sh "$build/paru-bin"
	pacman -U --noconfirm "$build"/paru-bin/paru-bin-*.pkg.tar.zst
	rm -rf "$build"
	;;
*)
	echo "lookalike.sh: unknown AUR_HELPER '$AUR_HELPER' (paru or empty)" >&2
	exit 2
	;;
esac
# /var/cache/pacman/pkg is a cache mount of the build (see the Dockerfile): what pacman fetched
# stays there for the next build and is not part of the image.

# --- locales ------------------------------------------------------------------------------
# Arch writes "#de_DE.UTF-8 UTF-8" (no space after #): the seed's German suite runs
# `sed 's/^#de_DE.UTF-8/de_DE.UTF-8/'`, so /etc/locale.gen must have that form.
sed -i -E 's/^# ([A-Za-z]{2,3}_[A-Z]{2}[^ ]* [A-Za-z0-9-]+)$/#\1/' /etc/locale.gen
for loc in $DROP_LOCALES; do
	rm -f "/usr/share/i18n/locales/$loc" /usr/share/i18n/locales/"$loc"@*
done
# Only en_US.UTF-8 is generated here: anything else is the provision's (or the suite's) job.
sed -i -E 's/^#(en_US\.UTF-8 UTF-8)$/\1/' /etc/locale.gen
locale-gen
