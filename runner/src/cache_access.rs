//! Cache mounts a suite's user must be able to write: the engine makes their host folders as
//! its own user (root, mostly), and a suite that runs as `builder` would fail on "Permission
//! denied" somewhere in its script. Checked before the suite starts: a root-owned folder is
//! given to the user (the engine made it; nothing else owns it), anything else it cannot write
//! is an infrastructure error naming the folder, its owner and its mode.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::users::User;

/// What was done about one mount point.
#[derive(Debug, PartialEq, Eq)]
pub enum Access {
    /// Writable by the user as it is.
    Writable,
    /// Was root's: now the user's.
    GivenTo,
    /// Not writable, and not ours to give: the message says why.
    Denied(String),
}

/// Whether `user` can write `dir`, by its owner, group and mode bits.
fn writable(meta: &std::fs::Metadata, user: &User) -> bool {
    let mode = meta.mode();
    (meta.uid() == user.uid && mode & 0o200 != 0)
        || ((meta.gid() == user.gid || user.groups.contains(&meta.gid())) && mode & 0o020 != 0)
        || mode & 0o002 != 0
}

/// Check (and where it is root's, fix) that `user` can write the folder at `dir`.
pub fn ensure(dir: &Path, user: &User) -> Access {
    let Ok(meta) = std::fs::metadata(dir) else {
        // Not mounted in this phase, or not a folder: nothing to check.
        return Access::Writable;
    };
    if !meta.is_dir() || writable(&meta, user) {
        return Access::Writable;
    }
    if meta.uid() == 0 && std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid)).is_ok() {
        return Access::GivenTo;
    }
    Access::Denied(format!(
        "cache mount {} is not writable by {} (owner uid {}, group {}, mode {:o})",
        dir.display(),
        user.name,
        meta.uid(),
        meta.gid(),
        meta.mode() & 0o7777
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, gid: u32) -> User {
        User {
            name: "builder".into(),
            uid,
            gid,
            home: "/home/builder".into(),
            groups: Vec::new(),
        }
    }

    #[test]
    fn the_owner_with_write_permission_can_write() {
        let dir = tempfile::tempdir().unwrap();
        let meta = std::fs::metadata(dir.path()).unwrap();
        let me = user(meta.uid(), meta.gid());
        assert_eq!(ensure(dir.path(), &me), Access::Writable);
    }

    #[test]
    fn someone_else_without_permission_is_denied_or_given_when_root_owns_it() {
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let meta = std::fs::metadata(dir.path()).unwrap();
        let other = user(meta.uid() + 4242, meta.gid() + 4242);
        match ensure(dir.path(), &other) {
            // Running as root (CI, containers): the folder is root's and is given.
            Access::GivenTo => {
                assert_eq!(meta.uid(), 0);
                assert_eq!(std::fs::metadata(dir.path()).unwrap().uid(), other.uid);
            }
            Access::Denied(why) => {
                assert!(why.contains("is not writable by builder"), "{why}");
                assert!(why.contains("mode 755"), "{why}");
            }
            Access::Writable => panic!("writable by a stranger"),
        }
    }
}
