//! A workspace given as a source archive (a release tarball, a fixture): unpacked once per
//! machine into the engine's cache, in a folder named by the archive's content hash, so that
//! every later load finds it and no two versions of an archive share a folder.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::files::machine_cache;

/// Why an archive could not be made a workspace.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not a tar archive, plain or gzip-compressed ({found})")]
    Format { path: PathBuf, found: &'static str },
    #[error("cannot unpack `{path}` into `{into}`: {source}")]
    Unpack {
        path: PathBuf,
        into: PathBuf,
        source: std::io::Error,
    },
}

/// The folder holding the archive's content, with its one top folder (`NAME-VERSION/`)
/// stripped when it has one. Unpacks it first unless an earlier load did.
pub fn unpacked(archive: &Path) -> Result<PathBuf, ArchiveError> {
    unpacked_in(archive, &machine_cache().join("workspaces"))
}

fn unpacked_in(archive: &Path, cache: &Path) -> Result<PathBuf, ArchiveError> {
    let bytes = std::fs::read(archive).map_err(|source| ArchiveError::Read {
        path: archive.to_path_buf(),
        source,
    })?;
    let hash = blake3::hash(&bytes).to_hex();
    let dest = cache.join(format!("{}-{}", stem(archive), &hash[..16]));
    if dest.is_dir() {
        return Ok(dest);
    }
    let tar = decompress(archive, &bytes)?;
    let unpack_err = |source| ArchiveError::Unpack {
        path: archive.to_path_buf(),
        into: dest.clone(),
        source,
    };
    std::fs::create_dir_all(cache).map_err(unpack_err)?;
    // Unpacked beside its final place and renamed: a reader sees the whole tree or none, and
    // two engines unpacking at once both end with one folder.
    let tmp = cache.join(format!(".unpacking-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = tar::Archive::new(tar.as_slice())
        .unpack(&tmp)
        .and_then(|()| {
            let root = single_folder(&tmp).unwrap_or_else(|| tmp.clone());
            match std::fs::rename(&root, &dest) {
                Err(_) if dest.is_dir() => Ok(()),
                other => other,
            }
        });
    // Nothing half-unpacked is left, whatever happened.
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|()| dest.clone()).map_err(unpack_err)
}

/// The archive's name without its extensions: `oxidizr-arch-d9480f9`.
fn stem(archive: &Path) -> String {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "archive".into());
    let mut stem = name.as_str();
    for ext in [".tar.gz", ".tgz", ".tar"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
            break;
        }
    }
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The tar inside: gzip by its magic bytes, else a plain tar (by the `ustar` mark).
fn decompress(archive: &Path, bytes: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    let format = |found| ArchiveError::Format {
        path: archive.to_path_buf(),
        found,
    };
    match bytes {
        [0x1f, 0x8b, ..] => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|source| ArchiveError::Read {
                    path: archive.to_path_buf(),
                    source,
                })?;
            Ok(out)
        }
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Err(format("zstd-compressed; give a .tar or .tar.gz")),
        [0xfd, b'7', b'z', b'X', b'Z', ..] => Err(format("xz-compressed; give a .tar or .tar.gz")),
        b if b.len() > 262 && &b[257..262] == b"ustar" => Ok(b.to_vec()),
        _ => Err(format("unknown content")),
    }
}

/// The one folder a tree holds, when it holds nothing else.
fn single_folder(dir: &Path) -> Option<PathBuf> {
    let mut entries = std::fs::read_dir(dir).ok()?;
    let only = entries.next()?.ok()?;
    if entries.next().is_some() || !only.file_type().ok()?.is_dir() {
        return None;
    }
    Some(only.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, text) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o755);
            h.set_cksum();
            b.append_data(&mut h, path, text.as_bytes()).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn unpacks_once_strips_the_top_folder_and_keeps_modes() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("proj-1.0.tar.gz");
        std::fs::write(
            &archive,
            tar_gz(&[
                ("proj-1.0/tests/a/task.yaml", "x"),
                ("proj-1.0/run.sh", "y"),
            ]),
        )
        .unwrap();
        let cache = dir.path().join("cache");
        let at = unpacked_in(&archive, &cache).unwrap();
        assert!(at
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("proj-1.0-"));
        assert_eq!(
            std::fs::read_to_string(at.join("tests/a/task.yaml")).unwrap(),
            "x"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(at.join("run.sh"))
                .unwrap()
                .permissions()
                .mode()
                & 0o111,
            0o111
        );
        // A second load finds it; nothing else is left in the cache.
        std::fs::write(at.join("marker"), "").unwrap();
        assert_eq!(unpacked_in(&archive, &cache).unwrap(), at);
        assert!(at.join("marker").exists());
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
        // Another content is another folder.
        std::fs::write(&archive, tar_gz(&[("proj-1.0/run.sh", "z")])).unwrap();
        assert_ne!(unpacked_in(&archive, &cache).unwrap(), at);
    }

    #[test]
    fn several_top_entries_are_kept_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("flat.tgz");
        std::fs::write(&archive, tar_gz(&[("a.txt", "1"), ("b/c.txt", "2")])).unwrap();
        let at = unpacked_in(&archive, &dir.path().join("cache")).unwrap();
        assert!(at.join("a.txt").is_file() && at.join("b/c.txt").is_file());
    }

    #[test]
    fn what_is_not_a_tar_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("x.tar.zst");
        std::fs::write(&archive, [0x28, 0xb5, 0x2f, 0xfd, 0, 0]).unwrap();
        let e = unpacked_in(&archive, &dir.path().join("cache")).unwrap_err();
        assert!(e.to_string().contains("zstd-compressed"), "{e}");
        let e =
            unpacked_in(&dir.path().join("missing.tar"), &dir.path().join("cache")).unwrap_err();
        assert!(e.to_string().starts_with("cannot read"), "{e}");
    }
}
