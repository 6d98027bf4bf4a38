//! A node's log: every line goes to `.engine/runs/<id>/logs/<node>.log` and to the live display;
//! the last lines are kept for failure reports.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::events::{EventSink, RunEvent};

const TAIL: usize = 30;

pub struct NodeLog {
    node: String,
    path: PathBuf,
    file: Option<BufWriter<File>>,
    tail: VecDeque<String>,
    live: EventSink,
    /// Values never written in clear (pass_env secrets).
    secrets: Vec<String>,
}

impl NodeLog {
    pub fn create(node: &str, path: &Path, live: EventSink) -> NodeLog {
        let file = path
            .parent()
            .map(std::fs::create_dir_all)
            .and_then(Result::ok)
            .and_then(|_| File::create(path).ok())
            .map(BufWriter::new);
        NodeLog {
            node: node.to_string(),
            path: path.to_path_buf(),
            file,
            tail: VecDeque::with_capacity(TAIL),
            live,
            secrets: Vec::new(),
        }
    }

    /// Mask these values from now on.
    pub fn mask(&mut self, secrets: &[String]) {
        self.secrets.extend(secrets.iter().cloned());
    }

    pub fn line(&mut self, line: &str) {
        let masked;
        let line = if self.secrets.is_empty() {
            line
        } else {
            masked = super::context::mask(line, &self.secrets);
            &masked
        };
        if let Some(f) = &mut self.file {
            let _ = writeln!(f, "{line}");
        }
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
        (self.live)(&RunEvent::Output {
            node: &self.node,
            line,
        });
    }

    /// A line from the engine itself (not from the container), marked as such.
    pub fn note(&mut self, text: &str) {
        self.line(&format!("[engine] {text}"));
    }

    pub fn tail(&self, n: usize) -> Vec<String> {
        let skip = self.tail.len().saturating_sub(n);
        self.tail.iter().skip(skip).cloned().collect()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for NodeLog {
    fn drop(&mut self) {
        if let Some(f) = &mut self.file {
            let _ = f.flush();
        }
    }
}
