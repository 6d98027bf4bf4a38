//! `--shard K/N`: a deterministic partition of the suite nodes; each shard brings along the base,
//! image and provision nodes its suites need.
//!
//! Shards are image-affine: every distro a shard touches costs it an image build and a
//! provision, so suites of one distro stay together as far as the count allows. With N <= D
//! distros, whole distros go to shards (longest first to the least-loaded shard, LPT), so each
//! shard builds about D/N distros' images; with N > D, each distro gets shards in proportion to
//! its load (at least one, at most one per suite) and its suites are spread over them by LPT, so
//! no shard builds more than one distro. Weights come from an earlier report (`--timings`;
//! a suite it does not know weighs the mean of those it knows), else 1 each (balanced by count).
//! Ties break by name, so every job of a CI fan-out computes the same partition from the same
//! inputs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use super::build::Plan;

/// `K/N`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("`{0}` is not a shard: write K/N with 1 <= K <= N, e.g. 2/4")]
#[diagnostic(code(engine::shard::invalid))]
pub struct ShardParseError(pub String);

impl FromStr for Shard {
    type Err = ShardParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ShardParseError(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = k.trim().parse().map_err(|_| err())?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        if index == 0 || count == 0 || index > count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Assign every suite node id to a shard (0-based), given optional weights by node id.
pub fn assign(plan: &Plan, count: u32, weights: &HashMap<String, f64>) -> HashMap<String, u32> {
    let n = count.max(1) as usize;
    let by_distro = suites_by_distro(plan, weights);
    let mut out = HashMap::new();
    if n <= by_distro.len() {
        // Whole distros, heaviest first, to the least-loaded shard.
        let mut distros: Vec<(&str, f64)> = by_distro
            .iter()
            .map(|(d, suites)| (*d, suites.iter().map(|(w, _)| w).sum()))
            .collect();
        distros.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let mut load = vec![0.0f64; n];
        for (distro, weight) in distros {
            let best = least_loaded(&load);
            load[best] += weight.max(f64::EPSILON);
            for (_, id) in &by_distro[distro] {
                out.insert((*id).to_string(), best as u32);
            }
        }
        return out;
    }
    // More shards than distros: each distro its own block of shards, by its share of the load.
    let shares = shares(&by_distro, n);
    let mut first = 0usize;
    for (distro, suites) in &by_distro {
        let mine = shares[distro];
        let mut load = vec![0.0f64; mine];
        let mut sorted = suites.clone();
        sorted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        for (w, id) in sorted {
            let best = least_loaded(&load);
            load[best] += w.max(f64::EPSILON);
            out.insert(id.to_string(), (first + best) as u32);
        }
        first += mine;
    }
    out
}

/// Each distro's suites with their weights, distros in name order.
fn suites_by_distro<'p>(
    plan: &'p Plan,
    weights: &HashMap<String, f64>,
) -> BTreeMap<&'p str, Vec<(f64, &'p str)>> {
    let known: Vec<f64> = plan
        .suite_nodes()
        .filter_map(|ix| weights.get(plan.graph[ix].id.as_str()).copied())
        .map(|w| w.max(0.0))
        .collect();
    #[allow(clippy::cast_precision_loss)] // a count of suites
    let unknown = if known.is_empty() {
        1.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    };
    let mut by_distro: BTreeMap<&str, Vec<(f64, &str)>> = BTreeMap::new();
    for ix in plan.suite_nodes() {
        let node = &plan.graph[ix];
        let w = weights
            .get(node.id.as_str())
            .map_or(unknown, |w| w.max(0.0));
        by_distro
            .entry(node.distro.as_str())
            .or_default()
            .push((w, node.id.as_str()));
    }
    by_distro
}

/// How many of `n` shards each distro gets (n > number of distros): one each, then one at a
/// time to the distro with the most load per shard, never more shards than it has suites.
fn shares<'a>(
    by_distro: &BTreeMap<&'a str, Vec<(f64, &str)>>,
    n: usize,
) -> HashMap<&'a str, usize> {
    let mut shares: HashMap<&str, usize> = by_distro.keys().map(|d| (*d, 1)).collect();
    let total = |d: &str| by_distro[d].iter().map(|(w, _)| w).sum::<f64>();
    for _ in by_distro.len()..n {
        #[allow(clippy::cast_precision_loss)] // a count of shards
        let next = by_distro
            .iter()
            .filter(|(d, suites)| shares[*d] < suites.len())
            .map(|(d, _)| (*d, total(d) / shares[*d] as f64))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(a.0)));
        match next {
            Some((d, _)) => *shares.entry(d).or_default() += 1,
            // Every distro has a shard per suite: the rest stay empty.
            None => break,
        }
    }
    shares
}

/// The index of the least-loaded shard (the first, on a tie).
fn least_loaded(load: &[f64]) -> usize {
    load.iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
        .map_or(0, |(i, _)| i)
}

/// What one shard of a plan holds: the distros whose images it builds, its suites, and its
/// load (milliseconds with `--timings`, else the suite count).
#[derive(Debug, Clone, PartialEq)]
pub struct ShardSummary {
    pub distros: Vec<String>,
    pub suites: usize,
    pub load: f64,
}

/// Every shard's summary, shard 1 first.
pub fn summaries(plan: &Plan, count: u32, weights: &HashMap<String, f64>) -> Vec<ShardSummary> {
    let assignment = assign(plan, count, weights);
    let by_distro = suites_by_distro(plan, weights);
    let mut out = vec![
        ShardSummary {
            distros: Vec::new(),
            suites: 0,
            load: 0.0,
        };
        count.max(1) as usize
    ];
    for (distro, suites) in &by_distro {
        for (w, id) in suites {
            let shard = &mut out[assignment[*id] as usize];
            shard.suites += 1;
            shard.load += w;
            if shard.distros.last().map(String::as_str) != Some(*distro) {
                shard.distros.push((*distro).to_string());
            }
        }
    }
    out
}

/// The part of `plan` that shard `shard` runs.
pub fn apply(plan: &Plan, shard: Shard, weights: &HashMap<String, f64>) -> Plan {
    let assignment = assign(plan, shard.count, weights);
    let mut keep = HashSet::new();
    for ix in plan.suite_nodes() {
        if assignment.get(&plan.graph[ix].id) == Some(&(shard.index - 1)) {
            plan.with_ancestors(ix, &mut keep);
        }
    }
    let mut out = plan.retain(&keep);
    // Each skipped pair is reported by exactly one shard: the first.
    if shard.index != 1 {
        out.skipped.clear();
    }
    out
}

/// Weights from a previous run's JSON report (`--report`): `{"nodes": [{"id", "duration_ms"}]}`.
pub fn weights_from_report(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        for n in v["nodes"].as_array().into_iter().flatten() {
            if let (Some(id), Some(ms)) = (n["id"].as_str(), n["duration_ms"].as_f64()) {
                out.insert(id.to_string(), ms);
            }
        }
    }
    out
}
