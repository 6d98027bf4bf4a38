//! GitHub Actions (`GITHUB_ACTIONS=true`): failed nodes' output folded into groups, failures
//! as `::error` annotations on the suite's task file (the distro's file for image and
//! provision nodes), and a Markdown summary appended to `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::sanitize::clean;
use super::summary::{self, Grid, LEGEND};
use super::SourceFiles;
use crate::events::Outcome;
use crate::events::RunResult;
use crate::plan::{NodeKind, Skipped};

/// How many output lines an annotation carries (the group and the log have the rest).
const ANNOTATION_TAIL: usize = 10;

/// Whether the engine runs as a GitHub Actions step.
pub fn enabled() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// The step summary file, when GitHub gives one.
pub fn step_summary_path() -> Option<PathBuf> {
    std::env::var_os("GITHUB_STEP_SUMMARY")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// `text` folded under `title` in the log.
pub fn group(title: &str, text: &str) -> String {
    let mut out = format!("::group::{}\n{text}", escape_data(title));
    if !text.is_empty() && !text.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("::endgroup::\n");
    out
}

/// Workflow-command message data: `%`, CR and LF are encoded.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow-command property values: also `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error`/`::warning` line per failed, timed out, flaky or broken node.
pub fn annotations(run: &RunResult, files: &SourceFiles) -> String {
    let mut out = String::new();
    for (n, r) in &run.results {
        let level = match &r.outcome {
            o if o.is_failure() => "error",
            Outcome::Infra { .. } => "error",
            Outcome::Flaky { .. } => "warning",
            _ => continue,
        };
        let file = match (n.kind, &n.suite) {
            (NodeKind::Suite, Some(s)) => files.suite(s),
            _ => files.distros.get(&n.distro),
        };
        let mut message = format!(
            "{}: {}",
            r.outcome.word(),
            r.outcome.reason().unwrap_or_default()
        );
        let skip = r.tail.len().saturating_sub(ANNOTATION_TAIL);
        for l in r.tail.iter().skip(skip) {
            message.push('\n');
            message.push_str(&clean(l));
        }
        let mut props = Vec::new();
        if let Some(f) = file {
            props.push(format!(
                "file={}",
                escape_property(&f.display().to_string())
            ));
            props.push("line=1".to_string());
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("{} {}", n.id, r.outcome.word()))
        ));
        let _ = writeln!(
            out,
            "::{level} {}::{}",
            props.join(","),
            escape_data(&message)
        );
    }
    out
}

/// The step summary: the grid as a Markdown table, the counts, and the problem lines.
pub fn markdown(run: &RunResult, skipped: &[Skipped], log_of: impl Fn(&str) -> PathBuf) -> String {
    let grid = Grid::new(run, skipped);
    let code = run.exit_code();
    let mut out = format!("### engine run `{}`: exit {code}\n\n", run.run_id);
    let _ = write!(out, "| suite |");
    for d in &grid.distros {
        let _ = write!(out, " {d} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in &grid.distros {
        out.push_str(":---:|");
    }
    let _ = write!(out, "\n| *(provision)* |");
    for d in &grid.distros {
        let _ = write!(out, " {} |", cell(grid.provision_cell(d)));
    }
    out.push('\n');
    for s in &grid.suites {
        let _ = write!(out, "| {s} |");
        for d in &grid.distros {
            let _ = write!(out, " {} |", cell(grid.cell(s, d)));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n{LEGEND}\n\n{}\n",
        summary::counts_line(run, skipped)
    );
    for (n, r) in summary::problems(run) {
        let reason = r.outcome.reason().unwrap_or_default();
        let _ = write!(
            out,
            "- **{}** `{}`: {}",
            r.outcome.word(),
            n.id,
            md_escape(&reason)
        );
        if !matches!(r.outcome, Outcome::Skipped { .. }) {
            let _ = write!(out, " (log: `{}`)", summary::relative(&log_of(&n.id)));
        }
        out.push('\n');
    }
    out
}

/// Problems stand out in the table.
fn cell(symbol: &str) -> String {
    match symbol {
        "FAIL" | "TIME" | "INFRA" => format!("**{symbol}**"),
        s => s.to_string(),
    }
}

/// Reasons are free text: keep them from opening tables or HTML.
fn md_escape(s: &str) -> String {
    clean(s).replace('|', "\\|").replace('<', "&lt;")
}

/// Append the Markdown summary to the step summary file.
pub fn append_step_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(markdown.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{every_outcome, not_applicable};

    fn files() -> SourceFiles {
        let mut f = SourceFiles::default();
        f.suites
            .insert("bad".into(), PathBuf::from("suites/bad/task.toml"));
        f.distros
            .insert("manjaro".into(), PathBuf::from("distros/manjaro.toml"));
        f
    }

    #[test]
    fn failures_point_at_the_task_file_and_infra_at_the_distro_file() {
        let text = annotations(&every_outcome(), &files());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(
            &"::error file=suites/bad/task.toml,line=1,title=suite%3Aarch%3Abad failed::failed: execute exited with 1%0A+ test -L /usr/bin/ls%0A<boom> & \"quotes\" red"
        ), "{text}");
        assert!(
            lines.iter().any(|l| l.starts_with(
                "::error file=distros/manjaro.toml,line=1,title=provision%3Amanjaro infra error::"
            )),
            "{text}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("::warning title=suite%3Aarch%3Aretry flaky::")),
            "{text}"
        );
        // Timed out and infra suites without a known file still get an annotation; skips do not.
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("::error title=suite%3Aarch%3Aslow timed out::")),
            "{text}"
        );
        assert!(!text.contains("german"), "{text}");
        assert_eq!(
            lines.len(),
            5,
            "bad, slow, retry, killed, provision:manjaro: {text}"
        );
    }

    #[test]
    fn group_escapes_its_title() {
        assert_eq!(
            group("a%b\nc", "x"),
            "::group::a%25b%0Ac\nx\n::endgroup::\n"
        );
    }

    #[test]
    fn markdown_table_has_a_row_per_suite_and_marks_problems() {
        let md = markdown(&every_outcome(), &not_applicable(), |id| {
            PathBuf::from(format!("/l/{id}.log"))
        });
        assert!(
            md.contains("| suite | arch | manjaro |\n|---|:---:|:---:|\n"),
            "{md}"
        );
        assert!(md.contains("| *(provision)* | ok | **INFRA** |"), "{md}");
        assert!(md.contains("| bad | **FAIL** |  |"), "{md}");
        assert!(md.contains("| german | skip | - |"), "{md}");
        assert!(md.contains("- **failed** `suite:arch:bad`: execute exited with 1 (log: `/l/suite:arch:bad.log`)"), "{md}");
    }

    #[test]
    fn the_step_summary_is_appended_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("summary.md");
        std::fs::write(&p, "earlier step\n").unwrap();
        append_step_summary(&p, "ours\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "earlier step\nours\n");
    }
}
