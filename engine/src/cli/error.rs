//! The command line's one error type: every way a command can stop before its verdict, each with
//! its exit code. Commands return [`CliResult`] (`Ok` holds the verdict's exit code, e.g. a run
//! whose suite failed); `main` prints an error once, as a miette diagnostic.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

use super::exit;
use crate::docker::DockerError;
use crate::exec::shell::SessionError;
use crate::plan::select::SelectError;
use crate::runner_binary::RunnerError;

/// What a command returns: the exit code of its verdict, or why it stopped.
pub type CliResult = Result<i32, CliError>;

#[derive(Debug, Error, Diagnostic)]
pub enum CliError {
    /// The matrix's diagnostics were printed while loading (every problem at once).
    #[error("the matrix is invalid")]
    InvalidMatrix,
    #[error(transparent)]
    #[diagnostic(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Merge(#[from] crate::report::merge::MergeError),
    #[error("cannot read the report {path} for --rerun-failed: {reason}")]
    #[diagnostic(
        code(engine::cli::rerun_report),
        help("pass the report.json of an earlier run (`.engine/runs/<id>/report.json`, or its `--report` file)")
    )]
    RerunReport { path: PathBuf, reason: String },
    #[error("cannot read the timings file {path}")]
    #[diagnostic(
        code(engine::cli::timings),
        help("pass the report.json of an earlier run (`.engine/runs/<id>/report.json`)")
    )]
    Timings {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Shell(#[from] super::shell::ShellError),
    #[error("schemas are out of date: {0}")]
    #[diagnostic(code(engine::cli::stale_schemas), help("run `engine schema --write`"))]
    StaleSchemas(String),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Runner(#[from] RunnerError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Session(#[from] SessionError),
    #[error("cannot start the async runtime: {0}")]
    #[diagnostic(code(engine::cli::runtime))]
    Runtime(std::io::Error),
    #[error("cannot write {path}")]
    #[diagnostic(code(engine::cli::write))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no suite to run: {selection} selects {why}")]
    #[diagnostic(code(engine::cli::nothing_to_run), help("{fix}"))]
    NothingToRun {
        selection: String,
        why: String,
        fix: &'static str,
    },
    #[error("no project here: {} does not exist", matrix.display())]
    #[diagnostic(
        code(engine::cli::no_project),
        help("`engine clean` removes one project's leftovers: run it in the project, name it with -m, or pass --all-projects (or --run ID)")
    )]
    NoProject { matrix: PathBuf },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lint(#[from] crate::lint::LintError),
    #[error("--rebuild {pattern}: {why}")]
    #[diagnostic(
        code(engine::cli::rebuild),
        help(
            "give a distro name or a glob over names, e.g. `--rebuild arch` or `--rebuild 'man*'`"
        )
    )]
    Rebuild { pattern: String, why: String },
    #[error("cannot open a shell: the image of {distro} could not be prepared (exit {code})")]
    #[diagnostic(
        code(engine::cli::not_prepared),
        help("the lines above say which node failed; `engine build {distro} -v` shows all")
    )]
    NotPrepared { distro: String, code: i32 },
}

/// "only pairs that do not apply: a (why), b (why)", or "nothing" when no pair matched at all.
pub fn nothing(why: &[String]) -> String {
    if why.is_empty() {
        "no suite at all".into()
    } else {
        format!("only pairs that do not apply:\n  {}", why.join("\n  "))
    }
}

impl CliError {
    /// 2 for what the user's input got wrong, 3 for the infrastructure, else the code of the
    /// verdict that stopped the command.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::InvalidMatrix
            | CliError::Select(_)
            | CliError::Timings { .. }
            | CliError::RerunReport { .. }
            | CliError::Merge(_)
            | CliError::Shell(_)
            | CliError::StaleSchemas(_)
            | CliError::Rebuild { .. }
            | CliError::NoProject { .. } => exit::INVALID,
            CliError::NotPrepared { code, .. } => *code,
            CliError::NothingToRun { .. } => exit::NOTHING_TO_RUN,
            CliError::Docker(_)
            | CliError::Runner(_)
            | CliError::Session(_)
            | CliError::Runtime(_)
            | CliError::Lint(_)
            | CliError::Write { .. } => exit::INFRA,
        }
    }

    /// Printed where it happened already (the matrix's own diagnostics).
    fn already_reported(&self) -> bool {
        matches!(self, CliError::InvalidMatrix)
    }
}

/// The process exit code of a command's result, printing its error once.
pub fn finish(result: CliResult, color: bool) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            if !e.already_reported() {
                crate::report::diagnostic::print(e, color);
            }
            code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_errors_are_2_and_infrastructure_errors_3() {
        assert_eq!(CliError::InvalidMatrix.exit_code(), 2);
        assert_eq!(CliError::StaleSchemas("x".into()).exit_code(), 2);
        let io = || std::io::Error::other("x");
        assert_eq!(CliError::Runtime(io()).exit_code(), 3);
        assert_eq!(
            CliError::Write {
                path: "x".into(),
                source: io()
            }
            .exit_code(),
            3
        );
        let not = CliError::NotPrepared {
            distro: "arch".into(),
            code: 130,
        };
        assert_eq!(not.exit_code(), 130, "an interrupted preparation stays 130");
    }
}
