//! The summary at the end of a run: a distro x suite grid with one symbol per cell, the image
//! chain per distro, and one line per problem with the path of its log.
//!
//! The grid is computed once ([`Grid`]) and rendered as text here and as Markdown for the
//! GitHub step summary (`report::github`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::paint::cell;

use crate::events::RunResult;
use crate::events::{NodeResult, Outcome};
use crate::plan::{Node, NodeKind, Skipped};

/// The cell of a pair the plan did not schedule.
pub const NOT_APPLICABLE: &str = "-";

pub const LEGEND: &str =
    "ok passed  FAIL failed  TIME timed out  INFRA infrastructure  skip skipped  - not applicable  stop cancelled";

pub fn symbol(o: &Outcome) -> &'static str {
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

/// The distro x suite grid of a run.
pub struct Grid<'a> {
    /// Column heads, sorted.
    pub distros: Vec<&'a str>,
    /// Row heads, sorted.
    pub suites: Vec<&'a str>,
    /// (suite, distro) -> symbol; absent: the pair is not part of this run's selection.
    pub cells: BTreeMap<(&'a str, &'a str), &'static str>,
    /// distro -> symbol of its provision node (`-` when it was not part of the plan).
    pub provision: BTreeMap<&'a str, &'static str>,
}

impl<'a> Grid<'a> {
    pub fn new(run: &'a RunResult, skipped: &'a [Skipped]) -> Grid<'a> {
        let mut distros: BTreeSet<&str> = BTreeSet::new();
        let mut suites: BTreeSet<&str> = BTreeSet::new();
        let mut cells = BTreeMap::new();
        let mut provision = BTreeMap::new();
        for (n, r) in &run.results {
            distros.insert(&n.distro);
            match (n.kind, &n.suite) {
                (NodeKind::Suite, Some(s)) => {
                    suites.insert(s);
                    cells.insert((s.as_str(), n.distro.as_str()), symbol(&r.outcome));
                }
                (NodeKind::Provision, _) => {
                    provision.insert(n.distro.as_str(), symbol(&r.outcome));
                }
                _ => {}
            }
        }
        for s in applicable_skips(run, skipped) {
            suites.insert(&s.suite);
            cells
                .entry((s.suite.as_str(), s.distro.as_str()))
                .or_insert(NOT_APPLICABLE);
        }
        Grid {
            distros: distros.into_iter().collect(),
            suites: suites.into_iter().collect(),
            cells,
            provision,
        }
    }

    pub fn cell(&self, suite: &str, distro: &str) -> &'static str {
        self.cells.get(&(suite, distro)).copied().unwrap_or("")
    }

    pub fn provision_cell(&self, distro: &str) -> &'static str {
        self.provision
            .get(distro)
            .copied()
            .unwrap_or(NOT_APPLICABLE)
    }
}

/// The not-applicable pairs of the distros this run touched (what the grid and JUnit show).
pub fn applicable_skips<'a>(
    run: &RunResult,
    skipped: &'a [Skipped],
) -> impl Iterator<Item = &'a Skipped> {
    let distros: BTreeSet<String> = run.results.iter().map(|(n, _)| n.distro.clone()).collect();
    skipped.iter().filter(move |s| distros.contains(&s.distro))
}

/// Suite counts by verdict, as the summary line and the machine outputs give them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub flaky: usize,
    pub timed_out: usize,
    pub xfail: usize,
    pub skipped: usize,
    pub infra: usize,
    pub cancelled: usize,
    pub not_applicable: usize,
}

impl Counts {
    pub fn of(run: &RunResult, skipped: &[Skipped]) -> Counts {
        let mut c = Counts {
            not_applicable: applicable_skips(run, skipped).count(),
            ..Counts::default()
        };
        for (_, r) in run
            .results
            .iter()
            .filter(|(n, _)| n.kind == NodeKind::Suite)
        {
            c.add(&r.outcome);
        }
        c
    }

    pub fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Passed | Outcome::Cached => self.passed += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Flaky { .. } => self.flaky += 1,
            Outcome::TimedOut { .. } => self.timed_out += 1,
            Outcome::Xfail => self.xfail += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
            Outcome::Infra { .. } | Outcome::DependencyFailed { .. } => self.infra += 1,
            Outcome::Cancelled => self.cancelled += 1,
        }
    }
}

/// Whether a node gets a problem line in the summary.
pub fn is_problem(o: &Outcome) -> bool {
    o.is_failure()
        || matches!(
            o,
            Outcome::Infra { .. } | Outcome::Flaky { .. } | Outcome::Skipped { .. }
        )
}

/// The nodes with a problem line, in plan order.
pub fn problems(run: &RunResult) -> impl Iterator<Item = &(Node, NodeResult)> {
    run.results.iter().filter(|(_, r)| is_problem(&r.outcome))
}

/// Render the summary. `skipped` are the pairs the plan did not schedule; `log_of` names log files.
pub fn render(
    run: &RunResult,
    skipped: &[Skipped],
    log_of: impl Fn(&str) -> PathBuf,
    paint: bool,
) -> String {
    let grid = Grid::new(run, skipped);
    let mut out = String::new();
    let width = grid
        .suites
        .iter()
        .map(|s| s.len())
        .max()
        .unwrap_or(5)
        .max(11);
    let colw: Vec<usize> = grid.distros.iter().map(|d| d.len().max(5)).collect();
    let _ = write!(out, "\n{:width$}", "");
    for (d, w) in grid.distros.iter().zip(&colw) {
        let _ = write!(out, "  {d:>w$}");
    }
    out.push('\n');
    // The image chain first: did each distro get a provisioned image?
    let _ = write!(out, "{:width$}", "(provision)");
    for (d, w) in grid.distros.iter().zip(&colw) {
        let _ = write!(out, "  {}", cell(grid.provision_cell(d), *w, paint));
    }
    out.push('\n');
    for s in &grid.suites {
        let _ = write!(out, "{s:width$}");
        for (d, w) in grid.distros.iter().zip(&colw) {
            let _ = write!(out, "  {}", cell(grid.cell(s, d), *w, paint));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "\n{LEGEND}\n");
    let _ = writeln!(out, "{}", counts_line(run, skipped));
    let mut first = true;
    for (n, r) in problems(run) {
        if first {
            out.push('\n');
            first = false;
        }
        let _ = writeln!(out, "{}", problem_line(n, r));
        if !matches!(r.outcome, Outcome::Skipped { .. }) {
            let _ = writeln!(out, "{:12}log: {}", "", relative(&log_of(&n.id)));
        }
        if let (Some(_), Some(s)) = (&r.kept, &n.suite) {
            let d = &n.distro;
            let _ = writeln!(
                out,
                "{:12}kept: engine shell {d} {s} --kept {}",
                "", run.run_id
            );
        }
    }
    out
}

/// `suites: 13 passed, 1 failed, ...; images: 0 built, 12 reused`
pub fn counts_line(run: &RunResult, skipped: &[Skipped]) -> String {
    let c = Counts::of(run, skipped);
    let built = run
        .results
        .iter()
        .filter(|(n, r)| n.kind != NodeKind::Suite && r.outcome == Outcome::Passed)
        .count();
    let cached = run
        .results
        .iter()
        .filter(|(_, r)| r.outcome == Outcome::Cached)
        .count();
    let xfail = if c.xfail > 0 {
        format!(", {} xfail", c.xfail)
    } else {
        String::new()
    };
    format!(
        "suites: {} passed, {} failed, {} flaky, {} timed out{xfail}, {} skipped, {} infra, {} cancelled, {} not applicable; images: {built} built, {cached} reused",
        c.passed, c.failed, c.flaky, c.timed_out, c.skipped, c.infra, c.cancelled, c.not_applicable,
    )
}

/// `failed      suite:arch:must-fail      execute exited with 1` (11 columns: "infra error")
pub fn problem_line(n: &Node, r: &NodeResult) -> String {
    let reason = r.outcome.reason().unwrap_or_default();
    format!("{:<11} {:<40} {reason}", r.outcome.word(), n.id)
}

pub fn relative(p: &Path) -> String {
    crate::spec::source::display_name(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{every_outcome, not_applicable};

    #[test]
    fn grid_cells_and_counts() {
        let run = every_outcome();
        let na = not_applicable();
        let g = Grid::new(&run, &na);
        assert_eq!(g.distros, ["arch", "manjaro"]);
        assert_eq!(g.cell("bad", "arch"), "FAIL");
        assert_eq!(g.cell("slow", "arch"), "TIME");
        assert_eq!(g.cell("german", "manjaro"), NOT_APPLICABLE);
        assert_eq!(g.cell("ok", "manjaro"), "INFRA");
        assert_eq!(g.cell("bad", "manjaro"), "");
        assert_eq!(g.provision_cell("manjaro"), "INFRA");
        let c = Counts::of(&run, &na);
        assert_eq!(
            (
                c.passed,
                c.failed,
                c.flaky,
                c.timed_out,
                c.xfail,
                c.skipped,
                c.infra,
                c.cancelled,
                c.not_applicable
            ),
            (1, 1, 1, 1, 1, 1, 2, 1, 1)
        );
        // Xfail is counted on its own, not as passed.
        assert!(
            counts_line(&run, &na).contains("1 passed, 1 failed, 1 flaky, 1 timed out, 1 xfail,")
        );
    }

    #[test]
    fn painted_grids_colour_the_cells_and_keep_the_columns() {
        let run = every_outcome();
        let plain = render(&run, &not_applicable(), |_| PathBuf::new(), false);
        let painted = render(&run, &not_applicable(), |_| PathBuf::new(), true);
        assert!(painted.contains("\x1b[1;31mFAIL\x1b[0m"), "{painted}");
        assert!(painted.contains("\x1b[32mok\x1b[0m"), "{painted}");
        // Without the escapes, the painted grid is the plain one, column for column.
        let stripped = String::from_utf8(strip_ansi_escapes::strip(&painted)).unwrap();
        assert_eq!(stripped, plain);
    }

    #[test]
    fn problem_lines_name_their_logs() {
        let run = every_outcome();
        let text = render(
            &run,
            &not_applicable(),
            |id| PathBuf::from(format!("/logs/{id}.log")),
            false,
        );
        assert!(!text.contains('\x1b'), "{text}");
        assert!(text.contains("failed      suite:arch:bad "), "{text}");
        assert!(text.contains("log: /logs/suite:arch:bad.log"), "{text}");
        assert!(text.contains("infra error provision:manjaro"), "{text}");
        // Skipped suites have a reason, not a log worth reading.
        assert!(!text.contains("log: /logs/suite:arch:german.log"), "{text}");
    }
}
