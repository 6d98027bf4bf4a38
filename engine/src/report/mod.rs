//! Results for people and tools: the live lines, the summary grid, the JSON report.

pub mod json;
pub mod live;
pub mod summary;

use std::io::Write;
use std::path::Path;

/// Write a file so that readers never see half of it: a temporary file renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
