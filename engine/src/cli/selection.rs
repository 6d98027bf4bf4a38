//! Arguments shared by the commands that work on a plan (graph, list, plan, run), and loading a
//! matrix into a selected plan.

use crate::plan::select::{select, Selection};
use crate::plan::shard::{self, Shard};
use crate::plan::Plan;
use crate::spec::{self, Loaded, Matrix};

use super::validate::print_diagnostics;
use super::{exit, matrix_path, Cli};

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
}

/// The matrix, loaded and valid, or the exit code after printing why not.
pub fn load_matrix(cli: &Cli) -> Result<(Loaded, Matrix), i32> {
    let mut loaded = spec::load(&matrix_path(cli));
    print_diagnostics(&loaded, cli.color.stderr());
    match loaded.matrix.take() {
        Some(m) if !loaded.has_errors() => Ok((loaded, m)),
        _ => Err(exit::INVALID),
    }
}

/// Apply selection and sharding to a full plan.
pub fn narrow(plan: &Plan, matrix: &Matrix, args: &SelectArgs, color: bool) -> Result<Plan, i32> {
    let sel = Selection {
        patterns: args.patterns.clone(),
        distros: args.distros.clone(),
        suites: args.suites.clone(),
        exclude: args.exclude.clone(),
    };
    let mut plan = match select(plan, matrix, &sel) {
        Ok(p) => p,
        Err(e) => {
            report(e, color);
            return Err(exit::INVALID);
        }
    };
    if let Some(s) = args.shard {
        let weights = match &args.timings {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(t) => shard::weights_from_report(&t),
                Err(e) => {
                    eprintln!("error: cannot read timings {}: {e}", p.display());
                    return Err(exit::INVALID);
                }
            },
            None => Default::default(),
        };
        plan = shard::apply(&plan, s, &weights);
    }
    Ok(plan)
}

pub use crate::report::diagnostic::print as report;

/// The async runtime of a command, or exit 3 after saying why.
pub fn runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, i32> {
    let mut b = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        exit::INFRA
    })
}

/// A client to the Docker daemon, or exit 3 after showing the diagnostic (which names the
/// endpoint it tried).
pub async fn connect(color: bool) -> Result<crate::docker::DockerClient, i32> {
    crate::docker::DockerClient::connect().await.map_err(|e| {
        report(e, color);
        exit::INFRA
    })
}
