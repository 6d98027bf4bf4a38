//! The units of work of a plan.

use serde::Serialize;

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// Make the distro's base image present: pull it, or import a rootfs made by a script.
    Base,
    /// Build the distro's image from the base (`FROM ${BASE_IMAGE}`).
    Image,
    /// Run `runner provision` in the image and commit the result.
    Provision,
    /// Run one suite in a fresh container of the provisioned image.
    Suite,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Base => "base",
            NodeKind::Image => "image",
            NodeKind::Provision => "provision",
            NodeKind::Suite => "suite",
        }
    }
}

/// One node of the plan. Its `id` is stable across runs (`image:arch`, `suite:arch:smoke`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    pub distro: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Content hash of everything the node's result depends on (image and provision nodes; base
    /// nodes built from a rootfs script). Equal keys mean the earlier result can be reused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
    /// Whether the daemon already holds this node's result (`engine graph --status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
    /// Why the node's result will be made (`--status`): the parts of its key that changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<String>,
}

impl Node {
    pub fn id_for(kind: NodeKind, distro: &str, suite: Option<&str>) -> String {
        match suite {
            Some(s) => format!("{}:{distro}:{s}", kind.as_str()),
            None => format!("{}:{distro}", kind.as_str()),
        }
    }

    /// A node id as a file name (`suite:arch:x` -> `suite_arch_x`), for logs and I/O folders.
    pub fn file_stem(id: &str) -> String {
        id.replace(':', "_")
    }
}

/// A distro x suite pair that will not run, and why: kept so that reports can say so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub distro: String,
    pub suite: String,
    pub reason: String,
}
