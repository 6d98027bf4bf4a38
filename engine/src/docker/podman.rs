//! What Podman's Docker-compatible API (4.x) does differently, and the ways around it:
//!
//! - an import (`/images/create?fromSrc=-`) is stored as `<repo>:latest`, whatever tag it was
//!   given, and its `changes` are read as one instruction, so several `LABEL`s become one label;
//! - a commit keeps the container's labels and ignores the ones the request gives.
//!
//! Both end in [`DockerClient::podman_relabel`]: a build of `FROM <image id>` with the labels
//! and the name wanted, which Podman (Buildah) honours, and which adds no layer.
//!
//! And Podman before 4.6 kills a build's `RUN` step now and then
//! ([`super::build::BuildahFlake::RuntimeKilled`]); [`kills_run_steps`] tells such a version.

use std::collections::HashMap;

use super::build::BuildRequest;
use super::{labels, DockerClient, DockerError};

/// Whether Podman `version` (`4.3.1`, or the server's `Podman Engine 4.3.1`) is one that kills
/// a build's `RUN` step now and then (before 4.6: containers/podman#17918). `false` when the
/// version cannot be read.
pub fn kills_run_steps(version: &str) -> bool {
    let number = version.rsplit(' ').next().unwrap_or(version);
    let mut parts = number.split('.').map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) < (4, 6),
        _ => false,
    }
}

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

#[cfg(test)]
mod tests {
    use super::kills_run_steps;

    #[test]
    fn podman_before_4_6_is_told_by_its_version() {
        for old in ["Podman Engine 4.3.1", "4.3.1", "3.4.4", "4.5.0-rc1"] {
            assert!(kills_run_steps(old), "{old}");
        }
        for new in [
            "Podman Engine 4.6.0",
            "4.9.3",
            "5.0.2",
            "Podman Engine",
            "",
            "x.y",
        ] {
            assert!(!kills_run_steps(new), "{new}");
        }
    }
}
