//! The run's vocabulary: what `exec` produces and `report` consumes. No logic lives here, and
//! this module imports nothing above it, so producers and consumers never import each other.
//!
//! How the event types of the engine relate:
//!
//! ```text
//! runner (in the container) --runner_protocol::Event--> exec (reads the node's event file)
//! exec::scheduler::SchedEvent (internal: a node started or finished in the DAG)
//!                    |  exec translates both into
//!                    v
//!              events::RunEvent  --EventSink-->  report (bars, plain lines, summary, files)
//!                                                   '--> report::jsonl::Event (the same events
//!                                                        serialised for --message-format json)
//! ```
//!
//! - [`RunEvent`]: one thing that happened while the run goes (an output line included).
//! - [`Outcome`], [`NodeResult`]: the verdict of one node.
//! - [`RunResult`]: everything about a finished run.
//! - [`exit`]: the exit-code table shared by every command.

pub mod exit;
pub mod outcome;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use outcome::{InfraKind, NodeResult, Outcome};

use crate::plan::Node;

/// Something the run reports as it goes.
pub enum RunEvent<'a> {
    Started {
        run_id: &'a str,
        run_dir: &'a Path,
        endpoint: &'a str,
        /// The engine behind the endpoint and its version (`Podman Engine 4.3.1`).
        server: &'a str,
        nodes: usize,
    },
    NodeStarted {
        node: &'a Node,
    },
    /// One line of a node's output (a suite's, a build's, a script's), secrets already masked.
    Output {
        node: &'a str,
        line: &'a str,
    },
    NodeFinished {
        node: &'a Node,
        result: &'a NodeResult,
        log: PathBuf,
    },
    Interrupted,
    Cleaned {
        containers: usize,
    },
}

/// Where a run sends its events; called from any task.
pub type EventSink = Arc<dyn Fn(&RunEvent<'_>) + Send + Sync>;

/// A sink that drops everything.
pub fn discard() -> EventSink {
    Arc::new(|_: &RunEvent<'_>| {})
}

/// Where the log of `node` is in the run's folder: `<run>/logs/<node>.log` (exec writes it,
/// reports point at it).
pub fn log_path(run_dir: &Path, node: &str) -> PathBuf {
    run_dir
        .join("logs")
        .join(format!("{}.log", Node::file_stem(node)))
}

/// Everything about a finished (or interrupted) run.
pub struct RunResult {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub results: Vec<(Node, NodeResult)>,
    pub interrupted: bool,
}

impl RunResult {
    /// 130 interrupted; 3 infrastructure; 1 a suite failed; 0 all passed.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            exit::INTERRUPTED
        } else if self.results.iter().any(|(_, r)| r.outcome.is_infra()) {
            exit::INFRA
        } else if self.results.iter().any(|(_, r)| r.outcome.is_failure()) {
            exit::SUITE_FAILED
        } else {
            exit::OK
        }
    }
}
