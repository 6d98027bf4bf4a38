//! The runner binary the engine mounts into every container.
//!
//! The engine's build script builds the runner for a static Linux target and this module embeds
//! it; on first use it is written to the user's cache folder under its hash
//! (`~/.cache/engine/runner/<hash>/runner`), so an installed `engine` needs no other file.
//! `ENGINE_RUNNER=PATH` uses another runner instead (for working on the runner itself).

use std::io::Write;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

/// The runner built with this engine.
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/runner"));
/// The target it was built for.
pub const EMBEDDED_TARGET: &str = env!("ENGINE_RUNNER_TARGET");

/// Where the runner in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Built into this engine, written out to the cache folder.
    Embedded,
    /// `$ENGINE_RUNNER`.
    Environment,
}

/// The runner in use: where it is, where it came from, and what it is.
#[derive(Debug, Clone)]
pub struct RunnerBinary {
    pub path: PathBuf,
    pub origin: Origin,
    /// The build target, when known (the embedded one).
    pub target: Option<String>,
    /// No program interpreter (dynamic loader): runs without the container's C library.
    pub is_static: bool,
    /// blake3 of the file, hex.
    pub hash: String,
}

impl RunnerBinary {
    /// One line for `--version` and `engine doctor`.
    pub fn describe(&self) -> String {
        let linking = if self.is_static {
            "static"
        } else {
            "dynamically linked"
        };
        let origin = match self.origin {
            Origin::Embedded => "embedded",
            Origin::Environment => "from ENGINE_RUNNER",
        };
        let target = self.target.as_deref().unwrap_or("unknown target");
        format!(
            "{} ({origin}, {target}, {linking}, blake3 {})",
            self.path.display(),
            &self.hash[..12]
        )
    }
}

#[derive(Debug, Error, Diagnostic)]
pub enum RunnerError {
    #[error("ENGINE_RUNNER={0} is not a file")]
    #[diagnostic(
        code(runner::override_missing),
        help("unset ENGINE_RUNNER to use the runner built into this engine")
    )]
    OverrideMissing(PathBuf),
    #[error("cannot read the runner at {path}: {source}")]
    #[diagnostic(code(runner::unreadable))]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the runner to {path}: {source}")]
    #[diagnostic(
        code(runner::cache_unwritable),
        help("set XDG_CACHE_HOME to a writable folder that the Docker daemon can also read")
    )]
    Unwritable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The runner to mount: `$ENGINE_RUNNER`, else the embedded one, written out when missing.
pub fn locate() -> Result<RunnerBinary, RunnerError> {
    if let Some(p) = std::env::var_os("ENGINE_RUNNER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(p);
        if !path.is_file() {
            return Err(RunnerError::OverrideMissing(path));
        }
        let bytes = std::fs::read(&path).map_err(|source| RunnerError::Unreadable {
            path: path.clone(),
            source,
        })?;
        let path = path.canonicalize().unwrap_or(path);
        return Ok(RunnerBinary {
            path,
            origin: Origin::Environment,
            target: None,
            is_static: elf_is_static(&bytes).unwrap_or(false),
            hash: blake3::hash(&bytes).to_hex().to_string(),
        });
    }
    let hash = blake3::hash(EMBEDDED).to_hex().to_string();
    let path = write_out(&cache_root().join(&hash[..16]), &hash)?;
    Ok(RunnerBinary {
        path,
        origin: Origin::Embedded,
        target: Some(EMBEDDED_TARGET.to_string()),
        is_static: elf_is_static(EMBEDDED).unwrap_or(false),
        hash,
    })
}

/// `$XDG_CACHE_HOME/engine/runner`, else `~/.cache/engine/runner`, else under the temp folder.
fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(|| {
            let uid = rustix::process::getuid().as_raw();
            std::env::temp_dir().join(format!("engine-{uid}"))
        });
    base.join("engine").join("runner")
}

/// The embedded runner at `dir/runner`, written (atomically: concurrent engines may race) unless
/// a file with the same content is already there.
fn write_out(dir: &Path, hash: &str) -> Result<PathBuf, RunnerError> {
    let path = dir.join("runner");
    if std::fs::read(&path).is_ok_and(|b| blake3::hash(&b).to_hex().as_str() == hash) {
        return Ok(path);
    }
    let unwritable = |source| RunnerError::Unwritable {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    let tmp = dir.join(format!(".runner.{}", std::process::id()));
    let written = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o755)
            .open(&tmp)?;
        f.write_all(EMBEDDED)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(unwritable(e));
    }
    Ok(path)
}

/// Whether an ELF file is statically linked: it has no `PT_INTERP` program header (no dynamic
/// loader). `None` when the bytes are not an ELF file this reads (64-bit, either byte order).
pub fn elf_is_static(bytes: &[u8]) -> Option<bool> {
    const PT_INTERP: u64 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return None;
    }
    let big = bytes[5] == 2;
    // An unsigned field of `len` bytes at `at`, in the file's byte order.
    let field = |at: usize, len: usize| -> Option<u64> {
        let b = bytes.get(at..at + len)?;
        let fold = |acc: u64, byte: &u8| (acc << 8) | u64::from(*byte);
        Some(if big {
            b.iter().fold(0, fold)
        } else {
            b.iter().rev().fold(0, fold)
        })
    };
    let phoff = usize::try_from(field(0x20, 8)?).ok()?;
    let phentsize = usize::try_from(field(0x36, 2)?).ok()?;
    let phnum = usize::try_from(field(0x38, 2)?).ok()?;
    for i in 0..phnum {
        if field(phoff + i * phentsize, 4)? == PT_INTERP {
            return Some(false);
        }
    }
    Some(true)
}

/// The runner's description for `engine --version`, without writing anything. Built for every
/// command line (clap wants it up front), so it reads only the ELF headers: the hash and the
/// path are `engine doctor`'s.
pub fn version_note() -> String {
    let linking = match elf_is_static(EMBEDDED) {
        Some(true) => "static",
        Some(false) => "dynamically linked",
        None => "not an ELF file",
    };
    format!(
        "runner {} ({EMBEDDED_TARGET}, {linking}, embedded; ENGINE_RUNNER overrides; `engine doctor` shows its hash and path)",
        runner_protocol::VERSION,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_runner_is_a_static_elf_for_a_musl_target() {
        assert_eq!(elf_is_static(EMBEDDED), Some(true), "{EMBEDDED_TARGET}");
        assert!(
            EMBEDDED_TARGET.ends_with("-linux-musl"),
            "{EMBEDDED_TARGET}"
        );
    }

    #[test]
    fn a_dynamically_linked_program_is_told_apart() {
        // The test binary itself is linked against the host's C library.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(elf_is_static(&me), Some(false));
        assert_eq!(elf_is_static(b"#!/bin/sh\necho not elf\n"), None);
    }

    #[test]
    fn writing_out_is_idempotent_and_repairs_a_damaged_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let hash = blake3::hash(EMBEDDED).to_hex().to_string();
        let p = write_out(tmp.path(), &hash).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), EMBEDDED);
        std::fs::write(&p, b"damaged").unwrap();
        let again = write_out(tmp.path(), &hash).unwrap();
        assert_eq!(again, p);
        assert_eq!(std::fs::read(&p).unwrap(), EMBEDDED);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "executable: {mode:o}");
        // Nothing but the runner is left in the folder.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
