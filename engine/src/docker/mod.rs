//! The engine's Docker backend: the only place the engine talks to the Docker daemon
//! (through bollard's HTTP API, and one raw streaming request for BuildKit builds; the docker
//! CLI is never run).
//!
//! - [`DockerClient`]: connection (the endpoint from [`endpoint`]: DOCKER_HOST, a docker CLI
//!   context, or the default socket), version negotiation, whether the engine is on this machine
//! - [`image`]: inspect, import a rootfs tar, pull, commit, remove, list
//! - [`build`]: image builds, BuildKit (through `raw`, decoded by `buildkit`) or legacy
//! - [`auth`]: registry credentials for a pull, from the Docker client's config file
//! - the build context tar comes from [`crate::build_context`] (shared with the planner)
//! - [`container`]: create/start/wait/logs/kill/stop/remove, label-based cleanup
//! - [`run`]: run a container to completion with timeout, cancellation and guaranteed removal
//! - [`labels`]: the label keys stamped on everything the engine makes
//! - [`interactive`]: a container with a TTY and stdin, for `engine shell`
//! - [`system`]: the daemon's version and data folder, for `engine doctor`
//! - [`podman`]: what Podman's compatible API does differently, and the ways around it

pub mod auth;
pub mod build;
mod buildkit;
pub mod container;
pub mod endpoint;
pub mod error;
pub mod image;
pub mod interactive;
pub mod labels;
pub mod podman;
mod raw;
pub mod run;
pub mod system;

use std::time::Duration;

use bollard::Docker;

pub use crate::build_context::{context_hash, tar_context, ContextError, DockerIgnore};
pub use auth::{AuthError, DockerConfig, RegistryCredentials};
pub use build::{BuildRequest, BuilderChoice};
pub use container::{Bind, ContainerSpec, ExitInfo, LogLine, LogStream};
pub use error::DockerError;
pub use image::{ImageIdentity, ImageInfo, ImageRemoval};
pub use run::{Ending, RunOptions, RunOutcome};
pub use system::DaemonFacts;

/// Used when DOCKER_HOST is unset or empty.
pub const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";

/// Requests that answer only when done (commit, stop with a long grace period, import) can
/// take minutes; bollard's 2-minute default would cut them off. Streams are not affected.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How long connecting (version negotiation and ping) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A connection to one Docker daemon. Cheap to clone (one shared HTTP client).
#[derive(Debug, Clone)]
pub struct DockerClient {
    docker: Docker,
    endpoint: String,
    api_version: String,
    /// Where pulls find registry credentials.
    docker_config: DockerConfig,
    /// The builder `DOCKER_BUILDKIT` asks for (its error when it is not a boolean).
    builder: Result<BuilderChoice, String>,
    /// The daemon is Podman.
    podman: bool,
    /// `Docker Engine 28.2.2` or `Podman Engine 4.3.1`.
    server: String,
}

/// The name of Podman's component in `/version`.
pub const PODMAN_ENGINE: &str = "Podman Engine";

/// What serves the API: `Docker Engine`, or `Podman Engine`.
fn engine_name(podman: bool) -> &'static str {
    if podman {
        PODMAN_ENGINE
    } else {
        "Docker Engine"
    }
}

/// Where the daemon runs, as far as bind mounts are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locality {
    Here,
    /// On another machine: the daemon's host name and this one's.
    Elsewhere {
        daemon: String,
        here: String,
    },
}

/// The host of a `tcp://` or `http://` endpoint (`None` for a unix socket).
fn tcp_host(endpoint: &str) -> Option<&str> {
    let rest = endpoint
        .strip_prefix("tcp://")
        .or_else(|| endpoint.strip_prefix("http://"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    Some(match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl DockerClient {
    /// Connects to the endpoint the docker CLI would use ([`endpoint::resolve`]: DOCKER_HOST,
    /// a context, else [`DEFAULT_ENDPOINT`]) and checks that a daemon answers.
    pub async fn connect() -> Result<DockerClient, DockerError> {
        let endpoint = endpoint::resolve()?;
        Self::connect_to(&endpoint.host).await
    }

    /// Whether the daemon runs on this machine, where the files the engine bind-mounts are: a
    /// unix socket or a loopback address is this machine; another address is when the daemon
    /// calls itself by this machine's host name.
    pub async fn locality(&self) -> Result<Locality, DockerError> {
        let Some(host) = tcp_host(&self.endpoint) else {
            return Ok(Locality::Here);
        };
        if is_loopback(host) {
            return Ok(Locality::Here);
        }
        let daemon = self
            .api()
            .info()
            .await
            .map_err(|e| self.fail("info", &self.endpoint, e))?
            .name
            .unwrap_or_default();
        let here = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        Ok(if !daemon.is_empty() && daemon == here {
            Locality::Here
        } else {
            Locality::Elsewhere { daemon, here }
        })
    }

    /// Connects to an explicit endpoint (`unix:///path`, `tcp://host:port`, `http://host:port`).
    pub async fn connect_to(endpoint: &str) -> Result<DockerClient, DockerError> {
        let docker = Docker::connect_with_host(endpoint).map_err(|source| {
            if error::is_connection_error(&source) {
                DockerError::Unreachable {
                    endpoint: endpoint.to_string(),
                    source,
                }
            } else {
                DockerError::BadHost {
                    endpoint: endpoint.to_string(),
                    source,
                }
            }
        })?;
        let unreachable = |source| DockerError::Unreachable {
            endpoint: endpoint.to_string(),
            source,
        };
        // Old daemons (20.10 speaks API 1.41) reject newer versions; negotiate down. A short
        // overall bound, because a tcp:// endpoint that drops packets would otherwise hang.
        let handshake = async {
            let docker = docker
                .with_timeout(REQUEST_TIMEOUT)
                .negotiate_version()
                .await?;
            docker.ping().await?;
            // Podman serves the same API with a few differences the engine works around.
            let version = docker.version().await?;
            let podman = version
                .components
                .unwrap_or_default()
                .iter()
                .any(|c| c.name == PODMAN_ENGINE);
            let name = engine_name(podman);
            let server = match version.version {
                Some(v) => format!("{name} {v}"),
                None => name.to_string(),
            };
            Ok::<_, bollard::errors::Error>((docker, podman, server))
        };
        let (docker, podman, server) = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
            .await
            .map_err(|_| unreachable(bollard::errors::Error::RequestTimeoutError))?
            .map_err(unreachable)?;
        let api_version = docker.client_version().to_string();
        Ok(DockerClient {
            docker: docker.with_request_modifier(auth::url_safe_registry_headers),
            endpoint: endpoint.to_string(),
            api_version,
            docker_config: DockerConfig::from_env(),
            builder: BuilderChoice::from_env(),
            podman,
            server,
        })
    }

    /// The engine behind the API and its version, e.g. `Docker Engine 28.2.2`, for headers.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Whether the daemon is Podman (its Docker-compatible API).
    pub fn is_podman(&self) -> bool {
        self.podman
    }

    /// `Docker Engine` or `Podman Engine`, as found at connect (`/version`'s components).
    pub fn engine_name(&self) -> &'static str {
        engine_name(self.podman)
    }

    /// The same client, reading registry credentials from `config` instead of
    /// [`DockerConfig::from_env`] (`$DOCKER_CONFIG`, else `~/.docker`).
    pub fn with_docker_config(mut self, config: DockerConfig) -> DockerClient {
        self.docker_config = config;
        self
    }

    /// The same client, building with `choice` whatever `DOCKER_BUILDKIT` says.
    pub fn with_builder(mut self, choice: BuilderChoice) -> DockerClient {
        self.builder = Ok(choice);
        self
    }

    /// The builder asked for (`DOCKER_BUILDKIT`, or [`DockerClient::with_builder`]).
    pub fn builder_choice(&self) -> Result<BuilderChoice, String> {
        self.builder.clone()
    }

    /// Where pulls find registry credentials.
    pub fn docker_config(&self) -> &DockerConfig {
        &self.docker_config
    }

    /// The DOCKER_HOST-style address this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The API version agreed with the daemon (e.g. `1.41`).
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    pub(crate) fn api(&self) -> &Docker {
        &self.docker
    }

    /// Turns a bollard error into a [`DockerError`]: lost connections become `Unreachable`,
    /// everything else an `Api` error naming the operation and its target.
    pub(crate) fn fail(
        &self,
        op: &'static str,
        target: &str,
        source: bollard::errors::Error,
    ) -> DockerError {
        if error::is_connection_error(&source) {
            return DockerError::Unreachable {
                endpoint: self.endpoint.clone(),
                source,
            };
        }
        let status = error::server_error(&source).map(|(status, _)| status);
        let message = match error::server_error(&source) {
            Some((_, message)) => message.to_string(),
            None => source.to_string(),
        };
        DockerError::Api {
            op,
            target: target.to_string(),
            status,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_sockets_are_this_machine() {
        assert_eq!(tcp_host("unix:///var/run/docker.sock"), None);
        assert_eq!(tcp_host("tcp://127.0.0.1:2375"), Some("127.0.0.1"));
        assert_eq!(tcp_host("tcp://[::1]:2375"), Some("::1"));
        assert_eq!(tcp_host("http://build-box:2375/"), Some("build-box"));
        assert!(is_loopback("127.0.0.1") && is_loopback("::1") && is_loopback("localhost"));
        assert!(!is_loopback("10.0.0.5") && !is_loopback("build-box"));
    }
}
