//! `engine run --message-format json`: the run as a stream of JSON Lines on stdout, one event
//! per line, for tools (editors, dashboards, wrappers). Human output then goes to stderr only.
//!
//! Events (field `event`): `run_started`, `node_started`, `output`, `node_finished`,
//! `interrupted`, `cleaned`, `run_finished`. Every line is a complete JSON object: output of
//! suites is escaped, so a suite cannot break the stream.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use super::json::{Kind, Status};
use super::summary::Counts;
use crate::events::{InfraKind, RunEvent};
use crate::plan::Node;

/// Version of the event stream, in `run_started`.
pub const VERSION: u32 = 1;

#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    RunStarted {
        v: u32,
        run_id: &'a str,
        run_dir: String,
        endpoint: &'a str,
        server: &'a str,
        nodes: usize,
    },
    NodeStarted {
        #[serde(flatten)]
        node: NodeRef<'a>,
    },
    Output {
        node: &'a str,
        line: &'a str,
    },
    NodeFinished {
        #[serde(flatten)]
        node: NodeRef<'a>,
        status: Status,
        duration_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// For `infra`: which part of the infrastructure failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        infra_kind: Option<InfraKind>,
        attempts: u32,
        log: String,
    },
    Interrupted {},
    Cleaned {
        containers: usize,
    },
    RunFinished {
        run_id: &'a str,
        exit_code: i32,
        interrupted: bool,
        counts: Counts,
        report: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        junit: Option<String>,
    },
}

/// Which node an event is about.
#[derive(Debug, Serialize)]
pub struct NodeRef<'a> {
    pub node: &'a str,
    pub kind: Kind,
    pub distro: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suite: Option<&'a str>,
}

impl<'a> From<&'a Node> for NodeRef<'a> {
    fn from(n: &'a Node) -> Self {
        NodeRef {
            node: &n.id,
            kind: n.kind.into(),
            distro: &n.distro,
            suite: n.suite.as_deref(),
        }
    }
}

impl<'a> Event<'a> {
    pub fn from_run_event(p: &'a RunEvent<'a>) -> Event<'a> {
        match p {
            RunEvent::Started {
                run_id,
                run_dir,
                endpoint,
                server,
                nodes,
            } => Event::RunStarted {
                v: VERSION,
                run_id,
                run_dir: run_dir.display().to_string(),
                endpoint,
                server,
                nodes: *nodes,
            },
            RunEvent::NodeStarted { node } => Event::NodeStarted {
                node: (*node).into(),
            },
            RunEvent::NodeFinished { node, result, log } => Event::NodeFinished {
                node: (*node).into(),
                status: (&result.outcome).into(),
                duration_ms: result.duration.as_millis() as u64,
                reason: result.outcome.reason(),
                infra_kind: result.outcome.infra_kind(),
                attempts: result.attempts,
                log: log.display().to_string(),
            },
            RunEvent::Output { node, line } => Event::Output { node, line },
            RunEvent::Interrupted => Event::Interrupted {},
            RunEvent::Cleaned { containers } => Event::Cleaned {
                containers: *containers,
            },
        }
    }
}

/// Writes events, one per line, from any thread (output lines arrive from the node tasks).
pub struct JsonLines {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLines {
    pub fn stdout() -> JsonLines {
        JsonLines::to(Box::new(std::io::stdout()))
    }

    pub fn to(out: Box<dyn Write + Send>) -> JsonLines {
        JsonLines {
            out: Mutex::new(out),
        }
    }

    pub fn emit(&self, e: &Event<'_>) {
        // Serializing the line before taking the lock keeps lines whole and the lock short.
        let Ok(mut line) = serde_json::to_vec(e) else {
            return;
        };
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        // A closed stdout (the reading tool went away) must not stop the run.
        let _ = out.write_all(&line).and_then(|_| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::every_outcome;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// A `Write` whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_event_is_one_json_object_per_line() {
        let buf = Shared::default();
        let j = JsonLines::to(Box::new(buf.clone()));
        let run = every_outcome();
        let (node, result) = run
            .results
            .iter()
            .find(|(n, _)| n.id == "suite:arch:slow")
            .unwrap();
        let dir = PathBuf::from("/runs/x");
        j.emit(&Event::from_run_event(&RunEvent::Started {
            run_id: "x",
            run_dir: &dir,
            endpoint: "unix:///s",
            server: "Podman Engine 4.3.1",
            nodes: 3,
        }));
        j.emit(&Event::from_run_event(&RunEvent::NodeStarted { node }));
        j.emit(&Event::Output {
            node: &node.id,
            line: "bell\u{7} \"quoted\"\nnot a new line",
        });
        j.emit(&Event::from_run_event(&RunEvent::NodeFinished {
            node,
            result,
            log: PathBuf::from("/l"),
        }));
        j.emit(&Event::from_run_event(&RunEvent::Interrupted));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 5, "{text}");
        assert_eq!(events[0]["event"], "run_started");
        assert_eq!(events[0]["v"], 1);
        assert_eq!(events[1]["event"], "node_started");
        assert_eq!(events[1]["node"], "suite:arch:slow");
        assert_eq!(events[1]["suite"], "slow");
        assert_eq!(events[2]["line"], "bell\u{7} \"quoted\"\nnot a new line");
        assert_eq!(events[3]["status"], "timed_out");
        assert_eq!(events[3]["duration_ms"], 3250);
        assert_eq!(events[3]["reason"], "timed out after 3s");
        assert_eq!(events[4]["event"], "interrupted");
    }
}
