//! `engine shell DISTRO [SUITE]`: an interactive shell in a fresh container of the distro's
//! provisioned image, to reproduce a failure by hand.
//!
//! The image chain is prepared first with the run machinery (base, image, provision: cached
//! ones are reused); then `exec::shell` opens the session. The shell's exit code is the
//! command's.

use std::sync::Arc;

use super::error::{CliError, CliResult};
use super::selection::{load_matrix, narrow, SelectArgs};
use super::{exit, Cli};
use crate::events::RunEvent;
use crate::exec::context::{RunCtx, RunIds, RunInputs};
use crate::exec::run::{execute, RunRequest};
use crate::plan::Plan;
use crate::report::live::{self, Verbosity};
use crate::spec::matrix::{Distro, Suite};
use crate::spec::suggest::did_you_mean;
use crate::spec::Matrix;

#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// The distro whose provisioned image to enter.
    pub distro: String,
    /// A suite whose environment variables and working folder the shell gets.
    pub suite: Option<String>,
    /// Image builds at once, if images must be built first.
    #[arg(long, value_name = "N")]
    pub build_jobs: Option<usize>,
    /// Open the shell in what a failed suite left in run RUN (its container, kept as an image
    /// by `engine run --keep-containers`) instead of a fresh container. Needs SUITE.
    #[arg(long, value_name = "RUN", requires = "suite")]
    pub kept: Option<String>,
    /// Run nothing on the host (no rootfs script) when images must be built first.
    #[arg(long, env = "ENGINE_NO_HOST_EXEC", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_host_exec: bool,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ShellError {
    #[error("no distro `{name}` in the matrix")]
    #[diagnostic(code(engine::shell::unknown_distro), help("{hint}"))]
    UnknownDistro { name: String, hint: String },
    #[error("no suite `{name}` in the matrix")]
    #[diagnostic(code(engine::shell::unknown_suite), help("{hint}"))]
    UnknownSuite { name: String, hint: String },
    #[error("run {run} kept no container of {distro}:{suite}")]
    #[diagnostic(
        code(engine::shell::not_kept),
        help("`engine run --keep-containers` keeps a failed suite's container as {image}; the summary names the runs that did")
    )]
    NotKept {
        run: String,
        distro: String,
        suite: String,
        image: String,
    },
    #[error("suite `{suite}` does not apply to {distro}: {reason}")]
    #[diagnostic(
        code(engine::shell::not_applicable),
        help("pick a distro the suite runs on, or leave the suite out")
    )]
    NotApplicable {
        suite: String,
        distro: String,
        reason: String,
    },
}

fn hint(name: &str, known: impl Iterator<Item = String>) -> String {
    let known: Vec<String> = known.collect();
    match did_you_mean(name, known.iter().map(String::as_str)) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("known: {}", known.join(", ")),
    }
}

pub fn run(cli: &Cli, args: &ShellArgs) -> CliResult {
    let (loaded, matrix) = load_matrix(cli)?;
    let keys = crate::plan::hash::cache_keys(&matrix);
    let full = Plan::build(&matrix, Some(&keys));
    let (distro, suite) = target(&matrix, &full, args)?;
    if let (Some(run), Some(suite)) = (&args.kept, &suite) {
        return open_kept(RunInputs::new(loaded, matrix, keys), &distro, suite, run);
    }
    // The distro's image chain only, as `engine build DISTRO` would run it.
    let select = SelectArgs {
        patterns: vec![distro.name.clone()],
        distros: Vec::new(),
        suites: Vec::new(),
        exclude: Vec::new(),
        shard: None,
        timings: None,
        rerun_failed: None,
    };
    let plan = narrow(&full, &matrix, &select)?.images_only();
    let req = RunRequest {
        jobs: 2,
        build_jobs: args
            .build_jobs
            .unwrap_or(matrix.engine.build_concurrency as usize),
        fail_fast: true,
        keep_failed: false,
        state_dir: matrix.root.join(".engine"),
        keep_runs: matrix.engine.keep_runs as usize,
        runner_bin: super::run::runner_path()?,
        force: Default::default(),
        no_host_exec: args.no_host_exec,
        disk_limits: false,
        mark_latest: false,
    };
    let runtime = super::selection::runtime(true)?;
    let inputs = RunInputs::new(loaded, matrix, keys);
    let result = runtime.block_on(prepare_and_open(
        inputs,
        &plan,
        &req,
        &distro,
        suite.as_ref(),
    ));
    // The stdin reader may still wait in a read(): do not wait for it.
    runtime.shutdown_background();
    result
}

/// A shell in the image a failed suite's container was kept as, with the suite's mounts,
/// environment and folder; in that run's folder, so that it leaves no new run behind.
fn open_kept(inputs: RunInputs, distro: &Distro, suite: &Suite, run: &str) -> CliResult {
    let image = crate::exec::suite::kept_image(run, &distro.name, &suite.name);
    let runtime = super::selection::runtime(true)?;
    let ids = RunIds {
        run_id: run.to_string(),
        run_dir: inputs.matrix.root.join(".engine/runs").join(run),
    };
    let result = runtime.block_on(async {
        let docker = super::selection::connect_for_mounts().await?;
        if docker.image_labels(&image).await.ok().flatten().is_none() {
            return Err(CliError::from(ShellError::NotKept {
                run: run.to_string(),
                distro: distro.name.clone(),
                suite: suite.name.clone(),
                image: image.clone(),
            }));
        }
        eprintln!(
            "entering {image}: the container {}:{} left in run {run}",
            distro.name, suite.name
        );
        let ctx = RunCtx::new(docker, inputs, ids, super::run::runner_path()?, false);
        Ok(crate::exec::shell::open(&ctx, distro, Some(suite), Some(image.clone())).await?)
    });
    runtime.shutdown_background();
    result
}

/// The distro asked for, and the suite if one was: known, and applicable to each other.
fn target(
    matrix: &Matrix,
    full: &Plan,
    args: &ShellArgs,
) -> Result<(Distro, Option<Suite>), ShellError> {
    let Some(distro) = matrix.distros.get(&args.distro) else {
        return Err(ShellError::UnknownDistro {
            name: args.distro.clone(),
            hint: hint(&args.distro, matrix.distros.keys().cloned()),
        });
    };
    let Some(name) = &args.suite else {
        return Ok((distro.clone(), None));
    };
    let Some(suite) = matrix.suites.get(name) else {
        return Err(ShellError::UnknownSuite {
            name: name.clone(),
            hint: hint(name, matrix.suites.keys().cloned()),
        });
    };
    if let Some(skip) = full
        .skipped
        .iter()
        .find(|k| &k.suite == name && k.distro == distro.name)
    {
        return Err(ShellError::NotApplicable {
            suite: name.clone(),
            distro: distro.name.clone(),
            reason: skip.reason.clone(),
        });
    }
    Ok((distro.clone(), Some(suite.clone())))
}

/// Build what the distro's image chain lacks, then open the shell; the shell's exit code.
async fn prepare_and_open(
    inputs: RunInputs,
    plan: &Plan,
    req: &RunRequest,
    distro: &Distro,
    suite: Option<&Suite>,
) -> CliResult {
    let docker = super::selection::connect_for_mounts().await?;
    eprintln!(
        "preparing {} (base, image, provision; reused when cached)",
        distro.name
    );
    let quiet = Arc::new(|e: &RunEvent<'_>| live::print(e, Verbosity::Quiet));
    let prepared = execute(docker.clone(), inputs.clone(), plan, req, quiet).await;
    let code = prepared.exit_code();
    if code != exit::OK {
        return Err(CliError::NotPrepared {
            distro: distro.name.clone(),
            code,
        });
    }
    let ids = RunIds {
        run_id: prepared.run_id,
        run_dir: prepared.run_dir,
    };
    let ctx = RunCtx::new(docker, inputs, ids, req.runner_bin.clone(), false);
    Ok(crate::exec::shell::open(&ctx, distro, suite, None).await?)
}
