//! A tiny project whose one distro's base is a busybox-only root file system, made on the host
//! by a rootfs script from Debian's busybox-static: no C library, no dynamic loader, and a
//! base image that builds in a second.

use std::path::Path;

/// The rootfs script; `before` runs first (a marker file, `env`, a sleep).
pub fn rootfs_script(before: &str) -> String {
    format!(
        r#"#!/bin/sh
set -eu
{before}
t=$(mktemp -d)
mkdir -p "$t/bin" "$t/tmp" "$t/etc" "$t/proc" "$t/sys" "$t/dev" "$t/root"
cp /bin/busybox "$t/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$t/bin/$a" ] || ln -s busybox "$t/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$t/etc/passwd"
echo 'root:x:0:' > "$t/etc/group"
tar -C "$t" -cf "$ENGINE_ROOTFS_OUT" .
rm -rf "$t"
echo "$ENGINE_ROOTFS_OUT"
"#
    )
}

/// Write the project into `root`: a matrix with one distro `tiny` (its `base_rootfs` table
/// gets `rootfs_extra`, e.g. `timeout = "2s"`), the Dockerfile, the script and one suite
/// `task` whose task.toml is `task`. `matrix_extra` goes on top of the matrix.
pub fn write_project(
    root: &Path,
    before: &str,
    rootfs_extra: &str,
    matrix_extra: &str,
    task: &str,
) {
    assert!(
        Path::new("/bin/busybox").is_file(),
        "busybox-static is installed by scripts/install-test-deps.sh"
    );
    let extra = if rootfs_extra.is_empty() {
        String::new()
    } else {
        format!(", {rootfs_extra}")
    };
    std::fs::write(
        root.join("matrix.toml"),
        format!(
            r#"{matrix_extra}
suites = "suites/*"
[image]
dockerfile = "Dockerfile"
[workspace]
source = "."
target = "/workspace"
[caches]
root = ".cache"
[provision]
users = []
[distros.tiny]
base_rootfs = {{ script = "rootfs.sh"{extra} }}
aur_helper = {{ policy = "none" }}
"#
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("Dockerfile"),
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nLABEL e2e=busybox\n",
    )
    .unwrap();
    let script = root.join("rootfs.sh");
    std::fs::write(&script, rootfs_script(before)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let suite = root.join("suites/task");
    std::fs::create_dir_all(&suite).unwrap();
    std::fs::write(suite.join("task.toml"), task).unwrap();
}
