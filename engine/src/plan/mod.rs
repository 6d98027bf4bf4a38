//! The plan: the matrix as a DAG of work (petgraph), with selection, shards, cache keys and
//! renderings (DOT, JSON, list).

pub mod build;
pub mod dot;
pub mod hash;
pub mod node;
pub mod select;
pub mod shard;

pub use build::Plan;
pub use node::{Node, NodeKind, Skipped};

/// Cache keys of the image and provision nodes, computed from their inputs (see `hash`).
#[derive(Debug, Clone, Default)]
pub struct CacheKeys {
    keys: std::collections::HashMap<(NodeKind, String), String>,
}

impl CacheKeys {
    pub fn get(&self, kind: NodeKind, distro: &str) -> Option<&str> {
        self.keys
            .get(&(kind, distro.to_string()))
            .map(String::as_str)
    }

    pub fn insert(&mut self, kind: NodeKind, distro: &str, key: String) {
        self.keys.insert((kind, distro.to_string()), key);
    }
}

#[cfg(test)]
pub(crate) mod tests;
