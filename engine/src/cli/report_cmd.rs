//! `engine report merge`: one result from the reports of a fan-out's shards (see
//! [`crate::report::merge`]): the grid and summary of one run, its exit code, and the merged
//! JSON report and JUnit file on request.

use std::io::Write;
use std::path::PathBuf;

use super::error::{CliError, CliResult};
use super::Cli;
use crate::events::exit;
use crate::report::merge::{log_of, merge_files};
use crate::report::reporter::{write_outputs, Outputs};
use crate::report::{summary, SourceFiles};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Merge the JSON reports of the shards of one fan-out (`engine run --shard K/N` in each
    /// job) into one result: the grid, summary and exit code of a single run of the whole
    /// selection. A shard whose report is missing shows as cells not run, never as passed.
    Merge(MergeArgs),
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shards' reports (`.engine/runs/<id>/report.json`, or each job's `--report` file).
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// Also write the merged JSON report here.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Also write the merged JUnit XML here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also write the merged grid as one self-contained HTML page here.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

pub fn run(cli: &Cli, args: &ReportArgs) -> CliResult {
    match &args.command {
        ReportCommand::Merge(m) => merge(cli, m),
    }
}

fn merge(cli: &Cli, args: &MergeArgs) -> CliResult {
    let merged = merge_files(&args.reports).map_err(CliError::from)?;
    let logs = |id: &str| log_of(&merged.logs, id);
    let title = format!("engine: {} shards merged", args.reports.len());
    let outputs = Outputs {
        reports: args.report.iter().cloned().collect(),
        junit: args.junit.as_deref(),
        html: args.html.as_deref().map(|path| (path, title.as_str())),
        plan: Some(&merged.plan),
    };
    let problems = write_outputs(
        &merged.run,
        &merged.skipped,
        logs,
        &SourceFiles::default(),
        &outputs,
    );
    let code = merged.run.exit_code();
    let mut out = summary::render(&merged.run, &merged.skipped, logs, cli.color.stdout());
    out.push_str(&format!(
        "{} reports merged ({}): {} (exit {code})\n",
        args.reports.len(),
        merged.run.run_id,
        crate::report::reporter::verdict(code)
    ));
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush());
    // A file asked for is missing: a green merge must not look complete.
    let missing = !problems.is_empty();
    for e in problems {
        crate::report::diagnostic::print(e, cli.color.stderr());
    }
    Ok(if missing && code == exit::OK {
        exit::INFRA
    } else {
        code
    })
}
