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
    /// The engine runs as a non-root user, in a user namespace (rootless Docker or Podman).
    pub rootless: bool,
    /// `1` or `2`: the cgroup version of the daemon's host.
    pub cgroup_version: Option<String>,
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

    /// Whether `memory`, `cpus` and `pids` limits reach the container. A rootless engine on
    /// cgroup v1 has no cgroup it may write to: Podman drops the limits (saying so only on its
    /// own CLI), and rootless Docker runs without cgroups.
    pub fn can_limit_resources(&self) -> bool {
        !(self.rootless && self.cgroup_version.as_deref() == Some("1"))
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
        let cgroup_version = info
            .cgroup_version
            .map(|v| v.to_string())
            .filter(|v| !v.is_empty());
        let (rootless, cgroup_version) = if self.is_podman() {
            // Podman's Docker-compatible /info never says rootless; its own /info does.
            self.podman_rootless()
                .await
                .unwrap_or((false, cgroup_version))
        } else {
            let rootless = info
                .security_options
                .iter()
                .flatten()
                .any(|o| o.split(',').any(|kv| kv == "name=rootless"));
            (rootless, cgroup_version)
        };
        Ok(DaemonFacts {
            rootless,
            cgroup_version,
            engine: self.engine_name().to_string(),
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

    /// `(rootless, cgroup version)` from Podman's own `/libpod/info`; `None` when it cannot be
    /// read (an endpoint only bollard speaks, or an old Podman).
    async fn podman_rootless(&self) -> Option<(bool, Option<String>)> {
        let endpoint = super::raw::RawEndpoint::parse(self.endpoint())?;
        let info = super::raw::get_json(&endpoint, "/v4.0.0/libpod/info")
            .await
            .ok()?;
        let host = info.get("host")?;
        let rootless = host.get("security")?.get("rootless")?.as_bool()?;
        // `v1` / `v2` there; the Docker API's `1` / `2` here.
        let cgroup = host
            .get("cgroupVersion")
            .and_then(|v| v.as_str())
            .map(|v| v.trim_start_matches('v').to_string());
        Some((rootless, cgroup))
    }
}
