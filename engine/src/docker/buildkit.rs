//! BuildKit's progress, as the daemon streams it during a `version=2` build: each
//! `{"id":"moby.buildkit.trace","aux":"<base64>"}` line holds one protobuf `StatusResponse`
//! (buildkit's `api/services/control/control.proto`). Only the fields a log needs are read:
//! the steps (vertexes: name, cached, started, completed, error) and their output (logs).
//! Rendered as lines in the manner of `docker buildx build --progress=plain`:
//! `#3 [stage-0 2/3] RUN make`, `#3 <output>`, `#3 CACHED`, `#3 DONE 1.2s`, `#3 ERROR: ...`.

use std::collections::HashMap;

/// One step of the build.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Vertex {
    pub digest: String,
    pub name: String,
    pub cached: bool,
    /// Seconds since the epoch.
    pub started: Option<f64>,
    pub completed: Option<f64>,
    pub error: String,
}

/// Output a step wrote.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct VertexLog {
    pub vertex: String,
    pub msg: Vec<u8>,
}

/// What one trace message says.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Status {
    pub vertexes: Vec<Vertex>,
    pub logs: Vec<VertexLog>,
    /// Warnings' short texts (BuildKit 0.11 and later).
    pub warnings: Vec<String>,
}

/// A malformed trace message (the build goes on; the line is noted in the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Decodes the base64 `aux` of a trace line.
pub(crate) fn decode_trace(aux: &str) -> Result<Status, Malformed> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(aux)
        .map_err(|_| Malformed)?;
    decode_status(&bytes)
}

fn decode_status(buf: &[u8]) -> Result<Status, Malformed> {
    let mut status = Status::default();
    for field in Fields(buf) {
        match field? {
            (1, Value::Bytes(b)) => status.vertexes.push(decode_vertex(b)?),
            (3, Value::Bytes(b)) => status.logs.push(decode_log(b)?),
            (4, Value::Bytes(b)) => {
                for field in Fields(b) {
                    if let (3, Value::Bytes(short)) = field? {
                        status
                            .warnings
                            .push(String::from_utf8_lossy(short).into_owned());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(status)
}

fn decode_vertex(buf: &[u8]) -> Result<Vertex, Malformed> {
    let mut v = Vertex::default();
    for field in Fields(buf) {
        match field? {
            (1, Value::Bytes(b)) => v.digest = text(b),
            (3, Value::Bytes(b)) => v.name = text(b),
            (4, Value::Varint(n)) => v.cached = n != 0,
            (5, Value::Bytes(b)) => v.started = Some(decode_timestamp(b)?),
            (6, Value::Bytes(b)) => v.completed = Some(decode_timestamp(b)?),
            (7, Value::Bytes(b)) => v.error = text(b),
            _ => {}
        }
    }
    Ok(v)
}

fn decode_log(buf: &[u8]) -> Result<VertexLog, Malformed> {
    let mut log = VertexLog::default();
    for field in Fields(buf) {
        match field? {
            (1, Value::Bytes(b)) => log.vertex = text(b),
            (4, Value::Bytes(b)) => log.msg = b.to_vec(),
            _ => {}
        }
    }
    Ok(log)
}

/// `google.protobuf.Timestamp` as seconds.
fn decode_timestamp(buf: &[u8]) -> Result<f64, Malformed> {
    let (mut seconds, mut nanos) = (0u64, 0u64);
    for field in Fields(buf) {
        match field? {
            (1, Value::Varint(n)) => seconds = n,
            (2, Value::Varint(n)) => nanos = n,
            _ => {}
        }
    }
    #[allow(clippy::cast_precision_loss)] // seconds since 1970 fit an f64's 52 bits
    Ok(seconds as f64 + nanos as f64 / 1e9)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A protobuf field's value, by wire type.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one protobuf message: `(number, value)`.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<(u64, Value<'a>), Malformed> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => self.skip(8)?,
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| Malformed)?;
                let bytes = self.0.get(..len).ok_or(Malformed)?;
                self.0 = &self.0[len..];
                Value::Bytes(bytes)
            }
            5 => self.skip(4)?,
            _ => return Err(Malformed),
        };
        Ok((key >> 3, value))
    }

    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for (i, byte) in self.0.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return Ok(value);
            }
        }
        Err(Malformed)
    }

    fn skip(&mut self, n: usize) -> Result<Value<'a>, Malformed> {
        self.0 = self.0.get(n..).ok_or(Malformed)?;
        Ok(Value::Fixed)
    }
}

/// Turns trace messages into log lines, numbering steps in the order they appear.
#[derive(Debug, Default)]
pub(crate) struct Renderer {
    steps: HashMap<String, Step>,
}

#[derive(Debug, Default)]
struct Step {
    number: usize,
    announced: bool,
    finished: bool,
    /// Output not yet ended by a newline.
    partial: Vec<u8>,
}

impl Renderer {
    /// The lines `status` adds to the log.
    pub(crate) fn lines(&mut self, status: &Status) -> Vec<String> {
        let mut out = Vec::new();
        for v in &status.vertexes {
            let next = self.steps.len() + 1;
            let step = self.steps.entry(v.digest.clone()).or_default();
            if step.number == 0 {
                step.number = next;
            }
            let n = step.number;
            if !step.announced && (v.started.is_some() || v.cached) {
                step.announced = true;
                out.push(format!("#{n} {}", v.name));
            }
            if step.finished || v.completed.is_none() {
                continue;
            }
            step.finished = true;
            if !step.partial.is_empty() {
                out.push(format!("#{n} {}", text(&std::mem::take(&mut step.partial))));
            }
            if !v.error.is_empty() {
                out.push(format!("#{n} ERROR: {}", v.error));
            } else if v.cached {
                out.push(format!("#{n} CACHED"));
            } else {
                let took = match (v.started, v.completed) {
                    (Some(s), Some(c)) if c >= s => format!(" {:.1}s", c - s),
                    _ => String::new(),
                };
                out.push(format!("#{n} DONE{took}"));
            }
        }
        for log in &status.logs {
            let next = self.steps.len() + 1;
            let step = self.steps.entry(log.vertex.clone()).or_default();
            if step.number == 0 {
                step.number = next;
            }
            let n = step.number;
            step.partial.extend_from_slice(&log.msg);
            while let Some(end) = step.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = step.partial.drain(..=end).collect();
                let line = text(&line[..end]);
                out.push(format!("#{n} {}", line.trim_end_matches('\r')));
            }
        }
        for warning in &status.warnings {
            out.push(format!("WARNING: {warning}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from Docker 20.10's BuildKit (`RUN echo hello; echo err >&2`, then a finished
    // and a cached step); base64 as the daemon sends it.
    const LOG_HELLO: &str = "GmEKR3NoYTI1NjpjNjFkZGIxZTY5M2M4ZTAyNTA1OGZiNmI4YjdmNDI1NzIxYzU4Mzg4ZDk2ZjVhYWE1NWM2ZTJmYjIwNjgwYjEwEgwInqe82AYQzvCrxwEYASIGaGVsbG8K";
    const VERTEX_DONE: &str = "CosBCkdzaGEyNTY6NTlmYWM1NDVkMGMxYWRjZjFkNjcyZTQ0MzI4OTZjZjBiMmJkNDhkNjM0ZTg0ZTU5N2M2ZGIxZGY1M2M4NzAxYxokW2ludGVybmFsXSBsb2FkIHJlbW90ZSBidWlsZCBjb250ZXh0KgwIlKe82AYQ8unrnAEyDAiUp7zYBhDf7PKeAQ==";

    #[test]
    fn a_captured_log_message_decodes() {
        let status = decode_trace(LOG_HELLO).expect("decodes");
        assert!(status.vertexes.is_empty());
        assert_eq!(status.logs.len(), 1);
        assert_eq!(status.logs[0].msg, b"hello\n");
        assert!(status.logs[0].vertex.starts_with("sha256:c61ddb1e"));
    }

    #[test]
    fn a_captured_vertex_decodes_with_its_times() {
        let status = decode_trace(VERTEX_DONE).expect("decodes");
        let v = &status.vertexes[0];
        assert_eq!(v.name, "[internal] load remote build context");
        assert!(v.digest.starts_with("sha256:59fac545"));
        assert!(!v.cached);
        let (s, c) = (v.started.expect("started"), v.completed.expect("completed"));
        assert!(s > 1.7e9 && c >= s && c - s < 1.0, "{s} {c}");
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        assert_eq!(decode_trace("not base64!"), Err(Malformed));
        // A length running past the end, and a truncated varint.
        assert_eq!(decode_status(&[0x0a, 0x05, 0x01]), Err(Malformed));
        assert_eq!(decode_status(&[0x08, 0xff]), Err(Malformed));
    }

    fn vertex(digest: &str, name: &str) -> Vertex {
        Vertex {
            digest: digest.into(),
            name: name.into(),
            started: Some(10.0),
            ..Vertex::default()
        }
    }

    #[test]
    fn steps_render_like_plain_progress() {
        let mut r = Renderer::default();
        let run = vertex("a", "[stage-0 2/3] RUN make");
        let mut lines = r.lines(&Status {
            vertexes: vec![run.clone()],
            ..Status::default()
        });
        // Output split across messages is joined into whole lines.
        for msg in [&b"hel"[..], b"lo\nwor", b"ld\n"] {
            lines.extend(r.lines(&Status {
                logs: vec![VertexLog {
                    vertex: "a".into(),
                    msg: msg.to_vec(),
                }],
                ..Status::default()
            }));
        }
        let cached = Vertex {
            cached: true,
            completed: Some(10.0),
            ..vertex("b", "[stage-0 1/3] FROM base")
        };
        let failed = Vertex {
            completed: Some(11.5),
            error: "exit code: 2".into(),
            ..run.clone()
        };
        lines.extend(r.lines(&Status {
            vertexes: vec![cached, failed.clone()],
            ..Status::default()
        }));
        // A step repeated after it finished adds nothing.
        lines.extend(r.lines(&Status {
            vertexes: vec![failed],
            ..Status::default()
        }));
        assert_eq!(
            lines,
            [
                "#1 [stage-0 2/3] RUN make",
                "#1 hello",
                "#1 world",
                "#2 [stage-0 1/3] FROM base",
                "#2 CACHED",
                "#1 ERROR: exit code: 2",
            ]
        );
    }

    #[test]
    fn a_finished_step_reports_its_duration() {
        let mut r = Renderer::default();
        let done = Vertex {
            completed: Some(12.25),
            ..vertex("a", "[internal] load build definition from Dockerfile")
        };
        assert_eq!(
            r.lines(&Status {
                vertexes: vec![done],
                ..Status::default()
            }),
            [
                "#1 [internal] load build definition from Dockerfile",
                "#1 DONE 2.2s"
            ]
        );
    }
}
