//! One `engine run`'s reporting: the live display (bars on a terminal, plain lines elsewhere),
//! the JSON Lines events for tools, and at the end the files (report.json, `--report`,
//! `--junit`), the summary, GitHub annotations and step summary.
//!
//! Human output goes to stderr while the run goes; the summary goes to stdout, or to stderr
//! too when stdout carries the JSON Lines events (`--message-format json`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::jsonl::{Event, JsonLines};
use super::live::{Heartbeat, Plain, Verbosity};
use super::progress::Bars;
use super::summary::Counts;
use super::{github, json, junit, summary, write_atomic, SourceFiles};
use crate::events::{EventSink, RunEvent, RunResult};
use crate::plan::Skipped;

/// What to show and write.
#[derive(Debug, Clone)]
pub struct Options {
    pub verbosity: Verbosity,
    /// JSON Lines events on stdout (`--message-format json`).
    pub json_events: bool,
    /// `--report PATH` (the report is always written into the run's folder too).
    pub report: Option<PathBuf>,
    /// `--junit PATH`.
    pub junit: Option<PathBuf>,
    /// `--html PATH`, and the page's title.
    pub html: Option<(PathBuf, String)>,
    /// Running as a GitHub Actions step: groups, annotations, step summary.
    pub github: bool,
    /// Where GitHub wants the Markdown summary (`$GITHUB_STEP_SUMMARY`).
    pub step_summary: Option<PathBuf>,
    /// Progress bars instead of plain lines.
    pub bars: bool,
    /// Colours in error messages and the live lines or bars (stderr).
    pub color: bool,
    /// Colours in the verdict grid (stdout).
    pub grid_color: bool,
    /// The selection the run is (a shard of), recorded in the report for `engine report merge`.
    pub plan: Option<super::json::PlanInfo>,
}

impl Options {
    /// The defaults for this process: bars only on a terminal (and never under `-q` or in
    /// GitHub Actions, whose log is not a terminal even when it claims colours).
    pub fn from_env(verbosity: Verbosity, json_events: bool, color: bool) -> Options {
        let github = github::enabled();
        let term_ok = std::env::var("TERM").map_or(true, |t| t != "dumb");
        Options {
            verbosity,
            json_events,
            report: None,
            junit: None,
            html: None,
            github,
            step_summary: if github {
                github::step_summary_path()
            } else {
                None
            },
            bars: std::io::stderr().is_terminal()
                && term_ok
                && verbosity != Verbosity::Quiet
                && !github,
            color,
            grid_color: false,
            plan: None,
        }
    }
}

/// A file the user asked for could not be written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ReportError {
    #[error("cannot write the {what} to {path}: {source}")]
    #[diagnostic(
        code(report::write),
        help("check that the folder exists and is writable")
    )]
    Write {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Junit(#[from] junit::JunitError),
}

enum Human {
    Plain(Plain, Heartbeat),
    Bars(Bars),
}

/// How often a long-running node shows a line in plain output.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(20);

pub struct Reporter {
    opts: Options,
    human: Human,
    json: Option<JsonLines>,
    files: SourceFiles,
}

impl Reporter {
    pub fn new(opts: Options, files: SourceFiles) -> Arc<Reporter> {
        let human = if opts.bars {
            Human::Bars(Bars::stderr(opts.verbosity, opts.color))
        } else {
            Human::Plain(
                Plain {
                    verbosity: opts.verbosity,
                    github: opts.github,
                    color: opts.color,
                },
                Heartbeat::new(HEARTBEAT),
            )
        };
        let json = opts.json_events.then(JsonLines::stdout);
        Arc::new(Reporter {
            opts,
            human,
            json,
            files,
        })
    }

    /// Where the run sends its events (output lines included) while it goes.
    pub fn sink(self: &Arc<Self>) -> EventSink {
        let me = self.clone();
        Arc::new(move |e: &RunEvent<'_>| me.event(e))
    }

    pub fn event(&self, e: &RunEvent<'_>) {
        match e {
            RunEvent::Output { node, line } => self.output(node, line),
            other => self.progress(other),
        }
    }

    fn output(&self, node: &str, line: &str) {
        if let Some(j) = &self.json {
            j.emit(&Event::Output { node, line });
        }
        match &self.human {
            Human::Bars(b) => b.output(node, line),
            Human::Plain(p, _) if p.verbosity == Verbosity::Verbose => {
                super::live::output_line(node, line)
            }
            Human::Plain(p, hb) if p.verbosity == Verbosity::Normal => {
                if let Some(text) = hb.line(node, line, &super::live::now()) {
                    let _ = std::io::stderr().lock().write_all(text.as_bytes());
                }
            }
            Human::Plain(..) => {}
        }
    }

    fn progress(&self, p: &RunEvent<'_>) {
        if let Some(j) = &self.json {
            j.emit(&Event::from_run_event(p));
        }
        match &self.human {
            Human::Bars(b) => b.progress(p),
            Human::Plain(plain, hb) => {
                match p {
                    RunEvent::NodeStarted { node } => hb.started(&node.id),
                    RunEvent::NodeFinished { node, .. } => hb.finished(&node.id),
                    _ => {}
                }
                plain.print(p)
            }
        }
    }

    /// Write and print everything about the finished (or interrupted) run; returns the exit
    /// code of `engine run`.
    pub fn finish(&self, run: &RunResult, skipped: &[Skipped]) -> i32 {
        if let Human::Bars(b) = &self.human {
            b.finish();
        }
        let log_of = |id: &str| log_path(&run.run_dir, id);
        let report_path = run.run_dir.join("report.json");
        let mut reports = vec![report_path.clone()];
        reports.extend(self.opts.report.clone());
        let outputs = Outputs {
            reports,
            junit: self.opts.junit.as_deref(),
            html: self
                .opts
                .html
                .as_ref()
                .map(|(path, title)| (path.as_path(), title.as_str())),
            plan: self.opts.plan.as_ref(),
        };
        let mut errors = write_outputs(run, skipped, log_of, &self.files, &outputs);
        let report_written = !errors
            .iter()
            .any(|e| matches!(e, ReportError::Write { path, .. } if *path == report_path));

        let code = run.exit_code();
        let mut human = String::new();
        // The grid goes to stdout, or to stderr beside the JSON Lines.
        let paint = if self.json.is_some() {
            self.opts.color
        } else {
            self.opts.grid_color
        };
        human.push_str(&summary::render(run, skipped, log_of, paint));
        if self.opts.github {
            human.push_str(&github::annotations(run, &self.files));
        }
        // Name the report only when it is there.
        let where_ = if report_written {
            format!("report: {}", summary::relative(&report_path))
        } else {
            "no report (it could not be written: see below)".to_string()
        };
        human.push_str(&format!("{} (exit {code}); {where_}\n", verdict(code)));
        if self.json.is_some() {
            let _ = std::io::stderr().lock().write_all(human.as_bytes());
        } else {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(human.as_bytes()).and_then(|_| out.flush());
        }
        if let Some(path) = &self.opts.step_summary {
            if let Err(source) =
                github::append_step_summary(path, &github::markdown(run, skipped, log_of))
            {
                errors.push(ReportError::Write {
                    what: "GitHub step summary",
                    path: path.clone(),
                    source,
                });
            }
        }
        // A file the user asked for is missing: a green run must not look complete.
        let code = if !errors.is_empty() && code == crate::events::exit::OK {
            crate::events::exit::INFRA
        } else {
            code
        };
        for e in errors {
            super::diagnostic::print(e, self.opts.color);
        }
        if let Some(j) = &self.json {
            j.emit(&Event::RunFinished {
                run_id: &run.run_id,
                exit_code: code,
                interrupted: run.interrupted,
                counts: Counts::of(run, skipped),
                report: report_path.display().to_string(),
                junit: self.opts.junit.as_ref().map(|p| p.display().to_string()),
            });
        }
        code
    }
}

/// The log file of a node in a run's folder (as the executor names it).
pub use crate::events::log_path;

/// The files a run's result is written to: JSON reports, JUnit, the HTML page.
pub struct Outputs<'a> {
    pub reports: Vec<PathBuf>,
    pub junit: Option<&'a Path>,
    /// The page's path and title.
    pub html: Option<(&'a Path, &'a str)>,
    /// The plan recorded in the JSON report.
    pub plan: Option<&'a json::PlanInfo>,
}

/// Writes `outputs` for `run` (atomically, each file whole or not at all); every file that
/// could not be written is an error naming it. For `engine run` and `engine report merge`.
pub fn write_outputs(
    run: &RunResult,
    skipped: &[Skipped],
    log_of: impl Fn(&str) -> PathBuf,
    files: &SourceFiles,
    outputs: &Outputs,
) -> Vec<ReportError> {
    let mut errors = Vec::new();
    let mut write = |what: &'static str, path: &Path, text: &str| {
        if let Err(source) = write_atomic(path, text.as_bytes()) {
            errors.push(ReportError::Write {
                what,
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let report = json::to_text(&json::build(run, skipped, &log_of, outputs.plan));
    for path in &outputs.reports {
        write("JSON report", path, &report);
    }
    if let Some((path, title)) = outputs.html {
        write(
            "HTML report",
            path,
            &super::html::render(run, skipped, &log_of, title),
        );
    }
    if let Some(path) = outputs.junit {
        match junit::render(run, skipped, files) {
            Ok(xml) => write("JUnit XML", path, &xml),
            Err(e) => errors.push(e.into()),
        }
    }
    errors
}

/// The summary's last words for an exit code.
pub fn verdict(code: i32) -> &'static str {
    match code {
        0 => "all suites passed",
        1 => "some suites failed",
        3 => "infrastructure errors: results are incomplete",
        130 => "interrupted",
        _ => "done",
    }
}
