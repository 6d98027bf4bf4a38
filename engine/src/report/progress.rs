//! Live progress on a terminal (indicatif): one line per running node with its elapsed time and
//! its last output line, an overall bar with the counts so far, and the finished nodes scrolling
//! above them. Fed by the run's events (any thread).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::live::{self, Verbosity};
use super::sanitize::clean;
use super::summary::Counts;
use crate::events::RunEvent;
use crate::plan::NodeKind;

/// Redraws per second: enough for elapsed seconds and a spinner, cheap on a slow terminal.
const TICK: Duration = Duration::from_millis(200);

pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    state: Mutex<State>,
    verbosity: Verbosity,
    /// Colours in the bars (`--color`, `NO_COLOR`).
    color: bool,
}

#[derive(Default)]
struct State {
    running: HashMap<String, ProgressBar>,
    /// Suite verdicts so far.
    counts: Counts,
}

fn node_style(color: bool) -> ProgressStyle {
    // The templates are constants: a bad one is a bug that every test of this module catches.
    let template = if color {
        "  {spinner:.cyan} {prefix:40!} {elapsed:>4} {wide_msg:.dim}"
    } else {
        "  {spinner} {prefix:40!} {elapsed:>4} {wide_msg}"
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn overall_style(color: bool) -> ProgressStyle {
    let template = if color {
        "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} nodes  {wide_msg}"
    } else {
        "{elapsed_precise} [{bar:30}] {pos}/{len} nodes  {wide_msg}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Bars {
    /// Bars on stderr.
    pub fn stderr(verbosity: Verbosity, color: bool) -> Bars {
        Bars::with_target(ProgressDrawTarget::stderr_with_hz(10), verbosity, color)
    }

    pub fn with_target(target: ProgressDrawTarget, verbosity: Verbosity, color: bool) -> Bars {
        let multi = MultiProgress::with_draw_target(target);
        // Shown once the run says how many nodes there are (an empty bar would look full).
        let overall = ProgressBar::hidden().with_style(overall_style(color));
        Bars {
            multi,
            overall,
            state: Mutex::new(State::default()),
            verbosity,
            color,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn progress(&self, p: &RunEvent<'_>) {
        match p {
            RunEvent::Started {
                run_id,
                run_dir,
                endpoint,
                server,
                nodes,
            } => {
                self.overall.set_length(*nodes as u64);
                self.multi.add(self.overall.clone());
                self.overall.enable_steady_tick(TICK);
                self.println(&format!(
                    "run {run_id}: {nodes} nodes on {server} ({endpoint}); logs in {}",
                    run_dir.display()
                ));
            }
            RunEvent::NodeStarted { node } => {
                let bar = ProgressBar::new_spinner()
                    .with_style(node_style(self.color))
                    .with_prefix(node.id.clone());
                // Running nodes go above the overall bar, in the order they started.
                let bar = self.multi.insert_before(&self.overall, bar);
                bar.enable_steady_tick(TICK);
                let mut st = self.state();
                st.running.insert(node.id.clone(), bar);
                self.update_overall(&st);
            }
            RunEvent::NodeFinished { node, result, log } => {
                let mut st = self.state();
                if let Some(bar) = st.running.remove(&node.id) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                if node.kind == NodeKind::Suite {
                    st.counts.add(&result.outcome);
                }
                self.overall.inc(1);
                self.update_overall(&st);
                drop(st);
                let mut text = live::finished_line(node, result);
                if self.color {
                    text = live::painted(&text, result.outcome.word());
                }
                let details = live::details(result, log);
                if !details.is_empty() {
                    text.push('\n');
                    text.push_str(details.trim_end_matches('\n'));
                }
                self.println(&text);
            }
            RunEvent::Interrupted => self.println("interrupted: stopping containers"),
            RunEvent::Cleaned { containers } if *containers > 0 => {
                self.println(&format!(
                    "removed {containers} leftover container(s) of this run"
                ));
            }
            RunEvent::Cleaned { .. } => {}
            RunEvent::Output { node, line } => self.output(node, line),
        }
    }

    /// A line of a node's output: it becomes the node's message; with `-v` it also scrolls.
    pub fn output(&self, node: &str, line: &str) {
        if let Some(bar) = self.state().running.get(node) {
            bar.set_message(clean(line).into_owned());
        }
        if self.verbosity == Verbosity::Verbose {
            self.println(&live::prefixed(node, line));
        }
    }

    /// Take the bars off the screen (before the summary is printed).
    pub fn finish(&self) {
        for (_, bar) in self.state().running.drain() {
            bar.finish_and_clear();
        }
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }

    fn println(&self, text: &str) {
        // A terminal that went away must not stop the run.
        let _ = self.multi.println(text);
    }

    fn update_overall(&self, st: &State) {
        let c = &st.counts;
        let mut parts: Vec<String> = [
            (c.passed, "ok"),
            (c.failed, "failed"),
            (c.timed_out, "timed out"),
            (c.flaky, "flaky"),
            (c.infra, "infra"),
            (c.skipped, "skipped"),
            (c.cancelled, "cancelled"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, w)| format!("{n} {w}"))
        .collect();
        parts.push(format!("{} running", st.running.len()));
        self.overall.set_message(parts.join(", "));
    }

    #[cfg(test)]
    fn running_message(&self, node: &str) -> Option<String> {
        self.state().running.get(node).map(|b| b.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::every_outcome;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// A terminal that records what is written to it.
    #[derive(Debug, Default, Clone)]
    struct Recorder(Arc<Mutex<String>>);
    impl indicatif::TermLike for Recorder {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            let mut t = self.0.lock().unwrap();
            t.push_str(s);
            t.push('\n');
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn running_nodes_show_their_last_line_and_finished_ones_scroll_with_counts() {
        let term = Recorder::default();
        let bars = Bars::with_target(
            ProgressDrawTarget::term_like(Box::new(term.clone())),
            Verbosity::Normal,
            false,
        );
        let run = every_outcome();
        let get = |id: &str| run.results.iter().find(|(n, _)| n.id == id).unwrap();
        let dir = PathBuf::from("/runs/r");
        bars.progress(&RunEvent::Started {
            run_id: "r",
            run_dir: &dir,
            endpoint: "unix:///d",
            server: "Docker Engine 28.2.2",
            nodes: 3,
        });
        let (ok, ok_r) = get("suite:arch:ok");
        let (bad, bad_r) = get("suite:arch:bad");
        bars.progress(&RunEvent::NodeStarted { node: ok });
        bars.progress(&RunEvent::NodeStarted { node: bad });
        bars.output("suite:arch:ok", "first");
        bars.output("suite:arch:ok", "\u{1b}[32msecond\u{1b}[0m");
        assert_eq!(
            bars.running_message("suite:arch:ok").as_deref(),
            Some("second")
        );
        assert_eq!(bars.overall.message(), "2 running");
        bars.progress(&RunEvent::NodeFinished {
            node: ok,
            result: ok_r,
            log: PathBuf::from("/l1"),
        });
        bars.progress(&RunEvent::NodeFinished {
            node: bad,
            result: bad_r,
            log: PathBuf::from("/l2"),
        });
        assert_eq!(bars.running_message("suite:arch:ok"), None);
        assert_eq!(bars.overall.position(), 2);
        assert_eq!(bars.overall.length(), Some(3));
        assert_eq!(bars.overall.message(), "1 ok, 1 failed, 0 running");
        bars.finish();
        let screen = term.0.lock().unwrap().clone();
        assert!(
            screen.contains("run r: 3 nodes on Docker Engine 28.2.2 (unix:///d)"),
            "{screen}"
        );
        assert!(screen.contains("passed    suite:arch:ok"), "{screen}");
        assert!(screen.contains("failed    suite:arch:bad"), "{screen}");
        assert!(screen.contains("    | + test -L /usr/bin/ls"), "{screen}");
        assert!(screen.contains("    log: /l2"), "{screen}");
        // Normal verbosity does not scroll output lines.
        assert!(!screen.contains("[arch:ok] first"), "{screen}");
    }

    #[test]
    fn verbose_scrolls_output_lines_with_their_prefix() {
        let term = Recorder::default();
        let bars = Bars::with_target(
            ProgressDrawTarget::term_like(Box::new(term.clone())),
            Verbosity::Verbose,
            false,
        );
        bars.output("suite:arch:ok", "hello");
        bars.finish();
        assert!(term.0.lock().unwrap().contains("[arch:ok] hello"));
    }
}
