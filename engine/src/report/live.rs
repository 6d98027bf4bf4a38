//! Live progress as plain, timestamped lines (no control characters, so CI logs stay readable).

use std::io::Write;

use crate::exec::run::Progress;
use crate::exec::Outcome;

fn now() -> String {
    let fmt = time::macros::format_description!("[hour]:[minute]:[second]");
    time::OffsetDateTime::now_utc().format(fmt).unwrap_or_default()
}

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub fn print(p: &Progress<'_>, verbosity: Verbosity) {
    let mut err = std::io::stderr().lock();
    match p {
        Progress::Started { run_id, run_dir, endpoint, nodes } => {
            if verbosity != Verbosity::Quiet {
                let _ = writeln!(err, "{} run {run_id}: {nodes} nodes on {endpoint}; logs in {}", now(), run_dir.display());
            }
        }
        Progress::NodeStarted { node } => {
            if verbosity != Verbosity::Quiet {
                let _ = writeln!(err, "{} start     {}", now(), node.id);
            }
        }
        Progress::NodeFinished { node, result, log } => {
            let bad = result.outcome.is_failure() || result.outcome.is_infra();
            if verbosity == Verbosity::Quiet && !bad {
                return;
            }
            let secs = result.duration.as_secs_f64();
            let reason = result.outcome.reason().map(|r| format!(": {r}")).unwrap_or_default();
            let timing = if result.started.is_some() { format!(" ({secs:.1}s)") } else { String::new() };
            let _ = writeln!(err, "{} {:<9} {}{timing}{reason}", now(), result.outcome.word(), node.id);
            if bad && !matches!(result.outcome, Outcome::DependencyFailed { .. }) {
                if let Some(d) = &result.diagnostic {
                    let _ = write!(err, "{d}");
                }
                for l in &result.tail {
                    let _ = writeln!(err, "    | {l}");
                }
                let _ = writeln!(err, "    log: {}", log.display());
            }
        }
        Progress::Interrupted => {
            let _ = writeln!(err, "{} interrupted: stopping containers", now());
        }
        Progress::Cleaned { containers } => {
            if *containers > 0 {
                let _ = writeln!(err, "{} removed {containers} leftover container(s) of this run", now());
            }
        }
    }
}

/// Output lines of nodes, prefixed `[distro:suite]`, for `-v`.
pub fn output_line(node: &str, line: &str) {
    let short = node.split_once(':').map_or(node, |(_, rest)| rest);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "[{short}] {line}");
}
