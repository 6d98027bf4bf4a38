//! Locks between engine processes on one machine. The scheduler keeps an exclusive cache folder
//! to one node at a time inside a run; two runs (of one project, or of two projects sharing a
//! cache root) need more: an advisory lock (`flock`) on a file beside the folder, held for the
//! node's lifetime. Likewise one cache key is made by one process while the others wait and then
//! reuse its result, instead of building twice. The kernel releases a lock when its holder ends,
//! however it ends.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{flock, FlockOperation};

/// How often a waiting node tries again.
const RETRY: Duration = Duration::from_millis(200);

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct HostLock {
    _file: std::fs::File,
}

/// The lock file of a host folder: beside it, `<folder>.lock`.
pub fn beside(folder: &Path) -> PathBuf {
    let mut name = folder.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Take the lock at `path`, saying once through `waiting` who holds it when it is taken. The
/// holder writes `holder` into the file, for the next waiter to name.
pub async fn acquire(
    path: &Path,
    holder: &str,
    mut waiting: impl FnMut(&str),
) -> std::io::Result<HostLock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let mut said = false;
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                file.set_len(0)?;
                file.rewind()?;
                file.write_all(holder.as_bytes())?;
                return Ok(HostLock { _file: file });
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                if !said {
                    said = true;
                    let mut by = String::new();
                    let _ = file.rewind().and_then(|_| file.read_to_string(&mut by));
                    let by = by.trim();
                    waiting(if by.is_empty() { "another process" } else { by });
                }
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Who holds one of the locks in `dir` right now (the first found), `None` when none is
/// held. Each free lock is taken and released at once; a process that asks for it in that
/// instant waits one retry.
pub fn held_in(dir: &Path) -> Option<String> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "lock") {
            continue;
        }
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        if flock(&file, FlockOperation::NonBlockingLockShared) == Err(rustix::io::Errno::WOULDBLOCK)
        {
            let mut by = String::new();
            let _ = file.read_to_string(&mut by);
            let by = by.trim();
            return Some(if by.is_empty() {
                "another process".into()
            } else {
                by.to_string()
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_taker_waits_names_the_holder_and_gets_it_on_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = beside(&dir.path().join("aur-build/arch"));
        assert!(path.ends_with("aur-build/arch.lock"));
        let first = acquire(&path, "run A (pid 1)", |_| panic!("free"))
            .await
            .unwrap();
        let mut named = String::new();
        let second = acquire(&path, "run B (pid 2)", |by| named = by.to_string());
        let released = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            drop(first);
        };
        let (second, ()) = tokio::join!(second, released);
        let _second = second.unwrap();
        assert_eq!(named, "run A (pid 1)");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "run B (pid 2)");
    }

    #[tokio::test]
    async fn a_held_lock_in_a_folder_is_found_with_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(held_in(dir.path()), None);
        let one = acquire(&dir.path().join("a.lock"), "run A, image:arch", |_| {})
            .await
            .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a lock").unwrap();
        assert_eq!(held_in(dir.path()).as_deref(), Some("run A, image:arch"));
        drop(one);
        assert_eq!(held_in(dir.path()), None);
        // Looking took nothing: the lock can be had at once.
        let _again = acquire(&dir.path().join("a.lock"), "run B", |_| panic!("free"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_waiter_that_is_dropped_holds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.lock");
        let first = acquire(&path, "one", |_| {}).await.unwrap();
        let waited =
            tokio::time::timeout(Duration::from_millis(300), acquire(&path, "two", |_| {})).await;
        assert!(waited.is_err(), "took a held lock");
        drop(first);
        let _third = acquire(&path, "three", |_| panic!("free")).await.unwrap();
    }
}
