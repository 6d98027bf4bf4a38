//! Globs of distro files and suite folders, relative to the matrix file.

use std::path::{Path, PathBuf};

/// Files (or folders, when `dirs`) under `root` matching `pattern`, sorted by path.
/// An invalid pattern matches nothing (the caller reports "matches no file" at its span).
pub fn expand(root: &Path, pattern: &str, dirs: bool) -> Vec<PathBuf> {
    let pattern = pattern.trim_start_matches("./");
    let Ok(glob) = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
    else {
        return Vec::new();
    };
    let matcher = glob.compile_matcher();
    // Walk only below the pattern's literal prefix, and no deeper than it can match.
    let segments: Vec<&str> = pattern.split('/').collect();
    let literal = segments
        .iter()
        .take_while(|s| !s.contains(['*', '?', '[', '{']))
        .count();
    let base = segments[..literal.min(segments.len())].join("/");
    let max_depth = if pattern.contains("**") {
        usize::MAX
    } else {
        segments.len() - literal.min(segments.len())
    };
    let start = root.join(&base);
    if literal == segments.len() {
        // No glob characters: the path itself.
        let ok = if dirs {
            start.is_dir()
        } else {
            start.is_file()
        };
        return if ok {
            vec![canonical(&start)]
        } else {
            Vec::new()
        };
    }
    // Symlinks followed (a linked suite folder is a suite); nothing ignored (this is not git).
    let mut out: Vec<PathBuf> = ignore::WalkBuilder::new(&start)
        .standard_filters(false)
        .follow_links(true)
        .max_depth(Some(max_depth))
        .build()
        .flatten()
        .filter(|e| e.depth() > 0)
        .filter(|e| {
            e.file_type()
                .is_some_and(|t| if dirs { t.is_dir() } else { t.is_file() })
        })
        .filter(|e| matcher.is_match(e.path().strip_prefix(root).unwrap_or(e.path())))
        .map(|e| canonical(e.path()))
        .collect();
    out.sort();
    out
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_dirs() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("distros")).unwrap();
        std::fs::write(t.path().join("distros/b.toml"), "").unwrap();
        std::fs::write(t.path().join("distros/a.toml"), "").unwrap();
        std::fs::write(t.path().join("distros/notes.md"), "").unwrap();
        std::fs::create_dir_all(t.path().join("suites/one")).unwrap();
        std::fs::create_dir_all(t.path().join("suites/two/nested")).unwrap();
        let files = expand(t.path(), "distros/*.toml", false);
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["a.toml", "b.toml"]);
        let dirs = expand(t.path(), "suites/*", true);
        assert_eq!(dirs.len(), 2);
        assert!(expand(t.path(), "nothing/*", true).is_empty());
    }
}
