//! Writing files that readers never see half of (reports, timings): a temporary file renamed
//! into place; and where the engine's per-machine cache is.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The engine's own cache on this machine, shared by every project: rootfs tars, unpacked
/// workspace archives, the machine-wide locks. `$ENGINE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/engine`, else `~/.cache/engine`.
pub fn machine_cache() -> PathBuf {
    if let Some(d) = std::env::var_os("ENGINE_CACHE_DIR") {
        return d.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("engine")
}

/// Write `bytes` to `path` whole or not at all; creates the parent folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    // A full disk or a failed rename leaves no temporary file behind.
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a folder: the rename fails after the temporary file was written.
        let target = dir.path().join("report.json");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        assert!(write_atomic(&target, b"{}").is_err());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["report.json"]);
        write_atomic(&dir.path().join("ok.json"), b"{}").unwrap();
        assert_eq!(std::fs::read(dir.path().join("ok.json")).unwrap(), b"{}");
    }
}
