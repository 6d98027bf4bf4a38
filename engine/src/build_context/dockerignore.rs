//! `.dockerignore` with Docker's own semantics (moby/patternmatcher), so the context the engine
//! sends is the one `docker build` would send.
//!
//! - one pattern per line; lines starting with `#` are comments; blank lines are skipped
//! - patterns are relative to the context root; they are cleaned like Go's `filepath.Clean`
//!   (so a leading `/`, `./` and a trailing `/` do not matter)
//! - `*` matches any run of characters except `/`, `?` one character except `/`, `[..]` a class
//!   (`[^..]` negated), `\` escapes; `**` matches any number of directories (also none)
//! - a pattern that matches a directory also matches everything below it
//! - `!pattern` re-includes; the last matching line wins
//!
//! Each pattern is compiled by globset (linear-time matching; braces escaped, since Docker has
//! no alternatives); the conformance table below holds the cases.

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    /// `None`: a pattern that does not compile matches nothing.
    matcher: Option<globset::GlobMatcher>,
}

/// Docker's rules in globset's terms: `*` and `?` stop at `/`, `\` escapes, and braces are
/// literal (globset would read `{a,b}` as alternatives; Docker does not).
fn compile(pattern: &str) -> Option<globset::GlobMatcher> {
    let mut escaped = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                escaped.push(c);
                if let Some(next) = chars.next() {
                    escaped.push(next);
                }
            }
            '{' | '}' | ',' => {
                escaped.push('\\');
                escaped.push(c);
            }
            c => escaped.push(c),
        }
    }
    globset::GlobBuilder::new(&escaped)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> DockerIgnore {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let patterns = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let line = line.trim();
                if line.is_empty() {
                    return None;
                }
                let (exclusion, body) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let mut cleaned = clean_path(body);
                if cleaned.len() > 1 && cleaned.starts_with('/') {
                    cleaned.remove(0);
                }
                Some(Pattern {
                    exclusion,
                    matcher: compile(&cleaned),
                })
            })
            .collect();
        DockerIgnore { patterns }
    }

    /// True when there is at least one `!` line: excluded directories must then still be
    /// walked, because something below them may be re-included.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context root, `/`-separated) is excluded from the context.
    pub fn is_excluded(&self, path: &str) -> bool {
        let parents: Vec<&str> = parent_prefixes(path).collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            // An exception can only flip an excluded path back, and vice versa.
            if pattern.exclusion != excluded {
                continue;
            }
            let Some(m) = &pattern.matcher else {
                continue;
            };
            let hit = m.is_match(path) || parents.iter().any(|parent| m.is_match(parent));
            if hit {
                excluded = !pattern.exclusion;
            }
        }
        excluded
    }
}

/// `a`, `a/b` for `a/b/c`: the directories a path lies in.
fn parent_prefixes(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Go's `filepath.Clean` on `/`-separated paths.
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (dockerignore text, path, excluded?)
    const CASES: &[(&str, &str, bool)] = &[
        ("", "a", false),
        ("a", "a", true),
        ("a", "b", false),
        ("a", "a/b/c", true),
        ("a", "ab", false),
        ("a", "x/a", false),
        ("/a", "a", true),
        ("./a/", "a/b", true),
        ("a/../b", "b", true),
        ("# a comment\na", "a", true),
        ("#a", "#a", false),
        ("  a  ", "a", true),
        ("*.md", "README.md", true),
        ("*.md", "docs/README.md", false),
        ("*/*.md", "docs/README.md", true),
        ("*", "x/y", true),
        ("?.txt", "a.txt", true),
        ("?.txt", "ab.txt", false),
        ("a?b", "a/b", false),
        ("**/*.md", "README.md", true),
        ("**/*.md", "x/y/README.md", true),
        ("**/*.md", "x/y/README.txt", false),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true),
        ("a/**/b", "a/x/y/c", false),
        ("a/**", "a/x/y", true),
        ("a/**", "b/x", false),
        ("**", "anything/at/all", true),
        ("[a-c].txt", "b.txt", true),
        ("[a-c].txt", "d.txt", false),
        ("[^a-c].txt", "d.txt", true),
        ("[^a-c].txt", "a.txt", false),
        ("\\*.txt", "*.txt", true),
        ("\\*.txt", "a.txt", false),
        ("a.b", "axb", false),
        ("*.log\n!keep.log", "keep.log", false),
        ("*.log\n!keep.log", "other.log", true),
        ("!keep.log\n*.log", "keep.log", true),
        ("build\n!build/keep", "build/keep", false),
        ("build\n!build/keep", "build/drop", true),
        ("build\n!build/keep", "build/keep/deep", false),
        ("*\n!src\nsrc/*.tmp", "src/a.rs", false),
        ("*\n!src\nsrc/*.tmp", "src/a.tmp", true),
        ("*\n!src\nsrc/*.tmp", "Cargo.toml", true),
        ("!a", "a", false),
        ("\u{feff}a", "a", true),
        // Braces are literal for Docker (no alternatives).
        ("{a,b}", "a", false),
        ("{a,b}", "{a,b}", true),
    ];

    #[test]
    fn dockerignore_table() {
        for (text, path, want) in CASES {
            let got = DockerIgnore::parse(text).is_excluded(path);
            assert_eq!(got, *want, "pattern {text:?} on path {path:?}");
        }
    }

    /// A pattern that made the old backtracking matcher exponential answers at once.
    #[test]
    fn a_pathological_pattern_is_fast() {
        let ignore = DockerIgnore::parse("*a*a*a*a*a*a*a*a*a*a*a*a*a*b");
        let path = "a".repeat(200);
        let start = std::time::Instant::now();
        assert!(!ignore.is_excluded(&path));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn exceptions_are_detected() {
        assert!(DockerIgnore::parse("a\n!a/b").has_exceptions());
        assert!(!DockerIgnore::parse("a\n# !b").has_exceptions());
    }

    #[test]
    fn clean_path_like_go() {
        for (raw, want) in [
            ("a/", "a"),
            ("./a", "a"),
            ("a//b", "a/b"),
            ("a/./b/../c", "a/c"),
            ("/../a", "/a"),
            ("../a", "../a"),
            ("", "."),
            ("/", "/"),
        ] {
            assert_eq!(clean_path(raw), want, "{raw:?}");
        }
    }
}
