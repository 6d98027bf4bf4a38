#!/bin/bash
# Turns the Debian minbase image into a look-alike of an Arch-family distro, at
# image build time. Inputs (Docker build args, passed as environment):
#   LOOKALIKE     arch | cachyos | manjaro | endeavouros   (os-release identity)
#   AUR_HELPER    "" | paru | yay    a helper preinstalled as a pacman package
#   DROP_LOCALES  space-separated locale definitions to delete from
#                 /usr/share/i18n/locales (e.g. "de_DE"), as minimal images lack them
# Runs from the folder holding the stand-in scripts.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
: "${LOOKALIKE:?set the LOOKALIKE build arg: arch, cachyos, manjaro or endeavouros}"
AUR_HELPER="${AUR_HELPER:-}"
DROP_LOCALES="${DROP_LOCALES:-}"

# --- identity -----------------------------------------------------------------
case "$LOOKALIKE" in
arch) name="Arch Linux" pretty="Arch Linux" like="" ;;
cachyos) name="CachyOS Linux" pretty="CachyOS" like="arch" ;;
manjaro) name="Manjaro Linux" pretty="Manjaro Linux" like="arch" ;;
endeavouros) name="EndeavourOS" pretty="EndeavourOS" like="arch" ;;
*)
	echo "lookalike.sh: unknown LOOKALIKE '$LOOKALIKE' (arch, cachyos, manjaro, endeavouros)" >&2
	exit 2
	;;
esac
{
	printf 'NAME="%s"\nPRETTY_NAME="%s"\nID=%s\n' "$name" "$pretty" "$LOOKALIKE"
	[[ -z "$like" ]] || printf 'ID_LIKE=%s\n' "$like"
	printf 'BUILD_ID=rolling\nANSI_COLOR="38;2;23;147;209"\n'
	# Not part of the real files: tells a human in `engine shell` what this is.
	printf 'VARIANT="engine test-bed look-alike on a Debian base"\nVARIANT_ID=engine-lookalike\n'
} >/usr/lib/os-release
ln -sfn ../usr/lib/os-release /etc/os-release
[[ "$LOOKALIKE" != arch ]] || : >/etc/arch-release

# Arch-family systems have a wheel group; sudoers rules and useradd -G use it.
getent group wheel >/dev/null || groupadd --system wheel

# --- pacman and makepkg stand-ins ------------------------------------------------
install -m755 "$here/pacman" /usr/bin/pacman
install -m755 "$here/makepkg" /usr/bin/makepkg
mkdir -p /var/lib/pacman/local /var/cache/pacman/pkg
printf '[options]\nArchitecture = x86_64\n# Stand-in: no repositories are reachable offline.\n' >/etc/pacman.conf

# Register what the base image really provides, so `pacman -Q sudo` and
# `pacman -S --needed git base-devel` behave as on a real system.
register() {
	local dir="/var/lib/pacman/local/$1-$2"
	mkdir -p "$dir"
	printf '%%NAME%%\n%s\n\n%%VERSION%%\n%s\n\n' "$1" "$2" >"$dir/desc"
	printf '%%FILES%%\n' >"$dir/files"
}
register base 3-2
register base-devel 1-2
register glibc 2.36-1
register git 2.39.5-1
register sudo 1.9.13-1
register pacman 6.1.0-3

# Builds a one-file package the way makepkg would and installs it with pacman -U.
install_as_package() { # NAME VERSION SOURCE DEST
	local work
	work="$(mktemp -d)"
	install -Dm755 "$3" "$work/pkg/$4"
	printf 'pkgname = %s\npkgver = %s\narch = x86_64\n' "$1" "$2" >"$work/pkg/.PKGINFO"
	tar --zstd --owner=0 --group=0 --numeric-owner -C "$work/pkg" -cf "$work/$1.pkg.tar.zst" .PKGINFO "${4%%/*}"
	pacman -U --noconfirm "$work/$1.pkg.tar.zst" >/dev/null
	rm -rf "$work"
}

case "$AUR_HELPER" in
"") ;;
paru) install_as_package paru 2.0.4-1 "$here/aur-helper" usr/bin/paru ;;
yay) install_as_package yay 12.4.2-1 "$here/aur-helper" usr/bin/yay ;;
*)
	echo "lookalike.sh: unknown AUR_HELPER '$AUR_HELPER' (paru, yay or empty)" >&2
	exit 2
	;;
esac

# --- the local "AUR": a bare git repository holding the paru-bin recipe -----------
aur=/srv/aur/paru-bin.git
work="$(mktemp -d)"
cp "$here/paru-bin/PKGBUILD" "$work/PKGBUILD"
install -m755 "$here/aur-helper" "$work/paru"
# Fixed identity and dates: the same inputs give the same commit.
export GIT_AUTHOR_NAME="engine test bed" GIT_AUTHOR_EMAIL="testbed@localhost"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_AUTHOR_DATE="2025-01-01T00:00:00Z" GIT_COMMITTER_DATE="2025-01-01T00:00:00Z"
git -C "$work" init -q -b master
git -C "$work" add PKGBUILD paru
git -C "$work" commit -q -m "paru-bin 2.0.4-1"
mkdir -p /srv/aur
git clone -q --bare "$work" "$aur"
rm -rf "$work"
# The repository stands in for a remote: any user may clone it even though root
# owns it (git refuses repositories owned by someone else by default).
git config --system --add safe.directory "$aur"

# --- locales -------------------------------------------------------------------------
# Arch writes "#de_DE.UTF-8 UTF-8" (no space after #); make /etc/locale.gen look the
# same so the runner's enabling logic meets the Arch form.
sed -i -E 's/^# ([A-Za-z]{2,3}_[A-Z]{2}[^ ]* [A-Za-z0-9-]+)$/#\1/' /etc/locale.gen
for loc in $DROP_LOCALES; do
	rm -f "/usr/share/i18n/locales/$loc" /usr/share/i18n/locales/"$loc"@*
done
# Only en_US.UTF-8 is generated here: anything else is the provision's job.
sed -i -E 's/^#(en_US\.UTF-8 UTF-8)$/\1/' /etc/locale.gen
locale-gen
