//! Arguments shared by the commands that work on a plan (graph, list, plan, run), and loading a
//! matrix into a selected plan.

use crate::plan::select::{select, Selection};
use crate::plan::shard::{self, Shard};
use crate::plan::Plan;
use crate::spec::{self, Loaded, Matrix};

use super::error::CliError;
use super::validate::print_diagnostics;
use super::{matrix_path, Cli};

#[derive(Debug, Clone, clap::Args)]
pub struct SelectArgs {
    /// What to select: DISTRO, DISTRO:SUITE, :SUITE (every distro), with * and ? globs.
    #[arg(value_name = "PATTERN")]
    pub patterns: Vec<String>,
    /// Only these distros (comma-separated globs).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub distros: Vec<String>,
    /// Only these suites (comma-separated globs).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub suites: Vec<String>,
    /// Leave out what matches (DISTRO, DISTRO:SUITE or :SUITE; repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Run only shard K of N (a deterministic slice of the suites), e.g. 2/4.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// A JSON report of an earlier run (`--report`), whose durations balance the shards. Give
    /// every shard the same file.
    #[arg(long, value_name = "PATH")]
    pub timings: Option<std::path::PathBuf>,
    /// Only the suites that failed, timed out, hit an infrastructure error or did not run
    /// because of one in this report of an earlier run (`report.json`), and what they need.
    #[arg(long, value_name = "REPORT")]
    pub rerun_failed: Option<std::path::PathBuf>,
}

/// The matrix, loaded and valid; its diagnostics (warnings too) are printed either way.
pub fn load_matrix(cli: &Cli) -> Result<(Loaded, Matrix), CliError> {
    let mut loaded = spec::load(&matrix_path(cli));
    print_diagnostics(&loaded, cli.color.stderr());
    match loaded.matrix.take() {
        Some(m) if !loaded.has_errors() => Ok((loaded, m)),
        _ => Err(CliError::InvalidMatrix),
    }
}

impl SelectArgs {
    /// The patterns and filters, without sharding.
    pub fn selection(&self) -> Selection {
        Selection {
            patterns: self.patterns.clone(),
            distros: self.distros.clone(),
            suites: self.suites.clone(),
            exclude: self.exclude.clone(),
        }
    }
}

/// Apply selection and sharding to a full plan.
pub fn narrow(plan: &Plan, matrix: &Matrix, args: &SelectArgs) -> Result<Plan, CliError> {
    shard_of(selected(plan, matrix, args)?, args)
}

/// The patterns and filters, then `--rerun-failed`: the plan before sharding.
pub fn selected(plan: &Plan, matrix: &Matrix, args: &SelectArgs) -> Result<Plan, CliError> {
    let chosen = select(plan, matrix, &args.selection())?;
    match &args.rerun_failed {
        None => Ok(chosen),
        Some(path) => {
            let failed = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|text| crate::report::json::failed_suites(&text))
                .map_err(|reason| CliError::RerunReport {
                    path: path.clone(),
                    reason,
                })?;
            Ok(crate::plan::select::only_suites(&chosen, &failed))
        }
    }
}

/// The shard `--shard` asks for of a selected plan (the plan itself without the flag).
pub fn shard_of(selected: Plan, args: &SelectArgs) -> Result<Plan, CliError> {
    match args.shard {
        Some(s) => Ok(shard::apply(&selected, s, &timings(args)?)),
        None => Ok(selected),
    }
}

/// The suite durations of `--timings`, for balancing shards (none without the flag).
pub fn timings(args: &SelectArgs) -> Result<std::collections::HashMap<String, f64>, CliError> {
    match &args.timings {
        Some(p) => std::fs::read_to_string(p)
            .map(|t| shard::weights_from_report(&t))
            .map_err(|source| CliError::Timings {
                path: p.clone(),
                source,
            }),
        None => Ok(Default::default()),
    }
}

/// The async runtime of a command.
pub fn runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, CliError> {
    let mut b = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all().build().map_err(CliError::Runtime)
}

/// A client to the Docker daemon (the error names the endpoint it tried).
pub async fn connect() -> Result<crate::docker::DockerClient, CliError> {
    Ok(crate::docker::DockerClient::connect().await?)
}

/// A client for the commands that bind-mount this machine's files into containers (run, build,
/// shell): the daemon must run on this machine, unless ENGINE_DOCKER_SHARES_FILES=1 says that
/// it sees the same files at the same paths.
pub async fn connect_for_mounts() -> Result<crate::docker::DockerClient, CliError> {
    use crate::docker::{DockerError, Locality};
    let docker = connect().await?;
    if std::env::var_os("ENGINE_DOCKER_SHARES_FILES").is_some_and(|v| v == "1") {
        return Ok(docker);
    }
    match docker.locality().await? {
        Locality::Here => Ok(docker),
        Locality::Elsewhere { daemon, here } => Err(DockerError::Remote {
            endpoint: docker.endpoint().to_string(),
            daemon,
            here,
        }
        .into()),
    }
}
