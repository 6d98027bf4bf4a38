//! What a Dockerfile can read from its build context: the sources of its `COPY` and `ADD`
//! instructions (not those copying `--from` another stage or image, not URLs, not heredocs), so
//! that an image's cache key covers exactly those files and an edit elsewhere rebuilds nothing.
//!
//! Whatever this reading cannot be sure of means the whole context: a variable in a source
//! (`COPY ${DIR} /x`), a bind mount of the context (`RUN --mount=type=bind`, the default mount
//! type), an escape directive other than `\`.

use globset::{GlobBuilder, GlobMatcher};

/// The part of the context a Dockerfile reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reads {
    /// Everything the context holds (after `.dockerignore`).
    Whole,
    /// The sources of `COPY`/`ADD`, relative to the context root, `/`-separated; each may be a
    /// file, a folder (everything below it), or a pattern (`*`, `?`, `[...]` within one name).
    Sources(Vec<String>),
}

impl Reads {
    /// What `dockerfile` (its text) reads.
    pub fn of(dockerfile: &str) -> Reads {
        let mut sources = Vec::new();
        for instruction in instructions(dockerfile) {
            let Some(instruction) = instruction else {
                return Reads::Whole;
            };
            let (word, rest) = split_word(&instruction);
            match word.to_ascii_uppercase().as_str() {
                "COPY" | "ADD" => match copy_sources(rest) {
                    Some(s) => sources.extend(s),
                    None => return Reads::Whole,
                },
                "RUN" if binds_context(rest) => return Reads::Whole,
                _ => {}
            }
        }
        match sources.iter().any(|s| s.is_empty()) {
            // `COPY . /src`: the whole context.
            true => Reads::Whole,
            false => Reads::Sources(sources),
        }
    }

    /// A matcher for context paths this Dockerfile reads.
    pub fn matcher(&self) -> ReadMatcher {
        match self {
            Reads::Whole => ReadMatcher { globs: None },
            Reads::Sources(sources) => ReadMatcher {
                globs: Some(
                    sources
                        .iter()
                        .map(|s| {
                            // As Docker's: `*` stays within one name. A source that is no
                            // valid pattern is taken literally.
                            let glob = |p: &str| {
                                GlobBuilder::new(p)
                                    .literal_separator(true)
                                    .build()
                                    .map(|g| g.compile_matcher())
                            };
                            glob(s).or_else(|_| glob(&globset::escape(s)))
                        })
                        .collect::<Result<_, _>>()
                        .unwrap_or_default(),
                ),
            },
        }
    }
}

/// Tells whether a context path (relative, `/`-separated) is read by the build.
pub struct ReadMatcher {
    globs: Option<Vec<GlobMatcher>>,
}

impl ReadMatcher {
    pub fn reads(&self, rel: &str) -> bool {
        let Some(globs) = &self.globs else {
            return true;
        };
        // A source naming a folder reads everything below it: test the path and its parents.
        let mut prefix = rel;
        loop {
            if globs.iter().any(|g| g.is_match(prefix)) {
                return true;
            }
            match prefix.rfind('/') {
                Some(i) => prefix = &prefix[..i],
                None => return false,
            }
        }
    }
}

/// The instructions of a Dockerfile, continuation lines joined and comments and heredoc
/// bodies left out; `None` for something that makes the reading unsure (an escape directive).
fn instructions(text: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    let mut directives = true;
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if directives {
            if let Some(d) = trimmed.strip_prefix('#') {
                let d = d.trim().to_ascii_lowercase().replace(' ', "");
                if d.strip_prefix("escape=").is_some_and(|v| v != "\\") {
                    out.push(None);
                    return out;
                }
                continue;
            }
            directives = false;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut joined = String::new();
        let mut current = trimmed.to_string();
        loop {
            match current.strip_suffix('\\') {
                Some(head) => {
                    joined.push_str(head);
                    joined.push(' ');
                    // Comment lines inside a continued instruction are dropped, as Docker does.
                    let next = loop {
                        match lines.next() {
                            Some(l) if l.trim().starts_with('#') => continue,
                            other => break other,
                        }
                    };
                    match next {
                        Some(l) => current = l.trim().to_string(),
                        None => break,
                    }
                }
                None => {
                    joined.push_str(&current);
                    break;
                }
            }
        }
        for delimiter in heredoc_delimiters(&joined) {
            for body in lines.by_ref() {
                if body.trim() == delimiter {
                    break;
                }
            }
        }
        out.push(Some(joined));
    }
    out
}

/// The delimiters of the heredocs an instruction opens (`<<EOF`, `<<-EOF`, `<<"EOF"`).
fn heredoc_delimiters(instruction: &str) -> Vec<String> {
    instruction
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("<<"))
        .map(|w| w.trim_start_matches('-').trim_matches(['"', '\'']))
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .map(str::to_string)
        .collect()
}

fn split_word(instruction: &str) -> (&str, &str) {
    let instruction = instruction.trim_start();
    match instruction.find(char::is_whitespace) {
        Some(i) => (&instruction[..i], instruction[i..].trim_start()),
        None => (instruction, ""),
    }
}

/// The context sources of one `COPY`/`ADD` (empty when it reads none); `None` when unsure.
fn copy_sources(rest: &str) -> Option<Vec<String>> {
    let mut rest = rest.trim_start();
    let mut flags = Vec::new();
    while rest.starts_with("--") {
        let (flag, tail) = split_word(rest);
        flags.push(flag);
        rest = tail;
    }
    if flags.iter().any(|f| f.starts_with("--from")) {
        return Some(Vec::new());
    }
    let args: Vec<String> = if rest.starts_with('[') {
        serde_json::from_str(rest).ok()?
    } else {
        rest.split_whitespace().map(str::to_string).collect()
    };
    let Some((_dest, sources)) = args.split_last() else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    for s in sources {
        if s.starts_with("<<") || s.contains("://") || s.starts_with("git@") {
            continue;
        }
        if s.contains('$') {
            return None;
        }
        out.push(normalise(s));
    }
    Some(out)
}

/// `./a/b/`, `/a/b` -> `a/b`; `.` and `/` -> `` (the whole context).
fn normalise(source: &str) -> String {
    let parts: Vec<&str> = source
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts.join("/")
}

/// Whether a `RUN` mounts the build context (`--mount` of type bind, the default, without `from`).
fn binds_context(rest: &str) -> bool {
    let mut rest = rest.trim_start();
    while rest.starts_with("--") {
        let (flag, tail) = split_word(rest);
        if let Some(spec) = flag.strip_prefix("--mount=") {
            let fields: Vec<&str> = spec.split(',').collect();
            let kind = fields
                .iter()
                .find_map(|f| f.strip_prefix("type="))
                .unwrap_or("bind");
            if kind == "bind" && !fields.iter().any(|f| f.starts_with("from=")) {
                return true;
            }
        }
        rest = tail;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(text: &str) -> Vec<String> {
        match Reads::of(text) {
            Reads::Sources(s) => s,
            Reads::Whole => panic!("read as the whole context: {text}"),
        }
    }

    #[test]
    fn copy_and_add_sources_are_read_and_nothing_else() {
        let text =
            "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n# COPY commented/ /x\nCOPY docker/ /tmp/x/\n\
                    ADD --chown=1:1 ./a.txt /b/c.txt /dest/\nRUN echo COPY nope /x\n\
                    COPY [\"json dir/f\", \"/d\"]\nADD https://example.invalid/f /x\n";
        assert_eq!(sources(text), ["docker", "a.txt", "b/c.txt", "json dir/f"]);
    }

    #[test]
    fn copies_from_stages_heredocs_and_continuations() {
        let text = "FROM a AS build\nCOPY --from=build /out /out\nCOPY <<EOF /etc/x\nCOPY not/a/source /y\nEOF\n\
                    RUN <<-SH\n  COPY also/not /z\n  SH\nCOPY \\\n  # a comment inside\n  scripts/*.sh \\\n  /usr/local/bin/\n";
        assert_eq!(sources(text), ["scripts/*.sh"]);
    }

    #[test]
    fn unsure_readings_mean_the_whole_context() {
        for text in [
            "FROM x\nCOPY . /src\n",
            "FROM x\nCOPY ./ /src\n",
            "FROM x\nARG DIR\nCOPY ${DIR} /src\n",
            "FROM x\nRUN --mount=target=/src make\n",
            "FROM x\nRUN --mount=type=bind,source=.,target=/src make\n",
            "# escape=`\nFROM x\nCOPY a /b\n",
        ] {
            assert_eq!(Reads::of(text), Reads::Whole, "{text}");
        }
        // Cache and secret mounts, or a bind from another stage, read no context.
        let text =
            "FROM x\nRUN --mount=type=cache,target=/c --mount=type=bind,from=b,target=/d make\n";
        assert_eq!(sources(text), Vec::<String>::new());
    }

    #[test]
    fn a_folder_source_reads_everything_below_it_and_patterns_stay_within_a_name() {
        let m = Reads::Sources(vec!["docker".into(), "scripts/*.sh".into()]).matcher();
        assert!(m.reads("docker"));
        assert!(m.reads("docker/bootstrap/debian.sh"));
        assert!(m.reads("scripts/a.sh"));
        assert!(!m.reads("scripts/sub/a.sh"));
        assert!(!m.reads("dockerfiles/x"));
        assert!(!m.reads("suites/smoke/task.yaml"));
        assert!(Reads::Whole.matcher().reads("anything/at/all"));
    }
}
