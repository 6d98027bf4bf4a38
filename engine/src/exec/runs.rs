//! The run folders under `.engine/runs/`: `latest` points at the newest, and only the last N are
//! kept, so that the folder does not grow without bound.

use std::path::Path;

/// Point `runs/latest` at `run_id` (a relative symlink, replaced atomically).
pub fn mark_latest(runs: &Path, run_id: &str) -> std::io::Result<()> {
    let tmp = runs.join(format!(".latest.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(run_id, &tmp)?;
    std::fs::rename(&tmp, runs.join("latest"))
}

/// Remove all but the newest `keep` run folders (run ids sort by time), never `current`.
/// Returns how many were removed.
pub fn prune(runs: &Path, keep: usize, current: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return 0;
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    ids.sort();
    let excess = ids.len().saturating_sub(keep.max(1));
    ids.into_iter()
        .take(excess)
        .filter(|id| id != current)
        .filter(|id| std::fs::remove_dir_all(runs.join(id)).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_follows_the_newest_run_and_old_runs_go() {
        let t = tempfile::tempdir().unwrap();
        let runs = t.path();
        for id in [
            "20261201-000001-aaaa",
            "20261201-000002-bbbb",
            "20261201-000003-cccc",
        ] {
            std::fs::create_dir_all(runs.join(id).join("logs")).unwrap();
            mark_latest(runs, id).unwrap();
        }
        let latest = std::fs::read_link(runs.join("latest")).unwrap();
        assert_eq!(latest, Path::new("20261201-000003-cccc"));
        assert!(runs.join("latest/logs").is_dir(), "the link resolves");
        assert_eq!(prune(runs, 2, "20261201-000003-cccc"), 1);
        assert!(!runs.join("20261201-000001-aaaa").exists());
        assert!(runs.join("20261201-000002-bbbb").exists());
        assert!(runs.join("latest").exists(), "the link is not a run");
        // The current run is never removed, even when it is the oldest.
        assert_eq!(prune(runs, 1, "20261201-000002-bbbb"), 0);
        assert!(runs.join("20261201-000002-bbbb").exists());
    }
}
