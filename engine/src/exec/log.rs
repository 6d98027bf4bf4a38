//! A node's log: every line goes to `.engine/runs/<id>/logs/<node>.log` and to the live display;
//! the last lines are kept for failure reports.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::events::{EventSink, RunEvent};

const TAIL: usize = 30;
/// Phases kept per node: a suite has a handful, a provision one per step and user.
const PHASES: usize = 64;

pub struct NodeLog {
    node: String,
    path: PathBuf,
    file: Option<BufWriter<File>>,
    tail: VecDeque<String>,
    /// The last lines of each phase the runner marked (`[runner] == execute ==`), in order;
    /// at most PHASES of them.
    phases: VecDeque<(String, VecDeque<String>)>,
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
            phases: VecDeque::new(),
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
        push_bounded(&mut self.tail, line);
        match phase_started(line) {
            Some(name) => {
                if self.phases.len() == PHASES {
                    self.phases.pop_front();
                }
                self.phases.push_back((name.to_string(), VecDeque::new()));
            }
            None => {
                if let Some((_, lines)) = self.phases.back_mut() {
                    push_bounded(lines, line);
                }
            }
        }
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

    /// The last `n` lines of the latest phase named `phase` (its end mark included), when
    /// the runner marked one.
    pub fn phase_tail(&self, phase: &str, n: usize) -> Option<Vec<String>> {
        let (_, lines) = self.phases.iter().rev().find(|(name, _)| name == phase)?;
        let skip = lines.len().saturating_sub(n);
        Some(lines.iter().skip(skip).cloned().collect())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn push_bounded(lines: &mut VecDeque<String>, line: &str) {
    if lines.len() == TAIL {
        lines.pop_front();
    }
    lines.push_back(line.to_string());
}

/// The phase a `[runner] == NAME ==` line starts (not the `== NAME: exit 1 ==` that ends it).
fn phase_started(line: &str) -> Option<&str> {
    let name = line
        .strip_prefix(runner_protocol::protocol::PHASE_MARK)?
        .strip_suffix(" ==")?;
    (!name.contains(": ")).then_some(name)
}

impl Drop for NodeLog {
    fn drop(&mut self) {
        if let Some(f) = &mut self.file {
            let _ = f.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phases_tail_holds_its_own_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = NodeLog::create(
            "suite:a:b",
            &dir.path().join("x.log"),
            crate::events::discard(),
        );
        for l in [
            "[runner] == prepare ==",
            "ready",
            "[runner] == prepare: exit 0 ==",
            "[runner] == execute ==",
            "the real reason",
            "[runner] == execute: exit 1 ==",
            "[runner] == restore ==",
            "cleaning up",
            "[runner] == restore: exit 0 ==",
            // A suite's own line that looks like a mark's end is not a phase.
            "[runner] == x: y ==",
        ] {
            log.line(l);
        }
        assert_eq!(
            log.phase_tail("execute", 5).unwrap(),
            ["the real reason", "[runner] == execute: exit 1 =="]
        );
        assert_eq!(
            log.phase_tail("execute", 1).unwrap(),
            ["[runner] == execute: exit 1 =="]
        );
        assert!(log.phase_tail("debug", 5).is_none());
        assert_eq!(log.tail(1), ["[runner] == x: y =="]);
    }
}
