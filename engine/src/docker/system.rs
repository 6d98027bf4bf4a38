//! What the daemon says about itself, for `engine doctor`.

use super::{DockerClient, DockerError};

/// The daemon's version and where it keeps its data.
#[derive(Debug, Clone)]
pub struct DaemonFacts {
    /// e.g. `20.10.24`.
    pub server_version: String,
    /// The highest API version the daemon speaks, e.g. `1.41`.
    pub api_version: String,
    /// e.g. `/var/lib/docker` (on the daemon's host).
    pub root_dir: Option<String>,
    /// e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub operating_system: Option<String>,
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
        Ok(DaemonFacts {
            server_version: version.version.unwrap_or_else(|| "unknown".into()),
            api_version: version.api_version.unwrap_or_else(|| "unknown".into()),
            root_dir: info.docker_root_dir,
            operating_system: info.operating_system,
        })
    }
}
