//! The build context: a deterministic tar of a context folder that honours `.dockerignore`,
//! and a content hash of the same file set that the planner uses as a cache key.
//!
//! Deterministic means: entries in sorted order, uid/gid 0, a fixed mtime, and modes
//! normalised to 0644/0755 (executable or not), so the same content gives the same bytes on
//! every machine and checkout, whatever the umask or the file times.
//!
//! Below both users: `plan` hashes a context for image cache keys, `docker` sends its tar.

mod dockerignore;
mod reads;

pub use dockerignore::DockerIgnore;
pub use reads::{ReadMatcher, Reads};

use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

/// The mtime of every entry in a context tar.
pub const CONTEXT_MTIME: u64 = 0;

/// Bumped whenever the tar layout changes, so old cache keys stop matching.
const HASH_DOMAIN: &[u8] = b"engine-build-context-v1\0";

#[derive(Debug, Error, Diagnostic)]
pub enum ContextError {
    #[error("cannot read the build context at {path}")]
    #[diagnostic(code(engine::docker::context_read))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "the Dockerfile path {dockerfile} must be relative to the build context and stay inside it"
    )]
    #[diagnostic(
        code(engine::docker::dockerfile_outside),
        help("give the Dockerfile as a path relative to the context folder, e.g. `Dockerfile`")
    )]
    DockerfileOutside { dockerfile: PathBuf },

    #[error("the Dockerfile {path} does not exist")]
    #[diagnostic(code(engine::docker::dockerfile_missing))]
    DockerfileMissing { path: PathBuf },

    #[error("{path} has a name that is not valid UTF-8")]
    #[diagnostic(
        code(engine::docker::context_path),
        help("rename the file or list it in .dockerignore")
    )]
    NonUtf8Path { path: PathBuf },
}

#[derive(Debug)]
enum Kind {
    Dir,
    File { executable: bool, size: u64 },
    Symlink { target: PathBuf },
}

#[derive(Debug)]
struct Entry {
    /// Relative to the context root, `/`-separated.
    rel: String,
    abs: PathBuf,
    kind: Kind,
}

/// The tar of a build context, ready to send to the daemon.
pub fn tar_context(context_dir: &Path, dockerfile: &Path) -> Result<Vec<u8>, ContextError> {
    let entries = collect(context_dir, dockerfile)?;
    write_tar(&entries, Vec::new())
}

/// The relative paths that [`tar_context`] would send, in tar order (directories included).
pub fn context_paths(context_dir: &Path, dockerfile: &Path) -> Result<Vec<String>, ContextError> {
    Ok(collect(context_dir, dockerfile)?
        .into_iter()
        .map(|e| e.rel)
        .collect())
}

/// blake3 (hex) of the context tar plus `extra` (e.g. build args; order does not matter).
pub fn context_hash(
    context_dir: &Path,
    dockerfile: &Path,
    extra: &[(&str, &str)],
) -> Result<String, ContextError> {
    let entries = collect(context_dir, dockerfile)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(HASH_DOMAIN);
    let mut hasher = write_tar(&entries, hasher)?;
    let mut extra = extra.to_vec();
    extra.sort();
    for (key, value) in extra {
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        for part in [key, value] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// What a build can read of its context: the Dockerfile's text, and each context file (or
/// symlink) its `COPY`/`ADD` sources reach, with a short content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReads {
    pub dockerfile: String,
    /// `(relative path, 16 hex digits of its content, mode and kind)`, in path order.
    pub files: Vec<(String, String)>,
    /// The Dockerfile reads the whole context (see [`Reads`]).
    pub whole_context: bool,
}

/// The files of the context that the build can read (see [`Reads`]), hashed one by one.
pub fn build_reads(context_dir: &Path, dockerfile: &Path) -> Result<BuildReads, ContextError> {
    let entries = collect(context_dir, dockerfile)?;
    let dockerfile_path = context_dir.join(dockerfile_in_context(dockerfile)?);
    let text = fs::read_to_string(&dockerfile_path).map_err(|source| ContextError::Read {
        path: dockerfile_path.clone(),
        source,
    })?;
    let reads = Reads::of(&text);
    let matcher = reads.matcher();
    let mut files = Vec::new();
    for entry in entries.iter().filter(|e| matcher.reads(&e.rel)) {
        let mut h = blake3::Hasher::new();
        match &entry.kind {
            Kind::Dir => continue,
            Kind::File { executable, .. } => {
                h.update(if *executable { b"x" } else { b"f" });
                let content = fs::read(&entry.abs).map_err(|source| ContextError::Read {
                    path: entry.abs.clone(),
                    source,
                })?;
                h.update(&content);
            }
            Kind::Symlink { target } => {
                h.update(b"l");
                h.update(target.to_string_lossy().as_bytes());
            }
        }
        files.push((entry.rel.clone(), h.finalize().to_hex()[..16].to_string()));
    }
    Ok(BuildReads {
        dockerfile: text,
        files,
        whole_context: reads == Reads::Whole,
    })
}

/// The Dockerfile path as the daemon expects it: relative, `/`-separated, no `.` or `..`.
pub fn dockerfile_in_context(dockerfile: &Path) -> Result<String, ContextError> {
    let outside = || ContextError::DockerfileOutside {
        dockerfile: dockerfile.to_path_buf(),
    };
    let mut parts = Vec::new();
    for component in dockerfile.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(outside)?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(outside())
            }
        }
    }
    if parts.is_empty() {
        return Err(outside());
    }
    Ok(parts.join("/"))
}

fn collect(context_dir: &Path, dockerfile: &Path) -> Result<Vec<Entry>, ContextError> {
    let dockerfile_rel = dockerfile_in_context(dockerfile)?;
    let ignore_path = context_dir.join(".dockerignore");
    let ignore = match fs::read_to_string(&ignore_path) {
        Ok(text) => DockerIgnore::parse(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(source) => {
            return Err(ContextError::Read {
                path: ignore_path,
                source,
            })
        }
    };

    let mut entries = Vec::new();
    walk(context_dir, &ignore, &mut entries)?;

    // The Dockerfile and .dockerignore are always sent, even when .dockerignore excludes
    // them (as the docker CLI does).
    for forced in [dockerfile_rel.as_str(), ".dockerignore"] {
        if entries.iter().any(|e| e.rel == forced) {
            continue;
        }
        let abs = context_dir.join(forced);
        match fs::symlink_metadata(&abs) {
            Ok(meta) => {
                if let Some(kind) = kind_of(&abs, &meta)? {
                    entries.push(Entry {
                        rel: forced.to_string(),
                        abs,
                        kind,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && forced == ".dockerignore" => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContextError::DockerfileMissing { path: abs })
            }
            Err(source) => return Err(ContextError::Read { path: abs, source }),
        }
    }

    // Component-wise order puts a directory right before its contents.
    entries.sort_by(|a, b| a.rel.split('/').cmp(b.rel.split('/')));
    Ok(entries)
}

/// Every entry of the context that `.dockerignore` keeps, depth first in name order. Symlinks
/// are not followed (they are sent as links); nothing else is ignored (this is not git).
fn walk(root: &Path, ignore: &DockerIgnore, out: &mut Vec<Entry>) -> Result<(), ContextError> {
    let has_exceptions = ignore.has_exceptions();
    let (filter_root, filter_ignore) = (root.to_path_buf(), ignore.clone());
    let walker = ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |e| {
            // Below an excluded folder only a `!` line can bring something back.
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            if !is_dir || e.depth() == 0 || has_exceptions {
                return true;
            }
            relative(&filter_root, e.path()).is_none_or(|rel| !filter_ignore.is_excluded(&rel))
        })
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| ContextError::Read {
            path: root.to_path_buf(),
            source: io::Error::other(e.to_string()),
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let abs = entry.path().to_path_buf();
        let rel =
            relative(root, &abs).ok_or_else(|| ContextError::NonUtf8Path { path: abs.clone() })?;
        if ignore.is_excluded(&rel) {
            continue;
        }
        let meta = fs::symlink_metadata(&abs).map_err(|source| ContextError::Read {
            path: abs.clone(),
            source,
        })?;
        if let Some(kind) = kind_of(&abs, &meta)? {
            out.push(Entry { rel, abs, kind });
        }
    }
    Ok(())
}

/// `path` relative to `root`, `/`-separated; `None` for a name that is not UTF-8.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    rel.to_str()
        .map(|r| r.replace(std::path::MAIN_SEPARATOR, "/"))
}

/// What goes into the tar for a path; `None` for sockets, fifos and devices.
fn kind_of(abs: &Path, meta: &fs::Metadata) -> Result<Option<Kind>, ContextError> {
    use std::os::unix::fs::PermissionsExt;
    let file_type = meta.file_type();
    Ok(if file_type.is_dir() {
        Some(Kind::Dir)
    } else if file_type.is_file() {
        Some(Kind::File {
            executable: meta.permissions().mode() & 0o111 != 0,
            size: meta.len(),
        })
    } else if file_type.is_symlink() {
        let target = fs::read_link(abs).map_err(|source| ContextError::Read {
            path: abs.to_path_buf(),
            source,
        })?;
        Some(Kind::Symlink { target })
    } else {
        None
    })
}

fn write_tar<W: Write>(entries: &[Entry], sink: W) -> Result<W, ContextError> {
    let mut builder = tar::Builder::new(sink);
    for entry in entries {
        let io_err = |source| ContextError::Read {
            path: entry.abs.clone(),
            source,
        };
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(CONTEXT_MTIME);
        match &entry.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, &entry.rel, io::empty())
                    .map_err(io_err)?;
            }
            Kind::File { executable, size } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *executable { 0o755 } else { 0o644 });
                header.set_size(*size);
                let file = fs::File::open(&entry.abs).map_err(io_err)?;
                // `take` keeps the entry at the size in the header if the file grows meanwhile.
                builder
                    .append_data(&mut header, &entry.rel, io::Read::take(file, *size))
                    .map_err(io_err)?;
            }
            Kind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder
                    .append_link(&mut header, &entry.rel, target)
                    .map_err(io_err)?;
            }
        }
    }
    builder.into_inner().map_err(|source| ContextError::Read {
        path: PathBuf::from("<context tar>"),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().expect("test paths have a parent")).expect("mkdir");
        fs::write(path, content).expect("write");
    }

    fn sample() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "Dockerfile", "FROM scratch\n");
        write(
            root,
            ".dockerignore",
            "**/*.log\nsecret\n!keep.log\nDockerfile\n.dockerignore\n",
        );
        write(root, "a.txt", "a");
        write(root, "b/c.txt", "c");
        write(root, "b/d.log", "d");
        write(root, "keep.log", "k");
        write(root, "secret/key", "s");
        dir
    }

    #[test]
    fn file_set_honours_dockerignore_and_forces_dockerfile() {
        let dir = sample();
        let paths = context_paths(dir.path(), Path::new("Dockerfile")).expect("paths");
        assert_eq!(
            paths,
            [
                ".dockerignore",
                "Dockerfile",
                "a.txt",
                "b",
                "b/c.txt",
                "keep.log"
            ]
        );
    }

    #[test]
    fn tar_is_deterministic_across_times_and_modes() {
        let dir = sample();
        let first = tar_context(dir.path(), Path::new("./Dockerfile")).expect("tar");
        // Touch a file (new mtime) and change group/other write bits: same bytes.
        let a = dir.path().join("a.txt");
        fs::write(&a, "a").expect("rewrite");
        fs::set_permissions(&a, fs::Permissions::from_mode(0o664)).expect("chmod");
        let second = tar_context(dir.path(), Path::new("Dockerfile")).expect("tar");
        assert_eq!(first, second);

        let mut archive = tar::Archive::new(first.as_slice());
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let header = entry.header();
            assert_eq!(header.mtime().expect("mtime"), CONTEXT_MTIME);
            assert_eq!(header.uid().expect("uid"), 0);
        }
    }

    #[test]
    fn hash_tracks_content_args_and_exec_bit() {
        let dir = sample();
        let df = Path::new("Dockerfile");
        let base = context_hash(dir.path(), df, &[("A", "1"), ("B", "2")]).expect("hash");
        assert_eq!(base.len(), 64);
        let reordered = context_hash(dir.path(), df, &[("B", "2"), ("A", "1")]).expect("hash");
        assert_eq!(base, reordered, "build-arg order must not matter");
        let other_arg = context_hash(dir.path(), df, &[("A", "1"), ("B", "3")]).expect("hash");
        assert_ne!(base, other_arg);

        // An ignored file does not change the hash; a sent one does.
        write(dir.path(), "b/d.log", "changed");
        assert_eq!(
            base,
            context_hash(dir.path(), df, &[("A", "1"), ("B", "2")]).expect("hash")
        );
        write(dir.path(), "a.txt", "changed");
        let changed = context_hash(dir.path(), df, &[("A", "1"), ("B", "2")]).expect("hash");
        assert_ne!(base, changed);

        let a = dir.path().join("a.txt");
        fs::set_permissions(&a, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_ne!(
            changed,
            context_hash(dir.path(), df, &[("A", "1"), ("B", "2")]).expect("hash")
        );
    }

    #[test]
    fn dockerfile_must_stay_inside_the_context() {
        let dir = sample();
        for bad in ["../Dockerfile", "/etc/Dockerfile", "", "."] {
            let err = tar_context(dir.path(), Path::new(bad)).expect_err(bad);
            assert!(
                matches!(err, ContextError::DockerfileOutside { .. }),
                "{bad}: {err}"
            );
        }
        let err = tar_context(dir.path(), Path::new("nope/Dockerfile")).expect_err("missing");
        assert!(
            matches!(err, ContextError::DockerfileMissing { .. }),
            "{err}"
        );
    }

    #[test]
    fn dockerfile_in_an_ignored_folder_is_still_sent() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "docker/Dockerfile", "FROM scratch\n");
        write(dir.path(), "docker/other", "x");
        write(dir.path(), ".dockerignore", "docker\n");
        let paths = context_paths(dir.path(), Path::new("docker/Dockerfile")).expect("paths");
        assert_eq!(paths, [".dockerignore", "docker/Dockerfile"]);
    }

    #[test]
    fn symlinks_are_sent_as_links() {
        let dir = sample();
        std::os::unix::fs::symlink("a.txt", dir.path().join("link")).expect("symlink");
        let bytes = tar_context(dir.path(), Path::new("Dockerfile")).expect("tar");
        let mut archive = tar::Archive::new(bytes.as_slice());
        let link = archive
            .entries()
            .expect("entries")
            .map(|e| e.expect("entry"))
            .find(|e| e.path().expect("path").as_os_str() == "link")
            .expect("link entry");
        assert_eq!(link.header().entry_type(), tar::EntryType::Symlink);
        assert_eq!(
            link.link_name()
                .expect("link name")
                .expect("target")
                .as_os_str(),
            "a.txt"
        );
    }
}
