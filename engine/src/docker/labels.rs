//! Label keys the engine stamps on every container and image it makes, so that cleanup
//! (`engine clean`, Ctrl-C) removes exactly what the engine made and nothing else.
//!
//! Docker merges labels downwards: a container starts with its image's labels, a built image
//! with its base image's, a committed image with its container's. Caller labels override, so
//! every create/build/commit must set `engine.run` and `engine.node` (and `engine.content-hash`
//! on images) itself, or it inherits stale values.

use std::collections::HashMap;

/// Present (`true`) on everything the engine creates.
pub const MANAGED: &str = "engine.managed";
/// The run that created the object.
pub const RUN: &str = "engine.run";
/// The plan node (e.g. `suite(arch, disable-in-german)`) that created the object.
pub const NODE: &str = "engine.node";
/// Content hash an image was built from; the planner reuses an image whose hash matches.
pub const CONTENT_HASH: &str = "engine.content-hash";
/// The project (the folder of the matrix) whose run made the object: `engine clean` acts on
/// one project's leftovers on a daemon that several share.
pub const PROJECT: &str = "engine.project";

/// A project's id: a hash of its matrix folder's real path.
pub fn project_id(matrix_folder: &std::path::Path) -> String {
    let real = matrix_folder
        .canonicalize()
        .unwrap_or_else(|_| matrix_folder.to_path_buf());
    let hash = blake3::hash(real.as_os_str().as_encoded_bytes());
    hash.to_hex()[..16].to_string()
}

/// The label set for one node of one run.
pub fn for_node(run: &str, node: &str) -> HashMap<String, String> {
    HashMap::from([
        (RUN.to_string(), run.to_string()),
        (NODE.to_string(), node.to_string()),
    ])
}

/// Caller labels plus `engine.managed=true` (the caller cannot switch that one off).
pub(crate) fn with_managed<'a>(
    caller: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> HashMap<String, String> {
    let mut all: HashMap<String, String> = caller
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    all.insert(MANAGED.to_string(), "true".to_string());
    all
}

/// Docker `label` filter values (`key=value`) for a label map. Podman 4.x answers a filter of
/// several labels with nothing, so for it only one goes to the daemon; callers keep what
/// [`has_all`] of them.
pub(crate) fn filter(
    labels: &HashMap<String, String>,
    podman: bool,
) -> HashMap<String, Vec<String>> {
    let mut values: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    values.sort();
    if podman {
        values.truncate(1);
    }
    HashMap::from([("label".to_string(), values)])
}

/// Whether `have` carries every label of `want`.
pub(crate) fn has_all(have: &HashMap<String, String>, want: &HashMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}
