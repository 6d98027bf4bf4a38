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

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Char(char),
    /// `?`: one character other than `/`.
    AnyChar,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` followed by more pattern: nothing, or anything ending in `/`.
    AnyDirs,
    /// `**` at the end: anything at all.
    AnyRest,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
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
                    tokens: tokenize(&cleaned),
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
            let hit = matches(&pattern.tokens, path)
                || parents
                    .iter()
                    .any(|parent| matches(&pattern.tokens, parent));
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

fn tokenize(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                // `**/` is the same as `**`.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                tokens.push(if i >= chars.len() {
                    Token::AnyRest
                } else {
                    Token::AnyDirs
                });
                continue;
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::AnyChar),
            '\\' => match chars.get(i + 1) {
                Some(&c) => {
                    tokens.push(Token::Char(c));
                    i += 1;
                }
                None => tokens.push(Token::Char('\\')),
            },
            '[' => match parse_class(&chars[i + 1..]) {
                Some((token, used)) => {
                    tokens.push(token);
                    i += used;
                }
                None => tokens.push(Token::Char('[')),
            },
            c => tokens.push(Token::Char(c)),
        }
        i += 1;
    }
    tokens
}

/// Parses the inside of `[...]`; returns the token and how many characters it used,
/// including the closing `]`. An unterminated class is taken literally.
fn parse_class(chars: &[char]) -> Option<(Token, usize)> {
    let mut i = 0;
    let negated = chars.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *chars.get(i)?
        } else {
            c
        };
        i += 1;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
            let hi = chars[i + 1];
            ranges.push((lo, hi));
            i += 2;
        } else {
            ranges.push((lo, lo));
        }
    }
}

/// Whole-string match of `path` against the tokens (a backtracking matcher; paths are short).
fn matches(tokens: &[Token], path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    match_from(tokens, &chars)
}

fn match_from(tokens: &[Token], path: &[char]) -> bool {
    let Some((token, rest)) = tokens.split_first() else {
        return path.is_empty();
    };
    match token {
        Token::Char(c) => path.first() == Some(c) && match_from(rest, &path[1..]),
        Token::AnyChar => path.first().is_some_and(|c| *c != '/') && match_from(rest, &path[1..]),
        Token::Class { negated, ranges } => {
            path.first()
                .is_some_and(|c| ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated)
                && match_from(rest, &path[1..])
        }
        Token::Star => {
            let run = path.iter().take_while(|c| **c != '/').count();
            (0..=run).any(|n| match_from(rest, &path[n..]))
        }
        Token::AnyDirs => {
            match_from(rest, path)
                || path
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == '/')
                    .any(|(i, _)| match_from(rest, &path[i + 1..]))
        }
        Token::AnyRest => true,
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
    ];

    #[test]
    fn dockerignore_table() {
        for (text, path, want) in CASES {
            let got = DockerIgnore::parse(text).is_excluded(path);
            assert_eq!(got, *want, "pattern {text:?} on path {path:?}");
        }
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
