//! `engine graph --dot` and `--json`: the plan for people (Graphviz) and for tools.
//!
//! Hand-written rather than petgraph's `Dot`: stable node ids, one cluster per distro, sorted
//! output, so that the text diffs well and snapshots stay put.

use std::fmt::Write;

use serde::Serialize;

use super::build::Plan;
use super::node::{Node, NodeKind, Skipped};

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `image` + the short cache key on a second line; a suite's name for suites.
fn label(n: &Node) -> String {
    let what = match (&n.kind, &n.suite) {
        (NodeKind::Suite, Some(s)) => s.clone(),
        (k, _) => k.as_str().to_string(),
    };
    let status = match n.cached {
        Some(true) => " (cached)",
        Some(false) => " (to build)",
        None => "",
    };
    match &n.cache_key {
        Some(k) => format!("{what}\\nkey {}{status}", &k[..k.len().min(12)]),
        None => what,
    }
}

fn shape(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Base => "cylinder",
        NodeKind::Image => "box3d",
        NodeKind::Provision => "component",
        NodeKind::Suite => "box",
    }
}

/// Graphviz DOT of the plan.
pub fn to_dot(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph plan {{");
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [fontname=\"Helvetica\" fontsize=10];");
    let ordered = plan.ordered();
    let mut current: Option<&str> = None;
    for ix in &ordered {
        let n = &plan.graph[*ix];
        if current != Some(n.distro.as_str()) {
            if current.is_some() {
                let _ = writeln!(out, "  }}");
            }
            let _ = writeln!(
                out,
                "  subgraph {} {{",
                quote(&format!("cluster_{}", n.distro))
            );
            let _ = writeln!(out, "    label={};", quote(&n.distro));
            current = Some(n.distro.as_str());
        }
        let _ = writeln!(
            out,
            "    {} [label={} shape={}];",
            quote(&n.id),
            quote(&label(n)).replace("\\\\n", "\\n"),
            shape(n.kind)
        );
    }
    if current.is_some() {
        let _ = writeln!(out, "  }}");
    }
    let mut edges: Vec<(&str, &str)> = plan
        .graph
        .edge_indices()
        .filter_map(|e| plan.graph.edge_endpoints(e))
        .map(|(a, b)| (plan.graph[a].id.as_str(), plan.graph[b].id.as_str()))
        .collect();
    edges.sort();
    for (a, b) in edges {
        let _ = writeln!(out, "  {} -> {};", quote(a), quote(b));
    }
    let _ = writeln!(out, "}}");
    out
}

#[derive(Serialize)]
struct JsonNode<'a> {
    #[serde(flatten)]
    node: &'a Node,
    deps: Vec<&'a str>,
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    nodes: Vec<JsonNode<'a>>,
    skipped: &'a [Skipped],
}

/// The plan as JSON: nodes in stable order with their dependencies, and the skipped pairs.
pub fn to_json(plan: &Plan) -> String {
    let nodes = plan
        .ordered()
        .into_iter()
        .map(|ix| JsonNode {
            node: &plan.graph[ix],
            deps: plan
                .deps(ix)
                .into_iter()
                .map(|d| plan.graph[d].id.as_str())
                .collect(),
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&JsonPlan {
        nodes,
        skipped: &plan.skipped,
    })
    .unwrap_or_default();
    s.push('\n');
    s
}

/// `engine list`: one line per node; with `why`, the skipped pairs and their reasons too.
pub fn to_list(plan: &Plan, why: bool) -> String {
    let mut out = String::new();
    for ix in plan.ordered() {
        let n = &plan.graph[ix];
        match &n.cache_key {
            Some(k) => {
                let status = match n.cached {
                    Some(true) if n.why.is_empty() => "  cached".to_string(),
                    Some(true) => format!("  cached ({})", n.why.join("; ")),
                    Some(false) if n.why.is_empty() => "  to build".to_string(),
                    Some(false) => format!("  to build: {}", n.why.join("; ")),
                    None => String::new(),
                };
                let _ = writeln!(
                    out,
                    "{:<10} {:<40} {}{status}",
                    n.kind.as_str(),
                    n.id,
                    &k[..k.len().min(12)]
                );
            }
            None => {
                let _ = writeln!(out, "{:<10} {}", n.kind.as_str(), n.id);
            }
        }
    }
    if why {
        let mut skipped: Vec<&Skipped> = plan.skipped.iter().collect();
        skipped.sort_by(|a, b| (&a.distro, &a.suite).cmp(&(&b.distro, &b.suite)));
        for s in skipped {
            let _ = writeln!(
                out,
                "{:<10} suite:{}:{}  ({})",
                "skipped", s.distro, s.suite, s.reason
            );
        }
    }
    out
}
