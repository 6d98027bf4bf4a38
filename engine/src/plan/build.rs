//! Matrix -> plan: the DAG base(d) -> image(d) -> provision(d) -> suite(d, s).

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};

use super::node::{Node, NodeKind, Skipped};
use super::CacheKeys;
use crate::spec::locale::same_locale;
use crate::spec::Matrix;

/// The graph of work for a matrix.
#[derive(Debug, Clone)]
pub struct Plan {
    pub graph: DiGraph<Node, ()>,
    index: HashMap<String, NodeIndex>,
    /// Pairs that do not run, with the reason.
    pub skipped: Vec<Skipped>,
}

impl Plan {
    /// Build the full plan of `matrix`. Cache keys are filled in when `keys` is given.
    pub fn build(matrix: &Matrix, keys: Option<&CacheKeys>) -> Plan {
        let mut graph = DiGraph::with_capacity(
            matrix.distros.len() * (3 + matrix.suites.len()),
            matrix.distros.len() * (3 + matrix.suites.len()),
        );
        let mut index = HashMap::new();
        let mut skipped = Vec::new();
        let mut add = |graph: &mut DiGraph<Node, ()>, node: Node| {
            let id = node.id.clone();
            let ix = graph.add_node(node);
            index.insert(id, ix);
            ix
        };
        for (name, distro) in &matrix.distros {
            let key = |k: NodeKind| keys.and_then(|c| c.get(k, name)).map(str::to_string);
            let base = add(
                &mut graph,
                Node {
                    id: Node::id_for(NodeKind::Base, name, None),
                    kind: NodeKind::Base,
                    distro: name.clone(),
                    suite: None,
                    cache_key: key(NodeKind::Base),
                    cached: None,
                    why: Vec::new(),
                },
            );
            let image = add(
                &mut graph,
                Node {
                    id: Node::id_for(NodeKind::Image, name, None),
                    kind: NodeKind::Image,
                    distro: name.clone(),
                    suite: None,
                    cache_key: key(NodeKind::Image),
                    cached: None,
                    why: Vec::new(),
                },
            );
            let provision = add(
                &mut graph,
                Node {
                    id: Node::id_for(NodeKind::Provision, name, None),
                    kind: NodeKind::Provision,
                    distro: name.clone(),
                    suite: None,
                    cache_key: key(NodeKind::Provision),
                    cached: None,
                    why: Vec::new(),
                },
            );
            graph.add_edge(base, image, ());
            graph.add_edge(image, provision, ());
            for (sname, suite) in &matrix.suites {
                if let Some(reason) = suite.why_not_on(name) {
                    skipped.push(Skipped {
                        distro: name.clone(),
                        suite: sname.clone(),
                        reason,
                    });
                    continue;
                }
                if let Some(l) = suite
                    .requires_locales
                    .iter()
                    .find(|l| !distro.locales.iter().any(|d| same_locale(d, l)))
                {
                    skipped.push(Skipped {
                        distro: name.clone(),
                        suite: sname.clone(),
                        reason: format!("requires locale {l}, which {name} does not declare"),
                    });
                    continue;
                }
                let s = add(
                    &mut graph,
                    Node {
                        id: Node::id_for(NodeKind::Suite, name, Some(sname)),
                        kind: NodeKind::Suite,
                        distro: name.clone(),
                        suite: Some(sname.clone()),
                        cache_key: None,
                        cached: None,
                        why: Vec::new(),
                    },
                );
                graph.add_edge(provision, s, ());
            }
        }
        Plan {
            graph,
            index,
            skipped,
        }
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.index.get(id).map(|ix| &self.graph[*ix])
    }

    pub fn index_of(&self, id: &str) -> Option<NodeIndex> {
        self.index.get(id).copied()
    }

    /// Nodes in a stable order: by distro, then kind (base, image, provision, suite), then suite.
    pub fn ordered(&self) -> Vec<NodeIndex> {
        let mut ixs: Vec<NodeIndex> = self.graph.node_indices().collect();
        ixs.sort_by(|a, b| {
            let (x, y) = (&self.graph[*a], &self.graph[*b]);
            (&x.distro, x.kind, &x.suite).cmp(&(&y.distro, y.kind, &y.suite))
        });
        ixs
    }

    /// The dependencies of a node (its parents), in stable order.
    pub fn deps(&self, ix: NodeIndex) -> Vec<NodeIndex> {
        let mut d: Vec<NodeIndex> = self
            .graph
            .neighbors_directed(ix, petgraph::Direction::Incoming)
            .collect();
        d.sort_by(|a, b| self.graph[*a].id.cmp(&self.graph[*b].id));
        d
    }

    /// Keep only `keep` (and the edges between kept nodes); skipped pairs of dropped distros or
    /// suites go too.
    pub fn retain(&self, keep: &std::collections::HashSet<NodeIndex>) -> Plan {
        let graph = self.graph.filter_map(
            |ix, n| keep.contains(&ix).then(|| n.clone()),
            |_, _| Some(()),
        );
        let index = graph
            .node_indices()
            .map(|ix| (graph[ix].id.clone(), ix))
            .collect::<HashMap<_, _>>();
        let distros: std::collections::HashSet<&str> =
            graph.node_weights().map(|n| n.distro.as_str()).collect();
        let skipped = self
            .skipped
            .iter()
            .filter(|s| distros.contains(s.distro.as_str()))
            .cloned()
            .collect();
        Plan {
            graph,
            index,
            skipped,
        }
    }

    /// The base, image and provision nodes only (to prepare images without running suites).
    pub fn images_only(&self) -> Plan {
        let keep = self
            .graph
            .node_indices()
            .filter(|ix| self.graph[*ix].kind != NodeKind::Suite)
            .collect();
        let mut p = self.retain(&keep);
        p.skipped.clear();
        p
    }

    pub fn suite_nodes(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph
            .node_indices()
            .filter(|ix| self.graph[*ix].kind == NodeKind::Suite)
    }

    /// The node and everything it depends on, transitively.
    pub fn with_ancestors(&self, ix: NodeIndex, into: &mut std::collections::HashSet<NodeIndex>) {
        let mut stack = vec![ix];
        while let Some(n) = stack.pop() {
            if into.insert(n) {
                stack.extend(
                    self.graph
                        .neighbors_directed(n, petgraph::Direction::Incoming),
                );
            }
        }
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }
}
