//! Choosing part of a plan: `DISTRO[:SUITE]` patterns with globs, `--distros`, `--suites`,
//! `--exclude`. A pattern that matches nothing is an error naming the closest names.

use std::collections::{BTreeSet, HashSet};

use globset::{Glob, GlobMatcher};
use petgraph::graph::NodeIndex;

use super::build::Plan;
use super::node::NodeKind;
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
    text: String,
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
        text: text.to_string(),
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
}

/// Apply a selection: the chosen suite nodes plus every node they depend on. With no patterns
/// and no filters, the whole plan.
pub fn select(plan: &Plan, matrix: &Matrix, sel: &Selection) -> Result<Plan, SelectError> {
    let distro_names: Vec<&str> = matrix.distros.keys().map(String::as_str).collect();
    let suite_names: Vec<&str> = matrix.suites.keys().map(String::as_str).collect();

    let mut patterns: Vec<Pattern> = sel
        .patterns
        .iter()
        .map(|p| parse(p))
        .collect::<Result<_, _>>()?;
    let distro_filter: Vec<Pattern> = sel
        .distros
        .iter()
        .map(|d| parse(d))
        .collect::<Result<_, _>>()?;
    let suite_filter: Vec<Pattern> = sel
        .suites
        .iter()
        .map(|s| parse(&format!(":{s}")))
        .collect::<Result<_, _>>()?;
    let excludes: Vec<Pattern> = sel
        .exclude
        .iter()
        .map(|e| parse(e))
        .collect::<Result<_, _>>()?;

    // Every pattern and filter must match something that exists.
    for (p, text) in patterns
        .iter()
        .chain(&distro_filter)
        .chain(&excludes)
        .map(|p| (p, p.text.clone()))
        .chain(
            suite_filter
                .iter()
                .zip(&sel.suites)
                .map(|(p, s)| (p, s.clone())),
        )
    {
        let distro_ok = distro_names.iter().any(|d| p.matches_distro(d));
        let suite_ok = p
            .suite
            .as_ref()
            .is_none_or(|g| suite_names.iter().any(|s| g.is_match(s)));
        if !distro_ok || !suite_ok {
            let (bad, pool): (&str, &[&str]) = if !distro_ok {
                (text.split(':').next().unwrap_or(&text), &distro_names)
            } else {
                (text.split(':').nth(1).unwrap_or(&text), &suite_names)
            };
            let near: Vec<&str> = did_you_mean(bad, pool.iter().copied())
                .into_iter()
                .collect();
            let kind = if !distro_ok { "distros" } else { "suites" };
            let hint = if pool.is_empty() {
                "the matrix has no distros or suites".to_string()
            } else if !distro_ok && !text.contains(':') && suite_names.contains(&bad) {
                format!("`{bad}` is a suite: write `:{bad}` to select it on every distro")
            } else if let Some(n) = near.first() {
                format!("did you mean `{}`?", text.replacen(bad, n, 1))
            } else {
                let mut known: Vec<&str> = pool.to_vec();
                known.truncate(12);
                format!(
                    "known {kind}: {}{}",
                    known.join(", "),
                    if pool.len() > 12 { ", ..." } else { "" }
                )
            };
            return Err(SelectError::NoMatch {
                pattern: text,
                hint,
            });
        }
    }

    if patterns.is_empty() {
        patterns.push(parse("*")?);
    }

    let mut keep = HashSet::new();
    let mut chosen_distros = BTreeSet::new();
    for ix in plan.graph.node_indices() {
        let n = &plan.graph[ix];
        let distro_chosen = patterns.iter().any(|p| p.matches_distro(&n.distro))
            && (distro_filter.is_empty()
                || distro_filter.iter().any(|p| p.matches_distro(&n.distro)));
        if !distro_chosen {
            continue;
        }
        match (&n.kind, &n.suite) {
            (NodeKind::Suite, Some(s)) => {
                let by_pattern = patterns.iter().any(|p| {
                    p.matches_distro(&n.distro) && p.suite.as_ref().is_none_or(|g| g.is_match(s))
                });
                let by_filter = suite_filter.is_empty()
                    || suite_filter
                        .iter()
                        .any(|p| p.suite.as_ref().is_some_and(|g| g.is_match(s)));
                let excluded = excludes.iter().any(|p| {
                    p.matches_distro(&n.distro) && p.suite.as_ref().is_none_or(|g| g.is_match(s))
                });
                if by_pattern && by_filter && !excluded {
                    plan.with_ancestors(ix, &mut keep);
                }
            }
            _ => {
                // A pattern naming only distros keeps their image chain even without suites.
                let distro_only = patterns
                    .iter()
                    .any(|p| p.suite.is_none() && p.matches_distro(&n.distro));
                let excluded = excludes
                    .iter()
                    .any(|p| p.suite.is_none() && p.matches_distro(&n.distro));
                if distro_only && suite_filter.is_empty() && !excluded {
                    chosen_distros.insert(n.distro.clone());
                    plan.with_ancestors(ix, &mut keep);
                }
            }
        }
    }
    let mut out = plan.retain(&keep);
    // Skipped pairs follow the same suite choice.
    out.skipped.retain(|s| {
        let by_pattern = patterns.iter().any(|p| {
            p.matches_distro(&s.distro) && p.suite.as_ref().is_none_or(|g| g.is_match(&s.suite))
        });
        let by_filter = suite_filter.is_empty()
            || suite_filter
                .iter()
                .any(|p| p.suite.as_ref().is_some_and(|g| g.is_match(&s.suite)));
        by_pattern && by_filter
    });
    let _ = chosen_distros;
    Ok(out)
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
