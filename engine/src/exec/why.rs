//! Why a result is made again: the parts of its key that changed since the closest earlier
//! image of the same node in this project (see `plan::recipe`). `engine run` says it when it rebuilds;
//! `engine list --status` says it before.

use std::collections::HashMap;

use super::context::{holds, LABEL_RECIPE};
use crate::docker::{labels, DockerClient, DockerError};
use crate::plan::Recipe;

/// At most this many changed parts are named (then "and N more").
const NAMED: usize = 5;

/// Whether an image or provision node can reuse the image `tag` made with `key`, and if not,
/// why it must be made: the one test of `engine run` and `engine list --status`.
pub enum Reuse {
    /// The daemon holds `tag` with `key`.
    Yes,
    /// To be made, for these reasons (`--rebuild`, or the parts of the key that changed).
    No(Vec<String>),
}

/// See [`Reuse`]. `forced`: `engine run --rebuild` names the distro.
pub async fn reuse(
    docker: &DockerClient,
    project: &str,
    node: &str,
    tag: &str,
    key: &str,
    recipe: &Recipe,
    forced: bool,
) -> Result<Reuse, DockerError> {
    if forced {
        return Ok(Reuse::No(vec!["--rebuild".into()]));
    }
    Ok(match holds(docker, tag, key).await? {
        true => Reuse::Yes,
        false => Reuse::No(why(docker, project, node, recipe).await),
    })
}

/// What changed between the newest image of `node` (e.g. `image:arch`) in `project` and the
/// recipe wanted now: one phrase per changed part, or one phrase saying there is no earlier
/// image to compare with.
async fn why(docker: &DockerClient, project: &str, node: &str, wanted: &Recipe) -> Vec<String> {
    // Every project's images of this node: results are shared by key (a copy of a project uses
    // the images its original made). The closest (fewest changed parts; the newest of equals)
    // explains the miss best: an older image built on another base is not to blame for a
    // Dockerfile edit. Of equals, this project's image wins.
    let older = recipes(docker, node, project).await;
    let closest = older
        .iter()
        .map(|(mine, created, r)| {
            (
                wanted.changes_since(r, usize::MAX).len(),
                !mine,
                -created,
                r,
            )
        })
        .min_by_key(|(changes, other, newer, _)| (*changes, *other, *newer));
    match closest {
        None => vec!["no earlier image of this node".into()],
        Some((_, _, _, older)) => {
            let changes = wanted.changes_since(older, NAMED);
            if changes.is_empty() {
                // Same parts, no image with the key: it was removed (engine clean, docker rmi).
                vec!["its image was removed".into()]
            } else {
                changes
            }
        }
    }
}

/// The images of `node` that carry a recipe: (made by `project`, created, recipe).
async fn recipes(docker: &DockerClient, node: &str, project: &str) -> Vec<(bool, i64, Recipe)> {
    let filter = HashMap::from([(labels::NODE.to_string(), node.to_string())]);
    let images = docker.list_images(&filter).await.unwrap_or_default();
    images
        .iter()
        .filter_map(|i| {
            let recipe = Recipe::from_label(i.labels.get(LABEL_RECIPE)?)?;
            let mine = i.labels.get(labels::PROJECT).map(String::as_str) == Some(project);
            Some((mine, i.created, recipe))
        })
        .collect()
}
