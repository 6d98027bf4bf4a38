//! The one error type of the Docker backend.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

use crate::build_context::ContextError;

/// Everything that can go wrong while the engine talks to the Docker daemon.
#[derive(Debug, Error, Diagnostic)]
pub enum DockerError {
    #[error("cannot reach the Docker daemon at {endpoint}")]
    #[diagnostic(
        code(engine::docker::unreachable),
        help(
            "is the Docker daemon running (`systemctl status docker`)? May this user read and \
             write its socket (root, or a member of the `docker` group)? Set DOCKER_HOST to \
             use another daemon."
        )
    )]
    Unreachable {
        endpoint: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("DOCKER_HOST={endpoint:?} is not a Docker endpoint the engine can use")]
    #[diagnostic(
        code(engine::docker::bad_host),
        help("use unix:///path/to/docker.sock or tcp://host:port")
    )]
    BadHost {
        endpoint: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Endpoint(#[from] super::endpoint::EndpointError),

    #[error("the Docker engine at {endpoint} runs on another machine (it is `{daemon}`, this is `{here}`)")]
    #[diagnostic(
        code(engine::docker::remote),
        help(
            "the engine bind-mounts the workspace, the runner and the cache folders from this \
             machine, which that engine cannot see: run the engine on that machine (or in a CI \
             job there). If both machines see these folders at the same paths (a shared file \
             system), set ENGINE_DOCKER_SHARES_FILES=1."
        )
    )]
    Remote {
        endpoint: String,
        daemon: String,
        here: String,
    },

    #[error("image `{reference}` does not exist on the Docker daemon")]
    #[diagnostic(
        code(engine::docker::image_not_found),
        help("build, import or pull the image first")
    )]
    ImageNotFound { reference: String },

    #[error("container `{container}` does not exist")]
    #[diagnostic(code(engine::docker::container_not_found))]
    ContainerNotFound { container: String },

    #[error("pulling image `{reference}` failed: {reason}")]
    #[diagnostic(
        code(engine::docker::pull_failed),
        help(
            "is a registry reachable from the Docker daemon? Without one, give the distro a \
             `base_rootfs` script so the base image is imported instead of pulled"
        )
    )]
    PullFailed { reference: String, reason: String },

    /// The registry credentials for a pull cannot be read (the error names the file or host).
    #[error("pulling image `{reference}`: {error}")]
    #[diagnostic(code(engine::docker::credentials))]
    Credentials {
        reference: String,
        error: super::AuthError,
    },

    #[error("importing {path} as image `{reference}` failed: {reason}")]
    #[diagnostic(
        code(engine::docker::import_failed),
        help("the file must be an (optionally compressed) tar of a root file system")
    )]
    ImportFailed {
        reference: String,
        path: PathBuf,
        reason: String,
    },

    #[error("cannot read {path}")]
    #[diagnostic(code(engine::docker::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("building image `{tag}` failed: {reason}{}", tail_block(.tail))]
    #[diagnostic(
        code(engine::docker::build_failed),
        help("the last lines of the build output are shown above; the full output is in the node's log")
    )]
    BuildFailed {
        tag: String,
        reason: String,
        /// The last lines of the build output (at most [`super::build::BUILD_TAIL_LINES`]).
        tail: Vec<String>,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Context(#[from] ContextError),

    #[error("Docker {op} of `{target}` failed: {message}")]
    #[diagnostic(code(engine::docker::api))]
    Api {
        op: &'static str,
        target: String,
        /// The HTTP status the daemon answered with, when it answered.
        status: Option<u16>,
        message: String,
    },
}

fn tail_block(tail: &[String]) -> String {
    if tail.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n--- last build output ---");
    for line in tail {
        s.push_str("\n  ");
        s.push_str(line);
    }
    s
}

/// True when the error means "no connection to the daemon" rather than a refusal by it.
pub(crate) fn is_connection_error(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as B;
    matches!(
        e,
        B::IOError { .. }
            | B::HyperResponseError { .. }
            | B::HyperLegacyError { .. }
            | B::SocketNotFoundError(_)
    )
}

/// The HTTP status and message of a daemon refusal, if the error is one.
pub(crate) fn server_error(e: &bollard::errors::Error) -> Option<(u16, &str)> {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => Some((*status_code, message.as_str())),
        _ => None,
    }
}
