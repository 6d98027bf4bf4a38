//! `--shard K/N`: a deterministic partition of the suite nodes; each shard brings along the image
//! and provision nodes its suites need.
//!
//! Suites are assigned longest-first to the least-loaded shard (LPT), weights from a timings file
//! when one is given, else 1 each (balanced by count). Ties break by node id, so every runner of a
//! CI fan-out computes the same partition from the same inputs.

use std::collections::{HashMap, HashSet};
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
    let mut suites: Vec<(f64, &str)> = plan
        .suite_nodes()
        .map(|ix| {
            let id = plan.graph[ix].id.as_str();
            (weights.get(id).copied().unwrap_or(1.0).max(0.0), id)
        })
        .collect();
    suites.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let mut load = vec![0.0f64; count.max(1) as usize];
    let mut out = HashMap::with_capacity(suites.len());
    for (w, id) in suites {
        let (best, _) = load
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
            .unwrap_or((0, &0.0));
        load[best] += w.max(f64::EPSILON);
        out.insert(id.to_string(), best as u32);
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
