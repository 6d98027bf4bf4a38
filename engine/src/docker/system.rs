//! What the daemon says about itself (which engine, its version, storage), for `engine doctor`
//! and the run's checks.

use super::{DockerClient, DockerError};

/// The daemon's version and where it keeps its data.
#[derive(Debug, Clone)]
pub struct DaemonFacts {
    /// `Docker Engine`, or `Podman Engine` when Podman serves the API.
    pub engine: String,
    /// e.g. `20.10.24`.
    pub server_version: String,
    /// The highest API version the daemon speaks, e.g. `1.41`.
    pub api_version: String,
    /// e.g. `/var/lib/docker` (on the daemon's host).
    pub root_dir: Option<String>,
    /// e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub operating_system: Option<String>,
    /// e.g. `overlay2`, `fuse-overlayfs`, `btrfs`.
    pub storage_driver: Option<String>,
    /// The file system under the storage driver, e.g. `xfs`, `extfs`.
    pub backing_fs: Option<String>,
}

impl DaemonFacts {
    /// Whether the storage driver can limit a container's writable layer (`--storage-opt
    /// size`): overlay2 only on xfs (which must also be mounted with pquota: the daemon says so
    /// at container creation if not), and the drivers with quotas of their own.
    pub fn can_limit_size(&self) -> bool {
        match self.storage_driver.as_deref() {
            Some("overlay2") => self.backing_fs.as_deref() == Some("xfs"),
            Some("btrfs" | "zfs" | "devicemapper" | "windowsfilter") => true,
            _ => false,
        }
    }
}

impl DockerClient {
    pub async fn daemon_facts(&self) -> Result<DaemonFacts, DockerError> {
        let endpoint = self.endpoint().to_string();
        let version = self
            .api()
            .version()
            .await
            .map_err(|e| self.fail("version", &endpoint, e))?;
        let info = self
            .api()
            .info()
            .await
            .map_err(|e| self.fail("info", &endpoint, e))?;
        // Found out at connect (`/version`'s components).
        let engine = if self.is_podman() {
            super::PODMAN_ENGINE
        } else {
            "Docker Engine"
        };
        Ok(DaemonFacts {
            engine: engine.to_string(),
            server_version: version.version.unwrap_or_else(|| "unknown".into()),
            api_version: version.api_version.unwrap_or_else(|| "unknown".into()),
            root_dir: info.docker_root_dir,
            operating_system: info.operating_system,
            backing_fs: info.driver_status.iter().flatten().find_map(|kv| {
                (kv.first().map(String::as_str) == Some("Backing Filesystem"))
                    .then(|| kv.get(1).cloned())
                    .flatten()
            }),
            storage_driver: info.driver,
        })
    }
}
