//! What Podman's Docker-compatible API (4.x) does differently, and the ways around it:
//!
//! - an import (`/images/create?fromSrc=-`) is stored as `<repo>:latest`, whatever tag it was
//!   given, and its `changes` are read as one instruction, so several `LABEL`s become one label;
//! - a commit keeps the container's labels and ignores the ones the request gives.
//!
//! Both end in [`DockerClient::podman_relabel`]: a build of `FROM <image id>` with the labels
//! and the name wanted, which Podman (Buildah) honours, and which adds no layer.

use std::collections::HashMap;

use super::build::BuildRequest;
use super::{labels, DockerClient, DockerError};

impl DockerClient {
    /// Image `id` again as `reference`, with `labels` (plus `engine.managed`). Returns the new
    /// image's id; the old one is removed when nothing else uses it.
    pub(crate) async fn podman_relabel(
        &self,
        id: &str,
        reference: &str,
        image_labels: &HashMap<String, String>,
    ) -> Result<String, DockerError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("engine-relabel-{}-{nanos}", std::process::id()));
        let io = |source| DockerError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(dir.join("Dockerfile"), format!("FROM {id}\n")).map_err(io)?;
        let request = BuildRequest {
            context_dir: dir.clone(),
            dockerfile: "Dockerfile".into(),
            tag: reference.to_string(),
            labels: labels::with_managed(image_labels),
            ..Default::default()
        };
        let built = self.build_image(&request, |_| {}).await;
        let _ = std::fs::remove_dir_all(&dir);
        let new_id = built?;
        if new_id != id {
            let _ = self.remove_image(id, false).await;
        }
        Ok(new_id)
    }
}
