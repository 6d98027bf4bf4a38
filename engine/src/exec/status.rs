//! Before a run: for each distro, which of its base, image and provision results the daemon
//! holds, under which keys, and for the others why they will be made (`engine list --status`,
//! `engine graph --status`). The same tests `engine run` makes, without making anything.

use std::collections::HashMap;

use super::context::{base_ref, image_ref, provisioned_ref};
use super::why::{reuse, Reuse};
use crate::docker::{DockerClient, DockerError};
use crate::plan::{CacheKeys, NodeKind};
use crate::spec::matrix::{Base, Distro, PullPolicy};

/// One node's status: its key as the run would compute it, whether its result is there, and why
/// it will be made (empty when reused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    pub key: String,
    pub cached: bool,
    pub why: Vec<String>,
}

/// The status of `distro`'s base, image and provision nodes.
pub async fn of_distro(
    docker: &DockerClient,
    project: &str,
    distro: &Distro,
    keys: &CacheKeys,
) -> Result<HashMap<NodeKind, NodeStatus>, DockerError> {
    let mut out = HashMap::new();
    let Some(base_key) = keys.get(NodeKind::Base, &distro.name) else {
        return Ok(out);
    };
    let base = base_ref(distro, base_key);
    let found = docker.image_identity(&base).await?;
    let mut base_why = Vec::new();
    match (&distro.base, &found) {
        (_, None) => base_why.push(format!("{base} is not there")),
        (Base::Image { pull, .. }, Some(_)) if *pull == PullPolicy::Always => {
            base_why.push("pull = \"always\": asked of the registry at every run".into())
        }
        _ => {}
    }
    out.insert(
        NodeKind::Base,
        NodeStatus {
            key: base_key.to_string(),
            cached: found.is_some(),
            why: base_why,
        },
    );
    let Some(found) = found else {
        // Without the base, its id is unknown: the image and what follows are made after it.
        for kind in [NodeKind::Image, NodeKind::Provision] {
            let key = keys.get(kind, &distro.name).unwrap_or_default().to_string();
            let why = vec!["made after its base".to_string()];
            out.insert(
                kind,
                NodeStatus {
                    key,
                    cached: false,
                    why,
                },
            );
        }
        return Ok(out);
    };
    let Some(resolved) = keys.resolved(&distro.name, &found.id) else {
        return Ok(out);
    };
    let parts = [
        (NodeKind::Image, &resolved.image_key, &resolved.image),
        (
            NodeKind::Provision,
            &resolved.provision_key,
            &resolved.provision,
        ),
    ];
    for (kind, key, recipe) in parts {
        let node = crate::plan::Node::id_for(kind, &distro.name, None);
        let tag = match kind {
            NodeKind::Image => image_ref(&distro.name, key),
            _ => provisioned_ref(&distro.name, key),
        };
        let (cached, why) = match reuse(docker, project, &node, &tag, key, recipe, false).await? {
            Reuse::Yes => (true, Vec::new()),
            Reuse::No(why) => (false, why),
        };
        let key = key.clone();
        out.insert(kind, NodeStatus { key, cached, why });
    }
    Ok(out)
}
