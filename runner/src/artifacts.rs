//! spread's `artifacts`: after execute (and debug), before restore cleans up, the paths a suite
//! names are copied into the I/O folder, where the engine finds them after the container is
//! gone. Inside the container the runner sees every path, bind mounts included, as root.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// What happened to one artifact, for the suite's output.
#[derive(Debug, PartialEq, Eq)]
pub enum Copied {
    /// Copied, with the number of files.
    Files(usize),
    /// Nothing at that path.
    Missing,
    /// The path tries to leave the working directory by `..`.
    Refused,
}

/// Copy `path` (relative to `workdir`, or absolute) to `into/<path>`. The copies belong to the
/// owner of `into` (the engine's user on the host, not the container's root).
pub fn copy(workdir: &Path, path: &str, into: &Path) -> std::io::Result<Copied> {
    let rel = Path::new(path);
    if rel.components().any(|c| c == Component::ParentDir) {
        return Ok(Copied::Refused);
    }
    let source = if rel.is_absolute() {
        rel.to_path_buf()
    } else {
        workdir.join(rel)
    };
    if std::fs::symlink_metadata(&source).is_err() {
        return Ok(Copied::Missing);
    }
    // `/var/log/x` lands at `into/var/log/x`, `out/a.log` at `into/out/a.log`.
    let target: PathBuf = into.join(rel.strip_prefix("/").unwrap_or(rel));
    let owner = std::fs::metadata(into).map(|m| (m.uid(), m.gid())).ok();
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
        give(into, parent, owner);
    }
    let mut count = 0;
    copy_tree(&source, &target, owner, &mut count)?;
    Ok(Copied::Files(count))
}

fn copy_tree(
    from: &Path,
    to: &Path,
    owner: Option<(u32, u32)>,
    count: &mut usize,
) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        let link = std::fs::read_link(from)?;
        std::os::unix::fs::symlink(link, to)?;
    } else if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()), owner, count)?;
        }
    } else if meta.is_file() {
        std::fs::copy(from, to)?;
        *count += 1;
    } else {
        // Sockets, fifos, devices: nothing to read back.
        return Ok(());
    }
    if let Some((uid, gid)) = owner {
        let _ = std::os::unix::fs::lchown(to, Some(uid), Some(gid));
    }
    Ok(())
}

/// The folders made between `root` and `dir` belong to the owner too.
fn give(root: &Path, dir: &Path, owner: Option<(u32, u32)>) {
    let Some((uid, gid)) = owner else { return };
    let mut d = dir;
    while d != root && d.starts_with(root) {
        let _ = std::os::unix::fs::chown(d, Some(uid), Some(gid));
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_folders_and_absolute_paths_are_copied_under_their_path() {
        let work = tempfile::tempdir().unwrap();
        let into = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(work.path().join("out/deep")).unwrap();
        std::fs::write(work.path().join("out/a.log"), "a").unwrap();
        std::fs::write(work.path().join("out/deep/b.log"), "b").unwrap();
        std::fs::write(work.path().join("one.txt"), "1").unwrap();
        assert_eq!(
            copy(work.path(), "out", into.path()).unwrap(),
            Copied::Files(2)
        );
        assert_eq!(
            std::fs::read_to_string(into.path().join("out/deep/b.log")).unwrap(),
            "b"
        );
        assert_eq!(
            copy(work.path(), "one.txt", into.path()).unwrap(),
            Copied::Files(1)
        );
        let abs = work.path().join("one.txt");
        let abs = abs.to_str().unwrap();
        assert_eq!(
            copy(work.path(), abs, into.path()).unwrap(),
            Copied::Files(1)
        );
        assert!(into.path().join(abs.trim_start_matches('/')).is_file());
    }

    #[test]
    fn missing_paths_and_parent_escapes_copy_nothing() {
        let work = tempfile::tempdir().unwrap();
        let into = tempfile::tempdir().unwrap();
        assert_eq!(
            copy(work.path(), "nope", into.path()).unwrap(),
            Copied::Missing
        );
        assert_eq!(
            copy(work.path(), "../etc/passwd", into.path()).unwrap(),
            Copied::Refused
        );
        assert_eq!(std::fs::read_dir(into.path()).unwrap().count(), 0);
    }
}
