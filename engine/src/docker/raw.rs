//! Requests to the daemon outside bollard's typed API. A streaming POST for the one answer
//! bollard cannot decode: a BuildKit build (`/build?version=2`) reports its progress as `aux`
//! strings (base64 protobuf), which bollard's `BuildInfo` rejects unless its gRPC `buildkit`
//! feature (tonic, prost, rustls) is compiled in; the answer comes back as JSON values, one
//! per line. And a GET for Podman's own `/libpod/info`, which says whether it is rootless.
//!
//! Same daemon as the client: `unix://` sockets and plain `tcp://`/`http://`. Dropping the
//! stream closes the connection, which makes the daemon cancel the build.

use std::collections::VecDeque;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Where a raw request goes, from a DOCKER_HOST-style endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawEndpoint {
    Unix(std::path::PathBuf),
    Tcp(String),
}

impl RawEndpoint {
    /// `None` for transports only bollard speaks (TLS, ssh, named pipes).
    pub(crate) fn parse(endpoint: &str) -> Option<RawEndpoint> {
        if let Some(path) = endpoint.strip_prefix("unix://") {
            return Some(RawEndpoint::Unix(path.into()));
        }
        let host = endpoint
            .strip_prefix("tcp://")
            .or_else(|| endpoint.strip_prefix("http://"))?;
        let host = host.trim_end_matches('/');
        (!host.is_empty() && !host.contains('/')).then(|| RawEndpoint::Tcp(host.to_string()))
    }
}

/// Why a raw request got no usable answer.
#[derive(Debug)]
pub(crate) enum RawError {
    /// No connection, or it broke: the daemon is unreachable.
    Connection(std::io::Error),
    /// The daemon refused the request: its HTTP status and message.
    Refused { status: u16, message: String },
    /// A line of the answer is not JSON.
    Undecodable(String),
}

/// Ends the connection's driver when the request's stream is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The answer of a streaming request: JSON values, one per line of the body.
pub(crate) struct JsonLines {
    body: Incoming,
    buffer: Vec<u8>,
    ready: VecDeque<Vec<u8>>,
    done: bool,
    _connection: AbortOnDrop,
}

impl JsonLines {
    /// The next value, `None` at the end of the answer.
    pub(crate) async fn next(&mut self) -> Option<Result<serde_json::Value, RawError>> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(serde_json::from_slice(&line).map_err(|e| {
                    RawError::Undecodable(format!(
                        "{e}: {}",
                        String::from_utf8_lossy(&line[..line.len().min(200)])
                    ))
                }));
            }
            if self.done {
                if self.buffer.is_empty() {
                    return None;
                }
                self.ready.push_back(std::mem::take(&mut self.buffer));
                continue;
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.split(&data);
                    }
                }
                Some(Err(e)) => return Some(Err(RawError::Connection(std::io::Error::other(e)))),
                None => self.done = true,
            }
        }
    }

    fn split(&mut self, data: &[u8]) {
        let mut rest = data;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            self.buffer.extend_from_slice(&rest[..end]);
            self.ready.push_back(std::mem::take(&mut self.buffer));
            rest = &rest[end + 1..];
        }
        self.buffer.extend_from_slice(rest);
    }
}

/// POSTs `body` to `path_and_query` (already prefixed with the API version) and returns the
/// answer's lines, or the daemon's refusal.
pub(crate) async fn post_json_lines(
    endpoint: &RawEndpoint,
    path_and_query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<JsonLines, RawError> {
    let request = hyper::Request::post(path_and_query)
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| RawError::Connection(std::io::Error::other(e)))?;
    send(endpoint, request).await
}

/// GETs `path` and reads the whole answer as one JSON value: for the few endpoints outside
/// the Docker API that bollard knows nothing of (Podman's own `/libpod/info`).
pub(crate) async fn get_json(
    endpoint: &RawEndpoint,
    path: &str,
) -> Result<serde_json::Value, RawError> {
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, "docker")
        .body(Full::new(Bytes::new()))
        .map_err(|e| RawError::Connection(std::io::Error::other(e)))?;
    let mut answer = send(endpoint, request).await?;
    let mut text = Vec::new();
    while let Some(frame) = answer.body.frame().await {
        let frame = frame.map_err(|e| RawError::Connection(std::io::Error::other(e)))?;
        if let Ok(data) = frame.into_data() {
            text.extend_from_slice(&data);
        }
    }
    serde_json::from_slice(&text).map_err(|e| {
        RawError::Undecodable(format!(
            "{e}: {}",
            String::from_utf8_lossy(&text[..text.len().min(200)])
        ))
    })
}

/// Sends one request on a connection of its own; the answer's body, or the daemon's refusal.
async fn send(
    endpoint: &RawEndpoint,
    request: hyper::Request<Full<Bytes>>,
) -> Result<JsonLines, RawError> {
    let (mut sender, connection) = match endpoint {
        RawEndpoint::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(RawError::Connection)?;
            handshake(stream).await?
        }
        RawEndpoint::Tcp(host) => {
            let stream = tokio::net::TcpStream::connect(host)
                .await
                .map_err(RawError::Connection)?;
            handshake(stream).await?
        }
    };
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| RawError::Connection(std::io::Error::other(e)))?;
    let status = response.status();
    let mut lines = JsonLines {
        body: response.into_body(),
        buffer: Vec::new(),
        ready: VecDeque::new(),
        done: false,
        _connection: connection,
    };
    if status.is_success() {
        return Ok(lines);
    }
    // A refusal's body is one JSON object with a message (or plain text from a proxy).
    let mut text = Vec::new();
    while let Some(Ok(frame)) = lines.body.frame().await {
        if let Ok(data) = frame.into_data() {
            text.extend_from_slice(&data);
        }
    }
    let message = serde_json::from_slice::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&text).trim().to_string());
    Err(RawError::Refused {
        status: status.as_u16(),
        message,
    })
}

async fn handshake<S>(
    stream: S,
) -> Result<
    (
        hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        AbortOnDrop,
    ),
    RawError,
>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| RawError::Connection(std::io::Error::other(e)))?;
    let driver = tokio::spawn(async move {
        // Its end (done, or broken) shows in the response body; nothing to report here.
        let _ = connection.await;
    });
    Ok((sender, AbortOnDrop(driver)))
}

/// `key=value` pairs for a query string, each value percent-encoded.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_that_a_raw_request_can_reach() {
        assert_eq!(
            RawEndpoint::parse("unix:///var/run/docker.sock"),
            Some(RawEndpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            RawEndpoint::parse("tcp://127.0.0.1:2375"),
            Some(RawEndpoint::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(
            RawEndpoint::parse("http://localhost:2375/"),
            Some(RawEndpoint::Tcp("localhost:2375".into()))
        );
        assert_eq!(RawEndpoint::parse("ssh://user@host"), None);
        assert_eq!(RawEndpoint::parse("https://host:2376"), None);
        assert_eq!(RawEndpoint::parse("tcp://"), None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            query(&[("t", "engine/img:k1"), ("labels", r#"{"a":"b c"}"#)]),
            "t=engine%2Fimg%3Ak1&labels=%7B%22a%22%3A%22b%20c%22%7D"
        );
    }
}
