//! `engine validate --lint`: every script block of every suite (prepare, execute, restore,
//! debug, and the `skip` conditions) and
//! every provision step, checked by `shellcheck` as the runner runs it (`bash -eu`), each
//! finding a diagnostic underlined at its line and column in the task or matrix file.
//!
//! The runner's `-e` matters: under errexit, `! cmd` on a line that is not the last can never
//! fail the script (SC2251); shellcheck says so only when it knows errexit is on, so each script
//! is checked with a `set -eu` line in front (and the line numbers shifted back).

mod place;

use std::io::Write;
use std::ops::Range;
use std::process::{Command, Stdio};

use miette::Diagnostic;
use serde::Deserialize;
use thiserror::Error;

use crate::spec::codes::Code;
use crate::spec::load::Loaded;
use crate::spec::source::FileId;
use crate::spec::{Matrix, SpecDiagnostic};

/// The program run, by name (found on PATH) unless `ENGINE_SHELLCHECK` names another.
const SHELLCHECK: &str = "shellcheck";

#[derive(Debug, Error, Diagnostic)]
pub enum LintError {
    #[error("`{program}` cannot be run: {why}")]
    #[diagnostic(
        code(engine::lint::unavailable),
        help("install ShellCheck (Debian/Ubuntu: `apt-get install shellcheck`; Arch: `pacman -S shellcheck`), or set ENGINE_SHELLCHECK to its path")
    )]
    Unavailable { program: String, why: String },
}

/// One script of the project: where it is declared, and its text.
struct Script<'a> {
    file: FileId,
    /// JSON pointer of the script's value in its file.
    pointer: String,
    /// What it is, for the message: `suite smoke, execute`.
    what: String,
    text: &'a str,
    /// The suite folder it belongs to (empty for provision steps).
    family: &'a str,
}

#[derive(Deserialize)]
struct Report {
    comments: Vec<Comment>,
}

#[derive(Deserialize)]
struct Comment {
    line: usize,
    column: usize,
    #[serde(rename = "endLine")]
    end_line: usize,
    #[serde(rename = "endColumn")]
    end_column: usize,
    level: String,
    code: u32,
    message: String,
}

/// The findings of shellcheck on every script of `matrix`, as warnings (errors when `deny`).
pub fn lint(
    loaded: &Loaded,
    matrix: &Matrix,
    deny: bool,
) -> Result<Vec<SpecDiagnostic>, LintError> {
    let program = std::env::var("ENGINE_SHELLCHECK").unwrap_or_else(|_| SHELLCHECK.into());
    let mut out = Vec::new();
    for script in scripts(loaded, matrix) {
        for c in check(&program, script.text)? {
            out.push(diagnostic(loaded, &script, &c, deny));
        }
    }
    Ok(out)
}

fn scripts<'a>(loaded: &Loaded, matrix: &'a Matrix) -> Vec<Script<'a>> {
    let mut out = Vec::new();
    for suite in matrix.suites.values() {
        // Variants share their suite's file: lint it once, with the first variant.
        let family = suite.family();
        if suite.variant.is_some() && out.iter().any(|s: &Script| s.family == family) {
            continue;
        }
        let Some(origin) = loaded.origins.suites.get(family) else {
            continue;
        };
        let blocks = [
            ("prepare".to_string(), suite.prepare.as_deref()),
            ("execute".to_string(), Some(suite.execute.as_str())),
            ("restore".to_string(), suite.restore.as_deref()),
            ("debug".to_string(), suite.debug.as_deref()),
        ];
        let skips = suite
            .skip
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("skip/{i}/if"), Some(r.condition.as_str())));
        for (field, text) in blocks.into_iter().chain(skips) {
            if let Some(text) = text {
                out.push(Script {
                    file: origin.file,
                    pointer: origin.pointer(&format!("/{field}")),
                    what: format!("suite {family}, {field}"),
                    text,
                    family,
                });
            }
        }
    }
    if let Some(file) = loaded.origins.matrix {
        for (i, step) in matrix.provision.steps.iter().enumerate() {
            out.push(Script {
                file,
                pointer: format!("/provision/steps/{i}/run"),
                what: format!("provision step {}", step.name),
                text: &step.run,
                family: "",
            });
        }
    }
    out
}

/// shellcheck's comments on `script` as bash runs it under `-eu`, lines counted in the script.
fn check(program: &str, script: &str) -> Result<Vec<Comment>, LintError> {
    let unavailable = |why: String| LintError::Unavailable {
        program: program.to_string(),
        why,
    };
    let mut child = Command::new(program)
        .args(["--shell=bash", "--format=json1", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| unavailable(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // As the runner runs it: `bash -eu -c SCRIPT`.
        let _ = stdin.write_all(format!("set -eu\n{script}\n").as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| unavailable(e.to_string()))?;
    // Exit 1 means "found something"; anything else without JSON is a failure of shellcheck.
    let report: Report = serde_json::from_slice(&output.stdout).map_err(|_| {
        unavailable(format!(
            "it exited with {} and said: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    })?;
    Ok(report
        .comments
        .into_iter()
        .filter(|c| c.line > 1)
        .map(|c| Comment {
            line: c.line - 1,
            end_line: c.end_line.saturating_sub(1).max(c.line - 1),
            ..c
        })
        .collect())
}

fn diagnostic(loaded: &Loaded, script: &Script<'_>, c: &Comment, deny: bool) -> SpecDiagnostic {
    let file = loaded.sources.get(script.file);
    let d = SpecDiagnostic::error(
        Code::LintShellcheck,
        format!("SC{} ({}, {}): {}", c.code, c.level, script.what, c.message),
    )
    .in_file(file)
    .help(format!("https://www.shellcheck.net/wiki/SC{}", c.code));
    let d = match span(file, &script.pointer, script.text, c) {
        Some(span) => d.at(span, format!("SC{}", c.code)),
        None => d,
    };
    if deny {
        d
    } else {
        d.warning()
    }
}

/// The byte span in the file of a comment's place in a script.
fn span(
    file: &crate::spec::source::SourceFile,
    pointer: &str,
    script: &str,
    c: &Comment,
) -> Option<Range<usize>> {
    let value = file.spans.get(pointer)?.value.clone();
    let lines = place::script_lines(&file.text, value, script);
    let anchor = (*lines.get(c.line.checked_sub(1)?)?)?;
    let start = place::offset(&file.text, anchor, c.column);
    let end = if c.end_line == c.line {
        place::offset(&file.text, anchor, c.end_column.max(c.column + 1))
    } else {
        // To the end of the first line.
        file.text[start..]
            .find('\n')
            .map_or(file.text.len(), |n| start + n)
    };
    Some(start..end.max(start + 1).min(file.text.len().max(start + 1)))
}
