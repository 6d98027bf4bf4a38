//! Images: inspect, import a rootfs tar, pull, commit, remove, list (builds: [`super::build`]).

use std::collections::HashMap;
use std::path::Path;

use bollard::errors::Error as BollardError;
use bollard::models::ContainerConfig;
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

use super::error::{is_connection_error, server_error};
use super::{auth, labels, DockerClient, DockerError, RegistryCredentials};

/// Chunk size when streaming a rootfs tar to the daemon.
const IMPORT_CHUNK: usize = 256 * 1024;

/// What the daemon says an image is: its id, the registry digests it was pulled by, its labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageIdentity {
    pub id: String,
    pub repo_digests: Vec<String>,
    pub labels: HashMap<String, String>,
}

/// One image as listed by the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub labels: HashMap<String, String>,
    /// Seconds since the Unix epoch.
    pub created: i64,
}

/// `repo:tag` split at the tag colon (not a registry port); no tag means `latest`.
///
/// A digest reference (`repo@sha256:HEX`, also `repo:tag@sha256:HEX`) is not split: it comes
/// back whole with an empty tag. That is what a pull by digest sends: the Docker API takes the
/// digest in `fromImage` and no `tag` (an absent tag with a plain name would pull every tag).
pub fn split_reference(reference: &str) -> (&str, &str) {
    if reference.contains('@') {
        return (reference, "");
    }
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[name_start..].rfind(':') {
        Some(i) => (
            &reference[..name_start + i],
            &reference[name_start + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

/// A Dockerfile `LABEL` instruction setting `labels` (sorted, quoted).
fn label_instruction(labels: &HashMap<String, String>) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
        .collect();
    pairs.sort();
    format!("LABEL {}", pairs.join(" "))
}

/// What removing a set of images did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageRemoval {
    pub removed: usize,
    /// Left because other images are built on them.
    pub in_use: usize,
}

impl DockerClient {
    /// The labels of an image, or `None` when the daemon has no such image.
    pub async fn image_labels(
        &self,
        reference: &str,
    ) -> Result<Option<HashMap<String, String>>, DockerError> {
        match self.api().inspect_image(reference).await {
            Ok(image) => Ok(Some(
                image.config.and_then(|c| c.labels).unwrap_or_default(),
            )),
            Err(e) if server_error(&e).is_some_and(|(status, _)| status == 404) => Ok(None),
            Err(e) => Err(self.fail("image inspect", reference, e)),
        }
    }

    /// The identity of an image (`None` when absent).
    pub async fn image_identity(
        &self,
        reference: &str,
    ) -> Result<Option<ImageIdentity>, DockerError> {
        match self.api().inspect_image(reference).await {
            Ok(image) => Ok(Some(ImageIdentity {
                id: image.id.unwrap_or_default(),
                repo_digests: image.repo_digests.unwrap_or_default(),
                labels: image.config.and_then(|c| c.labels).unwrap_or_default(),
            })),
            Err(e) if server_error(&e).is_some_and(|(status, _)| status == 404) => Ok(None),
            Err(e) => Err(self.fail("image inspect", reference, e)),
        }
    }

    /// Whether the daemon has an image of that name (or id).
    pub async fn image_exists(&self, reference: &str) -> Result<bool, DockerError> {
        Ok(self.image_labels(reference).await?.is_some())
    }

    /// Imports a root file system tar (optionally gzip/bzip2/xz compressed) as image
    /// `reference`, labelled with `labels` plus `engine.managed=true`. Returns the image id.
    ///
    /// This is `docker import` (`POST /images/create?fromSrc=-`), not `docker load`: bollard's
    /// `import_image` posts to `/images/load`, which expects a `docker save` archive.
    pub async fn import_rootfs(
        &self,
        tar_path: &Path,
        reference: &str,
        labels: &HashMap<String, String>,
    ) -> Result<String, DockerError> {
        let failed = |reason: String| DockerError::ImportFailed {
            reference: reference.to_string(),
            path: tar_path.to_path_buf(),
            reason,
        };
        let file = tokio::fs::File::open(tar_path)
            .await
            .map_err(|source| DockerError::Io {
                path: tar_path.to_path_buf(),
                source,
            })?;
        let body = futures_util::stream::unfold(Some(file), |file| async move {
            let mut file = file?;
            let mut chunk = Vec::with_capacity(IMPORT_CHUNK);
            match (&mut file)
                .take(IMPORT_CHUNK as u64)
                .read_to_end(&mut chunk)
                .await
            {
                Ok(0) => None,
                Ok(_) => Some((Ok(chunk.into()), Some(file))),
                Err(e) => Some((Err(e), None)),
            }
        });

        let all_labels = labels::with_managed(labels);
        let (repo, tag) = split_reference(reference);
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(vec![label_instruction(&all_labels)])
            .build();
        let mut progress =
            self.api()
                .create_image(Some(options), Some(bollard::body_try_stream(body)), None);
        // The new image's id, as both engines say it (`"status": "sha256:..."`).
        let mut imported: Option<String> = None;
        while let Some(item) = progress.next().await {
            match item {
                Ok(info) => {
                    if let Some(id) = info.status.filter(|s| s.starts_with("sha256:")) {
                        imported = Some(id);
                    }
                }
                Err(e) if is_connection_error(&e) => {
                    return Err(self.fail("image import", reference, e))
                }
                Err(BollardError::DockerStreamError { error }) => return Err(failed(error)),
                Err(e) => {
                    return Err(failed(match server_error(&e) {
                        Some((_, message)) => message.to_string(),
                        None => e.to_string(),
                    }))
                }
            }
        }

        // Podman keeps neither the tag nor the labels asked for (see `super::podman`). The
        // `latest` tag it gave instead goes with the old image, removed once relabelled.
        if let (true, Some(id)) = (self.is_podman(), &imported) {
            self.podman_relabel(id, reference, labels)
                .await
                .map_err(|e| failed(e.to_string()))?;
        }
        // Check the result instead of trusting the stream, including that the labels stuck.
        let image = match self.api().inspect_image(reference).await {
            Ok(image) => image,
            Err(e) if server_error(&e).is_some_and(|(status, _)| status == 404) => {
                return Err(failed(
                    "the daemon reported success but the image does not exist".into(),
                ))
            }
            Err(e) => return Err(self.fail("image inspect", reference, e)),
        };
        let got = image.config.and_then(|c| c.labels).unwrap_or_default();
        if let Some((key, _)) = all_labels.iter().find(|(k, v)| got.get(*k) != Some(*v)) {
            return Err(failed(format!(
                "the daemon did not set label `{key}` on the image"
            )));
        }
        image
            .id
            .ok_or_else(|| failed("the daemon returned no image id".into()))
    }

    /// Pulls an image from its registry (by tag, or by digest for `name@sha256:HEX`), with the
    /// registry's credentials from [`Self::docker_config`] when it has some.
    pub async fn pull(&self, reference: &str) -> Result<(), DockerError> {
        self.pull_with_progress(reference, |_| {}).await
    }

    /// [`Self::pull`], saying each layer's steps (`a1b2c3: Pull complete`) and the final
    /// status to `on_line`; the byte-by-byte progress of downloads is left out.
    pub async fn pull_with_progress(
        &self,
        reference: &str,
        mut on_line: impl FnMut(&str),
    ) -> Result<(), DockerError> {
        // A reference that names no registry goes to the daemon's default one: its address is
        // what `docker login` keyed the credentials by.
        let default_registry = match auth::registry_host(reference) {
            Some(_) => None,
            None => self.default_registry().await,
        };
        let credentials = self
            .docker_config()
            .credentials_for(reference, default_registry.as_deref())
            .map_err(|error| DockerError::Credentials {
                reference: reference.to_string(),
                error,
            })?;
        let (repo, tag) = split_reference(reference);
        let mut options = CreateImageOptionsBuilder::default().from_image(repo);
        if !tag.is_empty() {
            options = options.tag(tag);
        }
        let mut progress = self.api().create_image(
            Some(options.build()),
            None,
            credentials.as_ref().map(RegistryCredentials::to_bollard),
        );
        while let Some(item) = progress.next().await {
            let reason = match item {
                Ok(info) => {
                    if let Some(status) = info.status.as_deref() {
                        if !matches!(status, "Downloading" | "Extracting" | "Waiting") {
                            match info.id.as_deref() {
                                Some(id) if !status.contains(id) => {
                                    on_line(&format!("{id}: {status}"))
                                }
                                _ => on_line(status),
                            }
                        }
                    }
                    continue;
                }
                Err(e) if is_connection_error(&e) => return Err(self.fail("pull", reference, e)),
                Err(BollardError::DockerStreamError { error }) => error,
                Err(e) => match server_error(&e) {
                    Some((_, message)) => message.to_string(),
                    None => e.to_string(),
                },
            };
            return Err(DockerError::PullFailed {
                reference: reference.to_string(),
                reason: self.with_credentials_hint(
                    reference,
                    reason,
                    credentials.as_ref(),
                    default_registry.as_deref(),
                ),
            });
        }
        Ok(())
    }

    /// The daemon's default registry (`IndexServerAddress`), where references without a host go.
    async fn default_registry(&self) -> Option<String> {
        self.api().info().await.ok()?.index_server_address
    }

    /// A refused pull that looks like a login problem says which credentials were sent.
    fn with_credentials_hint(
        &self,
        reference: &str,
        reason: String,
        credentials: Option<&RegistryCredentials>,
        default_registry: Option<&str>,
    ) -> String {
        let lower = reason.to_lowercase();
        let auth_failure = ["unauthorized", "authentication required", "no basic auth"]
            .iter()
            .any(|word| lower.contains(word));
        if !auth_failure {
            return reason;
        }
        let registry = auth::registry_host(reference)
            .or(default_registry)
            .unwrap_or("the default registry");
        let file = self.docker_config().path().map_or_else(
            || "no Docker config file".to_string(),
            |p| p.display().to_string(),
        );
        match credentials {
            Some(c) => format!(
                "{reason} (sent the credentials of `{}` for user {:?} from {file})",
                c.server_address,
                c.username().unwrap_or("")
            ),
            None => format!(
                "{reason} (no credentials for `{registry}` in {file}: `docker login {registry}`, \
                 or set DOCKER_CONFIG to a folder whose config.json has them)"
            ),
        }
    }

    /// Commits a (stopped) container as image `repo:tag` with `labels` (plus
    /// `engine.managed=true`; the container's own labels are kept) and Dockerfile `changes`
    /// such as `CMD ["/bin/sh"]`. Returns the image id.
    pub async fn commit(
        &self,
        container: &str,
        repo: &str,
        tag: &str,
        labels: &HashMap<String, String>,
        changes: &[String],
    ) -> Result<String, DockerError> {
        let mut options = CommitContainerOptionsBuilder::default()
            .container(container)
            .repo(repo)
            .tag(tag)
            .pause(false);
        if !changes.is_empty() {
            options = options.changes(&changes.join("\n"));
        }
        let config = ContainerConfig {
            labels: Some(labels::with_managed(labels)),
            ..Default::default()
        };
        match self.api().commit_container(options.build(), config).await {
            // Podman keeps the container's labels, not the ones asked for (see `super::podman`).
            Ok(response) if self.is_podman() => {
                self.podman_relabel(&response.id, &format!("{repo}:{tag}"), labels)
                    .await
            }
            Ok(response) => Ok(response.id),
            Err(e) if server_error(&e).is_some_and(|(status, _)| status == 404) => {
                Err(DockerError::ContainerNotFound {
                    container: container.to_string(),
                })
            }
            Err(e) => Err(self.fail("commit", container, e)),
        }
    }

    /// Removes an image (and its now unused untagged parents). `Ok(false)` when it did not exist.
    pub async fn remove_image(&self, reference: &str, force: bool) -> Result<bool, DockerError> {
        let options = RemoveImageOptionsBuilder::default().force(force).build();
        match self
            .api()
            .remove_image(reference, Some(options), None)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if server_error(&e).is_some_and(|(status, _)| status == 404) => Ok(false),
            Err(e) => Err(self.fail("image remove", reference, e)),
        }
    }

    /// Images carrying all of `labels` (`key=value`); all images when `labels` is empty.
    pub async fn list_images(
        &self,
        labels: &HashMap<String, String>,
    ) -> Result<Vec<ImageInfo>, DockerError> {
        let mut options = ListImagesOptionsBuilder::default();
        if !labels.is_empty() {
            options = options.filters(&labels::filter(labels, self.is_podman()));
        }
        let images = self
            .api()
            .list_images(Some(options.build()))
            .await
            .map_err(|e| self.fail("image list", "images", e))?;
        Ok(images
            .into_iter()
            .map(|image| ImageInfo {
                id: image.id,
                tags: image
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect(),
                labels: image.labels,
                created: image.created,
            })
            .filter(|image| labels::has_all(&image.labels, labels))
            .collect())
    }

    /// Removes every image carrying all of `labels` and `engine.managed=true`, children
    /// before parents (a parent cannot go while a child exists). Tries every image even when
    /// one fails; then reports the first failure. Returns how many were removed.
    pub async fn remove_images_by_labels(
        &self,
        labels: &HashMap<String, String>,
    ) -> Result<usize, DockerError> {
        Ok(self.remove_images_in_order(labels).await?.removed)
    }

    /// Like [`Self::remove_images_by_labels`], but an image that others (not carrying the
    /// labels) are built on is left, and counted, instead of failing.
    pub async fn remove_images_in_order(
        &self,
        labels: &HashMap<String, String>,
    ) -> Result<ImageRemoval, DockerError> {
        let filter = labels::with_managed(labels);
        let mut removed = 0;
        loop {
            let remaining = self.list_images(&filter).await?;
            let mut first_error = None;
            let mut progress = false;
            for image in &remaining {
                match self.remove_image(&image.id, true).await {
                    Ok(true) => {
                        removed += 1;
                        progress = true;
                    }
                    Ok(false) => progress = true,
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            match first_error {
                None => return Ok(ImageRemoval { removed, in_use: 0 }),
                // Some removals made room (children gone): the parents may go now.
                Some(_) if progress => continue,
                // What is left is in use by images outside the set (a conflict, 409).
                Some(DockerError::Api {
                    status: Some(409), ..
                }) => {
                    return Ok(ImageRemoval {
                        removed,
                        in_use: remaining.len(),
                    })
                }
                Some(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(split_reference("a/b:c"), ("a/b", "c"));
        assert_eq!(split_reference("a/b"), ("a/b", "latest"));
        assert_eq!(split_reference("host:5000/b"), ("host:5000/b", "latest"));
        assert_eq!(split_reference("host:5000/b:t"), ("host:5000/b", "t"));
        assert_eq!(split_reference("host:5000/a/b:t"), ("host:5000/a/b", "t"));
        assert_eq!(
            split_reference("localhost:5000/b"),
            ("localhost:5000/b", "latest")
        );
        assert_eq!(split_reference("debian:12"), ("debian", "12"));
    }

    #[test]
    fn digest_references_are_pulled_whole_without_a_tag() {
        let hex = "a".repeat(64);
        for reference in [
            format!("b@sha256:{hex}"),
            format!("host:5000/a/b@sha256:{hex}"),
            format!("host:5000/b:t@sha256:{hex}"),
        ] {
            assert_eq!(split_reference(&reference), (reference.as_str(), ""));
        }
    }

    #[test]
    fn label_instruction_is_sorted_and_quoted() {
        let labels = HashMap::from([
            ("b".to_string(), "say \"hi\"".to_string()),
            ("a".to_string(), "x y".to_string()),
        ]);
        assert_eq!(
            label_instruction(&labels),
            r#"LABEL "a"="x y" "b"="say \"hi\"""#
        );
    }
}
