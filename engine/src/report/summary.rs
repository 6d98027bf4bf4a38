//! The summary at the end of a run: a distro x suite grid with one symbol per cell, the image
//! chain per distro, and one line per problem with the path of its log.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

use crate::exec::run::RunResult;
use crate::exec::Outcome;
use crate::plan::{NodeKind, Skipped};

fn symbol(o: &Outcome) -> &'static str {
    match o {
        Outcome::Passed | Outcome::Cached => "ok",
        Outcome::Failed { .. } => "FAIL",
        Outcome::Flaky { .. } => "flaky",
        Outcome::TimedOut { .. } => "TIME",
        Outcome::Xfail => "xfail",
        Outcome::Skipped { .. } => "skip",
        Outcome::Infra { .. } => "INFRA",
        Outcome::DependencyFailed { .. } => "INFRA",
        Outcome::Cancelled => "stop",
    }
}

/// Render the summary. `skipped` are the pairs the plan did not schedule; `logs` names log files.
pub fn render(run: &RunResult, skipped: &[Skipped], log_of: impl Fn(&str) -> std::path::PathBuf) -> String {
    let mut out = String::new();
    let mut distros: BTreeSet<&str> = BTreeSet::new();
    let mut suites: BTreeSet<&str> = BTreeSet::new();
    let mut cells: BTreeMap<(&str, &str), &'static str> = BTreeMap::new();
    for (n, r) in &run.results {
        distros.insert(&n.distro);
        if let (NodeKind::Suite, Some(s)) = (n.kind, &n.suite) {
            suites.insert(s);
            cells.insert((s.as_str(), n.distro.as_str()), symbol(&r.outcome));
        }
    }
    for s in skipped {
        if distros.contains(s.distro.as_str()) {
            suites.insert(&s.suite);
            cells.entry((s.suite.as_str(), s.distro.as_str())).or_insert("-");
        }
    }
    let width = suites.iter().map(|s| s.len()).max().unwrap_or(5).max(5);
    let colw: Vec<usize> = distros.iter().map(|d| d.len().max(5)).collect();
    let _ = write!(out, "\n{:width$}", "");
    for (d, w) in distros.iter().zip(&colw) {
        let _ = write!(out, "  {d:>w$}");
    }
    out.push('\n');
    // The image chain first: did each distro get a provisioned image?
    let _ = write!(out, "{:width$}", "(provision)");
    for (d, w) in distros.iter().zip(&colw) {
        let o = run
            .results
            .iter()
            .find(|(n, _)| n.kind == NodeKind::Provision && n.distro == *d)
            .map_or("-", |(_, r)| symbol(&r.outcome));
        let _ = write!(out, "  {o:>w$}");
    }
    out.push('\n');
    for s in &suites {
        let _ = write!(out, "{s:width$}");
        for (d, w) in distros.iter().zip(&colw) {
            let c = cells.get(&(*s, *d)).copied().unwrap_or("");
            let _ = write!(out, "  {c:>w$}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\nok passed  FAIL failed  TIME timed out  INFRA infrastructure  skip skipped  - not applicable  stop cancelled\n");

    let count = |f: fn(&Outcome) -> bool| run.results.iter().filter(|(n, r)| n.kind == NodeKind::Suite && f(&r.outcome)).count();
    let built = run.results.iter().filter(|(n, r)| n.kind != NodeKind::Suite && r.outcome == Outcome::Passed).count();
    let cached = run.results.iter().filter(|(_, r)| r.outcome == Outcome::Cached).count();
    let _ = writeln!(
        out,
        "suites: {} passed, {} failed, {} flaky, {} timed out, {} skipped, {} infra, {} cancelled, {} not applicable; images: {built} built, {cached} reused",
        count(|o| matches!(o, Outcome::Passed | Outcome::Xfail)),
        count(|o| matches!(o, Outcome::Failed { .. })),
        count(|o| matches!(o, Outcome::Flaky { .. })),
        count(|o| matches!(o, Outcome::TimedOut { .. })),
        count(|o| matches!(o, Outcome::Skipped { .. })),
        count(|o| o.is_infra()),
        count(|o| matches!(o, Outcome::Cancelled)),
        cells.values().filter(|c| **c == "-").count(),
    );
    let mut problems = false;
    for (n, r) in &run.results {
        let bad = r.outcome.is_failure() || matches!(r.outcome, Outcome::Infra { .. } | Outcome::Flaky { .. } | Outcome::Skipped { .. });
        if !bad {
            continue;
        }
        if !problems {
            out.push('\n');
            problems = true;
        }
        let reason = r.outcome.reason().unwrap_or_default();
        let _ = writeln!(out, "{:<9} {:<40} {reason}", r.outcome.word(), n.id);
        if !matches!(r.outcome, Outcome::Skipped { .. }) {
            let _ = writeln!(out, "          log: {}", relative(&log_of(&n.id)));
        }
    }
    out
}

fn relative(p: &Path) -> String {
    crate::spec::source::display_name(p)
}
