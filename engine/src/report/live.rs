//! Live progress as plain, timestamped lines (no control characters, so CI logs stay readable).
//! Used without a terminal, under `-q`, and by commands that prepare images (`engine shell`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::github;
use super::sanitize::clean;
use crate::events::RunEvent;
use crate::events::{NodeResult, Outcome};
use crate::plan::{Node, NodeKind};

pub fn now() -> String {
    let fmt = time::macros::format_description!("[hour]:[minute]:[second]");
    time::OffsetDateTime::now_utc()
        .format(fmt)
        .unwrap_or_default()
}

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Print one progress event as plain lines on stderr.
pub fn print(p: &RunEvent<'_>, verbosity: Verbosity) {
    Plain {
        verbosity,
        github: false,
        color: false,
    }
    .print(p);
}

/// The plain line printer.
#[derive(Debug, Clone, Copy)]
pub struct Plain {
    pub verbosity: Verbosity,
    /// Fold each failed node's output into a `::group::` (GitHub Actions).
    pub github: bool,
    /// The verdict word of finished nodes in its colour.
    pub color: bool,
}

impl Plain {
    pub fn print(&self, p: &RunEvent<'_>) {
        let text = self.render(p, &now());
        if !text.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes());
        }
    }

    /// The lines of one event, each prefixed with `stamp`.
    pub fn render(&self, p: &RunEvent<'_>, stamp: &str) -> String {
        let quiet = self.verbosity == Verbosity::Quiet;
        let verbose = self.verbosity == Verbosity::Verbose;
        match p {
            RunEvent::Started {
                run_id,
                run_dir,
                endpoint,
                server,
                nodes,
            } if !quiet => {
                format!(
                    "{stamp} run {run_id}: {nodes} nodes on {server} ({endpoint}); logs in {}\n",
                    run_dir.display()
                )
            }
            // The image chain is told by its results (a long build by heartbeat lines), and
            // a reused one not at all: the summary counts them (`images: 0 built, 12 reused`).
            // `-v` shows every start.
            RunEvent::NodeStarted { node }
                if !quiet && (verbose || node.kind == NodeKind::Suite) =>
            {
                format!("{stamp} start     {}\n", node.id)
            }
            RunEvent::NodeFinished { node, result, log } => {
                if quiet && !is_bad(&result.outcome) {
                    return String::new();
                }
                if !verbose && node.kind != NodeKind::Suite && result.outcome == Outcome::Cached {
                    return String::new();
                }
                let line = finished_line(node, result);
                let line = if self.color {
                    painted(&line, result.outcome.word())
                } else {
                    line
                };
                let mut out = format!("{stamp} {line}\n");
                let details = details(result, log);
                if !details.is_empty() {
                    if self.github {
                        out.push_str(&github::group(
                            &format!("{} {}", result.outcome.word(), node.id),
                            &details,
                        ));
                    } else {
                        out.push_str(&details);
                    }
                }
                out
            }
            RunEvent::Interrupted => format!("{stamp} interrupted: stopping containers\n"),
            RunEvent::Cleaned { containers } if *containers > 0 => {
                format!("{stamp} removed {containers} leftover container(s) of this run\n")
            }
            _ => String::new(),
        }
    }
}

/// Signs of life in plain output: a node that runs long (a debootstrap base takes a minute or
/// more, a provision step compiles) shows its elapsed time and latest output line, at most once
/// per node every `every`.
pub struct Heartbeat {
    every: Duration,
    /// Per running node: when it started, and when it last showed a line.
    nodes: Mutex<HashMap<String, (Instant, Instant)>>,
}

impl Heartbeat {
    pub fn new(every: Duration) -> Heartbeat {
        Heartbeat {
            every,
            nodes: Mutex::new(HashMap::new()),
        }
    }

    pub fn started(&self, node: &str) {
        let now = Instant::now();
        self.lock().insert(node.to_string(), (now, now));
    }

    pub fn finished(&self, node: &str) {
        self.lock().remove(node);
    }

    /// The line to show for this output line of `node`, if one is due.
    pub fn line(&self, node: &str, line: &str, stamp: &str) -> Option<String> {
        let now = Instant::now();
        let mut nodes = self.lock();
        let (started, last) = nodes.get_mut(node)?;
        if now.duration_since(*last) < self.every {
            return None;
        }
        *last = now;
        let text: String = clean(line).chars().take(100).collect();
        Some(format!(
            "{stamp} running   {node} ({}s): {text}\n",
            now.duration_since(*started).as_secs()
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Instant)>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A failure or an infrastructure error: shown even under `-q`.
pub fn is_bad(o: &Outcome) -> bool {
    o.is_failure() || o.is_infra()
}

/// `failed    suite:arch:must-fail (1.2s): execute exited with 1`
pub fn finished_line(node: &Node, result: &NodeResult) -> String {
    let secs = result.duration.as_secs_f64();
    let reason = match result.outcome.reason() {
        Some(r) => format!(": {r}"),
        None if !result.why.is_empty() => format!(": made again: {}", result.why.join("; ")),
        None => String::new(),
    };
    let timing = if result.started.is_some() {
        format!(" ({secs:.1}s)")
    } else {
        String::new()
    };
    format!("{:<9} {}{timing}{reason}", result.outcome.word(), node.id)
}

/// A finished line with its leading verdict word painted.
pub fn painted(line: &str, word: &str) -> String {
    match line.strip_prefix(word) {
        Some(rest) => format!("{}{rest}", super::paint::verdict(word, word)),
        None => line.to_string(),
    }
}

/// For a failed node: its diagnostic, the tail of its output and its log path (nothing for a
/// node that did not run because of another: that one has the details).
pub fn details(result: &NodeResult, log: &std::path::Path) -> String {
    let o = &result.outcome;
    if !is_bad(o) || matches!(o, Outcome::DependencyFailed { .. }) {
        return String::new();
    }
    let mut out = String::new();
    if let Some(d) = &result.diagnostic {
        out.push_str(d);
        if !d.ends_with('\n') {
            out.push('\n');
        }
    }
    for l in &result.tail {
        out.push_str(&format!("    | {}\n", clean(l)));
    }
    out.push_str(&format!("    log: {}\n", log.display()));
    out
}

/// Output lines of nodes, prefixed `[distro:suite]`, for `-v`.
pub fn output_line(node: &str, line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", prefixed(node, line));
}

/// `[arch:must-fail] line` (the node kind is dropped: `provision:arch` shows as `[arch]`).
pub fn prefixed(node: &str, line: &str) -> String {
    let short = node.split_once(':').map_or(node, |(_, rest)| rest);
    format!("[{short}] {}", clean(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_node_shows_a_sign_of_life_at_most_once_per_period() {
        let hb = Heartbeat::new(Duration::from_millis(200));
        // Lines of a node not started (or finished) are never shown.
        assert_eq!(hb.line("base:arch", "x", "T"), None);
        hb.started("base:arch");
        assert_eq!(hb.line("base:arch", "I: Retrieving libc6", "T"), None);
        std::thread::sleep(Duration::from_millis(250));
        let shown = hb
            .line("base:arch", "I: Retrieving \x1b[1mzstd", "T")
            .unwrap();
        assert!(
            shown.starts_with("T running   base:arch (0s): I: Retrieving"),
            "{shown}"
        );
        assert!(!shown.contains('\x1b'), "{shown:?}");
        assert_eq!(hb.line("base:arch", "next", "T"), None);
        hb.finished("base:arch");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(hb.line("base:arch", "late", "T"), None);
    }
    use crate::report::testing::every_outcome;
    use std::path::PathBuf;

    fn finished<'a>(
        run: &'a crate::events::RunResult,
        id: &str,
        log: &std::path::Path,
    ) -> RunEvent<'a> {
        let (node, result) = run.results.iter().find(|(n, _)| n.id == id).unwrap();
        RunEvent::NodeFinished {
            node,
            result,
            log: log.to_path_buf(),
        }
    }

    #[test]
    fn quiet_prints_only_failures_without_control_characters() {
        let run = every_outcome();
        let log = PathBuf::from("/l.log");
        let quiet = Plain {
            verbosity: Verbosity::Quiet,
            github: false,
            color: false,
        };
        assert_eq!(
            quiet.render(&finished(&run, "suite:arch:ok", &log), "T"),
            ""
        );
        let text = quiet.render(&finished(&run, "suite:arch:bad", &log), "T");
        assert!(
            text.starts_with("T failed    suite:arch:bad (1.2s): execute exited with 1\n"),
            "{text}"
        );
        assert!(text.contains("    | <boom> & \"quotes\" red\n"), "{text}");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.ends_with("    log: /l.log\n"));
    }

    #[test]
    fn a_reused_image_chain_is_silent_unless_verbose() {
        let run = every_outcome();
        let log = PathBuf::from("/l.log");
        let (normal, verbose) = (Verbosity::Normal, Verbosity::Verbose);
        let plain = |verbosity, color| Plain {
            verbosity,
            github: false,
            color,
        };
        let base = &run
            .results
            .iter()
            .find(|(n, _)| n.id == "base:arch")
            .unwrap()
            .0;
        let suite = &run
            .results
            .iter()
            .find(|(n, _)| n.id == "suite:arch:ok")
            .unwrap()
            .0;
        // base:arch was reused: neither its start nor its result under the default verbosity.
        assert_eq!(
            plain(normal, false).render(&RunEvent::NodeStarted { node: base }, "T"),
            ""
        );
        assert_eq!(
            plain(normal, false).render(&finished(&run, "base:arch", &log), "T"),
            ""
        );
        assert_eq!(
            plain(verbose, false).render(&finished(&run, "base:arch", &log), "T"),
            "T cached    base:arch (0.2s)\n"
        );
        // An image made now, and suites, are told.
        assert!(plain(normal, false)
            .render(&finished(&run, "image:arch", &log), "T")
            .starts_with("T passed    image:arch"));
        assert_eq!(
            plain(normal, false).render(&RunEvent::NodeStarted { node: suite }, "T"),
            "T start     suite:arch:ok\n"
        );
        // In colour, only the verdict word is painted.
        assert_eq!(
            plain(normal, true).render(&finished(&run, "suite:arch:ok", &log), "T"),
            "T \x1b[32mpassed\x1b[0m    suite:arch:ok (2.2s)\n"
        );
    }

    #[test]
    fn github_folds_the_details_into_a_group() {
        let run = every_outcome();
        let log = PathBuf::from("/l.log");
        let gh = Plain {
            verbosity: Verbosity::Normal,
            github: true,
            color: false,
        };
        let text = gh.render(&finished(&run, "suite:arch:slow", &log), "T");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "::group::timed out suite:arch:slow");
        assert_eq!(lines.last(), Some(&"::endgroup::"));
        // A node that did not run points at its dependency instead of repeating its details.
        assert_eq!(
            gh.render(&finished(&run, "suite:manjaro:ok", &log), "T")
                .lines()
                .count(),
            1
        );
    }

    #[test]
    fn prefix_drops_the_node_kind() {
        assert_eq!(prefixed("suite:arch:x", "\u{1b}[1mhi"), "[arch:x] hi");
        assert_eq!(prefixed("provision:arch", "y"), "[arch] y");
    }
}
