//! Why a result is made again: the parts of its key that changed since the newest image of the
//! same node in this project (see `plan::recipe`). `engine run` says it when it rebuilds;
//! `engine list --status` says it before.

use std::collections::HashMap;

use super::context::LABEL_RECIPE;
use crate::docker::{labels, DockerClient};
use crate::plan::Recipe;

/// At most this many changed parts are named (then "and N more").
const NAMED: usize = 5;

/// What changed between the newest image of `node` (e.g. `image:arch`) in `project` and the
/// recipe wanted now: one phrase per changed part, or one phrase saying there is no earlier
/// image to compare with.
pub async fn why(docker: &DockerClient, project: &str, node: &str, wanted: &Recipe) -> Vec<String> {
    // This project's images first; else another project's (results are shared by key, so a
    // copy of a project finds the images its original made).
    let mine = newest_recipe(docker, node, Some(project)).await;
    let newest = match mine {
        Some(r) => Some(r),
        None => newest_recipe(docker, node, None).await,
    };
    match newest {
        None => vec!["no earlier image of this node".into()],
        Some(older) => {
            let changes = wanted.changes_since(&older, NAMED);
            if changes.is_empty() {
                // Same parts, no image with the key: it was removed (engine clean, docker rmi).
                vec!["its image was removed".into()]
            } else {
                changes
            }
        }
    }
}

/// The recipe of the newest image of `node` (in `project`, when given) that carries one.
async fn newest_recipe(docker: &DockerClient, node: &str, project: Option<&str>) -> Option<Recipe> {
    let mut filter = HashMap::from([(labels::NODE.to_string(), node.to_string())]);
    if let Some(p) = project {
        filter.insert(labels::PROJECT.to_string(), p.to_string());
    }
    let images = docker.list_images(&filter).await.unwrap_or_default();
    images
        .iter()
        .filter_map(|i| {
            let recipe = Recipe::from_label(i.labels.get(LABEL_RECIPE)?)?;
            Some((i.created, recipe))
        })
        .max_by_key(|(created, _)| *created)
        .map(|(_, r)| r)
}
