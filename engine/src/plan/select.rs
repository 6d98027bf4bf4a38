//! Choosing part of a plan: `DISTRO[:SUITE]` patterns with globs, `--distros`, `--suites`,
//! `--exclude`. A pattern that matches nothing is an error naming the closest names.

use std::collections::HashSet;

use globset::{Glob, GlobMatcher};
use petgraph::graph::NodeIndex;

use super::build::Plan;
use super::node::NodeKind;
use crate::spec::matrix::family;
use crate::spec::suggest::did_you_mean;
use crate::spec::Matrix;

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `arch`, `arch:disable-in-german`, `:disable-*`, `*:smoke`, `cachy*`.
    pub patterns: Vec<String>,
    pub distros: Vec<String>,
    pub suites: Vec<String>,
    pub exclude: Vec<String>,
}

/// A selection that cannot be satisfied.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SelectError {
    #[error("`{pattern}` matches nothing in the matrix")]
    #[diagnostic(code(engine::select::no_match), help("{hint}"))]
    NoMatch { pattern: String, hint: String },
    #[error("`{pattern}` is not a valid pattern: {reason}")]
    #[diagnostic(
        code(engine::select::bad_pattern),
        help("patterns are DISTRO, DISTRO:SUITE or :SUITE, with * and ? globs")
    )]
    BadPattern { pattern: String, reason: String },
}

struct Pattern {
    distro: Option<GlobMatcher>,
    /// None: the pattern names distros only (all their suites, and their image chain).
    suite: Option<GlobMatcher>,
}

fn glob(pattern: &str, part: &str) -> Result<GlobMatcher, SelectError> {
    Glob::new(part)
        .map(|g| g.compile_matcher())
        .map_err(|e| SelectError::BadPattern {
            pattern: pattern.to_string(),
            reason: e.kind().to_string(),
        })
}

fn parse(text: &str) -> Result<Pattern, SelectError> {
    let (d, s) = match text.split_once(':') {
        Some((d, s)) => (d, Some(s)),
        None => (text, None),
    };
    Ok(Pattern {
        distro: if d.is_empty() || d == "*" {
            None
        } else {
            Some(glob(text, d)?)
        },
        suite: match s {
            Some(s) if !s.is_empty() => Some(glob(text, s)?),
            Some(_) => Some(glob(text, "*")?),
            None => None,
        },
    })
}

impl Pattern {
    fn matches_distro(&self, d: &str) -> bool {
        self.distro.as_ref().is_none_or(|g| g.is_match(d))
    }

    /// A suite part matches a suite by its name, and a suite's name also names its variants
    /// (`arch:locale` selects `locale:en` and `locale:de`). No suite part: every suite.
    fn matches_suite(&self, suite: &str) -> bool {
        self.suite
            .as_ref()
            .is_none_or(|g| g.is_match(suite) || g.is_match(family(suite)))
    }
}

/// A selection's patterns, parsed.
struct Compiled {
    patterns: Vec<Pattern>,
    distro_filter: Vec<Pattern>,
    suite_filter: Vec<Pattern>,
    excludes: Vec<Pattern>,
    /// Suite names written out in full (no glob) by a pattern or `--suites`: the only way to
    /// select a `manual` suite.
    named_suites: HashSet<String>,
}

impl Compiled {
    fn parse(sel: &Selection) -> Result<Compiled, SelectError> {
        let all =
            |v: &[String], f: &dyn Fn(&String) -> String| -> Result<Vec<Pattern>, SelectError> {
                v.iter().map(|x| parse(&f(x))).collect()
            };
        let mut patterns = all(&sel.patterns, &|p| p.clone())?;
        if patterns.is_empty() {
            patterns.push(parse("*")?);
        }
        let named_suites = sel
            .patterns
            .iter()
            .filter_map(|p| p.split_once(':').map(|(_, s)| s.to_string()))
            .chain(sel.suites.iter().cloned())
            .filter(|s| !s.is_empty() && !s.contains(['*', '?', '[', '{']))
            .collect();
        Ok(Compiled {
            named_suites,
            patterns,
            distro_filter: all(&sel.distros, &|d| d.clone())?,
            suite_filter: all(&sel.suites, &|s| format!(":{s}"))?,
            excludes: all(&sel.exclude, &|e| e.clone())?,
        })
    }

    /// A distro some pattern names, and that the distro filter (if any) lets through.
    fn distro_chosen(&self, distro: &str) -> bool {
        self.patterns.iter().any(|p| p.matches_distro(distro))
            && (self.distro_filter.is_empty()
                || self.distro_filter.iter().any(|p| p.matches_distro(distro)))
    }

    /// A pair some pattern names, and that the suite filter (if any) lets through.
    fn pair_matched(&self, distro: &str, suite: &str) -> bool {
        let by_pattern = self
            .patterns
            .iter()
            .any(|p| p.matches_distro(distro) && p.matches_suite(suite));
        let by_filter = self.suite_filter.is_empty()
            || self.suite_filter.iter().any(|p| p.matches_suite(suite));
        by_pattern && by_filter
    }

    fn pair_excluded(&self, distro: &str, suite: &str) -> bool {
        self.excludes
            .iter()
            .any(|p| p.matches_distro(distro) && p.matches_suite(suite))
    }

    /// A pattern naming only distros keeps their image chain even without suites.
    fn chain_chosen(&self, distro: &str) -> bool {
        let distro_only = self
            .patterns
            .iter()
            .any(|p| p.suite.is_none() && p.matches_distro(distro));
        let excluded = self
            .excludes
            .iter()
            .any(|p| p.suite.is_none() && p.matches_distro(distro));
        distro_only && self.suite_filter.is_empty() && !excluded
    }
}

/// Apply a selection: the chosen suite nodes plus every node they depend on. With no patterns
/// and no filters, the whole plan.
pub fn select(plan: &Plan, matrix: &Matrix, sel: &Selection) -> Result<Plan, SelectError> {
    check_all_match(matrix, sel)?;
    let c = Compiled::parse(sel)?;
    let mut keep = HashSet::new();
    let mut manual_left = Vec::new();
    for ix in plan.graph.node_indices() {
        let n = &plan.graph[ix];
        if !c.distro_chosen(&n.distro) {
            continue;
        }
        let chosen = match (&n.kind, &n.suite) {
            (NodeKind::Suite, Some(s)) => {
                let matched = c.pair_matched(&n.distro, s) && !c.pair_excluded(&n.distro, s);
                let manual = matrix.suites.get(s).is_some_and(|x| x.manual);
                let named = c.named_suites.contains(s) || c.named_suites.contains(family(s));
                if matched && manual && !named {
                    manual_left.push(super::Skipped {
                        distro: n.distro.clone(),
                        suite: s.clone(),
                        reason:
                            "manual: runs only when a pattern names it (`DISTRO:SUITE` or `:SUITE`)"
                                .into(),
                    });
                    false
                } else {
                    matched
                }
            }
            _ => c.chain_chosen(&n.distro),
        };
        if chosen {
            plan.with_ancestors(ix, &mut keep);
        }
    }
    let mut out = plan.retain(&keep);
    // Skipped pairs follow the same suite choice.
    out.skipped.retain(|s| c.pair_matched(&s.distro, &s.suite));
    out.skipped.extend(manual_left);
    Ok(out)
}

/// Only the suite nodes whose ids are in `suites`, with everything they need (`--rerun-failed`).
/// Skipped pairs stay with the distros that remain.
pub fn only_suites(plan: &Plan, suites: &std::collections::BTreeSet<String>) -> Plan {
    let mut keep = HashSet::new();
    for ix in plan.suite_nodes() {
        if suites.contains(&plan.graph[ix].id) {
            plan.with_ancestors(ix, &mut keep);
        }
    }
    let mut out = plan.retain(&keep);
    // Pairs that did not apply were reported by the run being repeated.
    out.skipped.clear();
    out
}

/// The pairs of the full plan that `sel` names but that do not apply, with why: what to say
/// when a selection leaves nothing to run.
pub fn not_applicable(plan: &Plan, sel: &Selection) -> Vec<super::Skipped> {
    let Ok(c) = Compiled::parse(sel) else {
        return Vec::new();
    };
    plan.skipped
        .iter()
        .filter(|s| {
            c.distro_chosen(&s.distro)
                && c.pair_matched(&s.distro, &s.suite)
                && !c.pair_excluded(&s.distro, &s.suite)
        })
        .cloned()
        .collect()
}

/// Every pattern and filter must match something that exists; else an error that names the
/// closest name.
fn check_all_match(matrix: &Matrix, sel: &Selection) -> Result<(), SelectError> {
    let distro_names: Vec<&str> = matrix.distros.keys().map(String::as_str).collect();
    // Suites and variants by full name, and the suites of variants by their own.
    let mut suite_names: Vec<&str> = matrix.suites.keys().map(String::as_str).collect();
    suite_names.extend(matrix.suites.keys().map(|s| family(s)));
    suite_names.sort_unstable();
    suite_names.dedup();
    let given = sel
        .patterns
        .iter()
        .chain(&sel.distros)
        .chain(&sel.exclude)
        .map(|p| Ok((parse(p)?, p.clone())))
        .chain(
            sel.suites
                .iter()
                .map(|s| Ok((parse(&format!(":{s}"))?, s.clone()))),
        );
    for entry in given {
        let (p, text): (Pattern, String) = entry?;
        let distro_ok = distro_names.iter().any(|d| p.matches_distro(d));
        let suite_ok = p.suite.is_none() || suite_names.iter().any(|s| p.matches_suite(s));
        if !distro_ok || !suite_ok {
            let hint = no_match_hint(&text, distro_ok, &distro_names, &suite_names);
            return Err(SelectError::NoMatch {
                pattern: text,
                hint,
            });
        }
    }
    Ok(())
}

/// Why `text` matched nothing, and the closest name.
fn no_match_hint(
    text: &str,
    distro_ok: bool,
    distro_names: &[&str],
    suite_names: &[&str],
) -> String {
    let (bad, pool): (&str, &[&str]) = if !distro_ok {
        (text.split(':').next().unwrap_or(text), distro_names)
    } else {
        (text.split_once(':').map_or(text, |(_, s)| s), suite_names)
    };
    let kind = if !distro_ok { "distros" } else { "suites" };
    if pool.is_empty() {
        "the matrix has no distros or suites".to_string()
    } else if !distro_ok && !text.contains(':') && suite_names.contains(&bad) {
        format!("`{bad}` is a suite: write `:{bad}` to select it on every distro")
    } else if let Some(n) = did_you_mean(bad, pool.iter().copied()) {
        format!("did you mean `{}`?", text.replacen(bad, n, 1))
    } else {
        let mut known: Vec<&str> = pool.to_vec();
        known.truncate(12);
        format!(
            "known {kind}: {}{}",
            known.join(", "),
            if pool.len() > 12 { ", ..." } else { "" }
        )
    }
}

/// The suite nodes of a plan, for tests and reports.
pub fn suite_ids(plan: &Plan) -> Vec<String> {
    let mut ids: Vec<String> = plan
        .suite_nodes()
        .map(|ix: NodeIndex| plan.graph[ix].id.clone())
        .collect();
    ids.sort();
    ids
}
