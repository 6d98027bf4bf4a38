//! Interactive containers (`engine shell`): stdin kept open (and a TTY when the spec asks for
//! one), and the raw byte streams both ways. The session itself (terminal modes, signals) is
//! the caller's.

use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, ResizeContainerTTYOptionsBuilder,
};
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use tokio::io::AsyncWrite;

use super::container::{ContainerSpec, LogStream};
use super::error::server_error;
use super::{DockerClient, DockerError};

/// Chunks of container output, by stream (with a TTY, everything arrives as stdout).
pub type OutputStream =
    Pin<Box<dyn Stream<Item = Result<(LogStream, Vec<u8>), DockerError>> + Send>>;

/// The two ends of an attached container.
pub struct Attached {
    /// What the container writes.
    pub output: OutputStream,
    /// What the container reads on stdin; shutting it down gives the container an end of file.
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
}

impl DockerClient {
    /// Creates (does not start) a container with an open stdin, closed for the container when
    /// the attached input closes; with a TTY when `spec.tty`.
    pub async fn create_interactive(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let mut body = spec.to_body();
        body.open_stdin = Some(true);
        body.stdin_once = Some(true);
        body.attach_stdin = Some(true);
        let mut options = CreateContainerOptionsBuilder::default();
        if let Some(name) = &spec.name {
            options = options.name(name);
        }
        match self
            .api()
            .create_container(Some(options.build()), body)
            .await
        {
            Ok(response) => Ok(response.id),
            Err(e) if server_error(&e).is_some_and(|(s, _)| s == 404) => {
                Err(DockerError::ImageNotFound {
                    reference: spec.image.clone(),
                })
            }
            Err(e) => Err(self.fail("container create", &spec.image, e)),
        }
    }

    /// Attaches stdin, stdout and stderr. Call it before [`DockerClient::start`], so that no
    /// output is missed.
    pub async fn attach_stdio(&self, container: &str) -> Result<Attached, DockerError> {
        let options = AttachContainerOptionsBuilder::default()
            .stream(true)
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .build();
        let attached = self
            .api()
            .attach_container(container, Some(options))
            .await
            .map_err(|e| self.fail("container attach", container, e))?;
        let client = self.clone();
        let id = container.to_string();
        let output = attached.output.map(move |chunk| {
            chunk
                .map(|c| {
                    let stream = match c {
                        bollard::container::LogOutput::StdErr { .. } => LogStream::Stderr,
                        _ => LogStream::Stdout,
                    };
                    (stream, c.into_bytes().to_vec())
                })
                .map_err(|e| client.fail("container attach", &id, e))
        });
        Ok(Attached {
            output: Box::pin(output),
            input: attached.input,
        })
    }

    /// Tells the container's TTY its size (rows, columns).
    pub async fn resize_tty(
        &self,
        container: &str,
        rows: u16,
        cols: u16,
    ) -> Result<(), DockerError> {
        let options = ResizeContainerTTYOptionsBuilder::default()
            .h(i32::from(rows))
            .w(i32::from(cols))
            .build();
        self.api()
            .resize_container_tty(container, options)
            .await
            .map_err(|e| self.fail("container resize", container, e))
    }
}
