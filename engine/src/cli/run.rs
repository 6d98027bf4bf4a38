//! `engine run`: validate, plan, select, then execute on Docker and report.

use super::error::{CliError, CliResult};
use super::selection::{load_matrix, shard_of, SelectArgs};
use super::Cli;
use crate::exec::context::{Force, RunInputs};
use crate::exec::run::{execute, RunRequest};
use crate::plan::Plan;
use crate::report::live::Verbosity;
use crate::report::reporter::{Options, Reporter};
use crate::report::SourceFiles;

/// Beyond the cache keys: pull the bases, or make a distro's images again.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CacheArgs {
    /// Pull every base image, whatever its `pull` policy (a moved tag then rebuilds what is
    /// built on it).
    #[arg(long)]
    pub pull: bool,
    /// Make the base, image and provision of the distros matching PATTERN (a glob; all when
    /// none is given) again, reusing no layer. Repeatable.
    #[arg(long, value_name = "PATTERN", num_args = 0..=1, default_missing_value = "*")]
    pub rebuild: Vec<String>,
    /// Run nothing on the host: no rootfs script (a base whose image is missing fails instead)
    /// and no `$(HOST: ...)` value (the suite fails instead). For untrusted changes: build the
    /// bases on a trusted branch first.
    #[arg(long, env = "ENGINE_NO_HOST_EXEC", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_host_exec: bool,
}

impl CacheArgs {
    /// The forced work, with `--rebuild` patterns resolved against the matrix's distros.
    pub fn force(&self, matrix: &crate::spec::Matrix) -> Result<Force, CliError> {
        let mut force = Force {
            pull: self.pull,
            ..Force::default()
        };
        for pattern in &self.rebuild {
            let glob = globset::Glob::new(pattern)
                .map(|g| g.compile_matcher())
                .map_err(|e| CliError::Rebuild {
                    pattern: pattern.clone(),
                    why: e.kind().to_string(),
                })?;
            let matched: Vec<&String> =
                matrix.distros.keys().filter(|d| glob.is_match(d)).collect();
            if matched.is_empty() {
                let known: Vec<&str> = matrix.distros.keys().map(String::as_str).collect();
                return Err(CliError::Rebuild {
                    pattern: pattern.clone(),
                    why: format!("it matches no distro (distros: {})", known.join(", ")),
                });
            }
            force.rebuild.extend(matched.into_iter().cloned());
        }
        Ok(force)
    }
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Nodes run at once. Default: `engine.concurrency` of the matrix, else the number of CPUs.
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,
    /// Image builds at once. Default: `engine.build_concurrency`, else 2.
    #[arg(long, value_name = "N")]
    pub build_jobs: Option<usize>,
    /// Stop at the first failure: cancel what has not started, stop what runs.
    #[arg(long)]
    pub fail_fast: bool,
    /// Leave the containers of failed suites in place, and print how to enter them.
    #[arg(long)]
    pub keep_containers: bool,
    /// Also write the JSON report here (its schema: schema/report.schema.json).
    #[arg(long, value_name = "PATH")]
    pub report: Option<std::path::PathBuf>,
    /// Also write JUnit XML here: a testsuite per distro, a testcase per suite.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<std::path::PathBuf>,
    /// Also write the grid as one self-contained HTML page here (no script, nothing fetched):
    /// each cell opens to its verdict, duration, diagnostic and output tail.
    #[arg(long, value_name = "PATH")]
    pub html: Option<std::path::PathBuf>,
    /// `json`: the run as JSON Lines events on stdout, for tools (human output goes to stderr).
    #[arg(long, value_enum, default_value_t = MessageFormat::Human, value_name = "FORMAT")]
    pub message_format: MessageFormat,
    /// Stream every node's output, prefixed with [distro:suite].
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print only failures and the summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Succeed when the selection leaves no suite to run (by default that is exit 4: a CI job
    /// must not go green having tested nothing).
    #[arg(long)]
    pub allow_empty: bool,
}

/// What `engine run` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    /// The summary for people.
    Human,
    /// One JSON event per line.
    Json,
}

/// `engine build`: the images only (base, image, provision), e.g. to prepare a machine.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Image builds at once. Default: `engine.build_concurrency`, else 2.
    #[arg(long, value_name = "N")]
    pub build_jobs: Option<usize>,
    /// Stream every node's output.
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn build(cli: &Cli, args: &BuildArgs) -> CliResult {
    let run_args = RunArgs {
        select: args.select.clone(),
        cache: args.cache.clone(),
        jobs: None,
        build_jobs: args.build_jobs,
        fail_fast: false,
        keep_containers: false,
        report: None,
        junit: None,
        html: None,
        message_format: MessageFormat::Human,
        verbose: args.verbose,
        quiet: false,
        allow_empty: true,
    };
    execute_plan(cli, &run_args, true)
}

pub fn run(cli: &Cli, args: &RunArgs) -> CliResult {
    execute_plan(cli, args, false)
}

fn execute_plan(cli: &Cli, args: &RunArgs, images_only: bool) -> CliResult {
    let (loaded, matrix) = load_matrix(cli)?;
    let keys = crate::plan::hash::cache_keys(&matrix);
    let full = Plan::build(&matrix, Some(&keys));
    let selection = args.select.selection();
    let selected = super::selection::selected(&full, &matrix, &args.select)?;
    // Before sharding: an empty shard of a selection that has suites is fine (more shards than
    // suites); a selection with no suite at all is not.
    if !images_only && selected.suite_nodes().next().is_none() && !args.allow_empty {
        let (why, fix) = match &args.select.rerun_failed {
            Some(_) => (
                "no suite that failed, timed out, hit an infrastructure error or was cancelled \
                 in that report"
                    .to_string(),
                "nothing to run again: pass --allow-empty to make that a success (a re-run job \
                 after a green run)",
            ),
            None => (
                super::error::nothing(
                    &crate::plan::select::not_applicable(&full, &selection)
                        .iter()
                        .map(|s| format!("{}:{}: {}", s.distro, s.suite, s.reason))
                        .collect::<Vec<_>>(),
                ),
                "select pairs that apply (`engine list --why` shows which do not, and why), or \
                 pass --allow-empty",
            ),
        };
        return Err(CliError::NothingToRun {
            selection: describe_selection(&args.select),
            why,
            fix,
        });
    }
    let plan_info =
        crate::report::json::PlanInfo::of(&selected, args.select.shard.map(|s| s.to_string()));
    let mut plan = shard_of(selected, &args.select)?;
    if images_only {
        plan = plan.images_only();
    }
    let force = args.cache.force(&matrix)?;
    print_grants(&matrix, &plan, args.cache.no_host_exec);
    let runner_bin = runner_path()?;
    let jobs = args
        .jobs
        .or(matrix.engine.concurrency.map(|c| c as usize))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let req = RunRequest {
        jobs,
        build_jobs: args
            .build_jobs
            .unwrap_or(matrix.engine.build_concurrency as usize),
        fail_fast: args.fail_fast || matrix.engine.fail_fast,
        keep_failed: args.keep_containers,
        state_dir: matrix.root.join(".engine"),
        keep_runs: matrix.engine.keep_runs as usize,
        runner_bin,
        force,
        no_host_exec: args.cache.no_host_exec,
        disk_limits: false,
        mark_latest: true,
    };
    let verbosity = if args.quiet {
        Verbosity::Quiet
    } else if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let runtime = super::selection::runtime(true)?;
    let color = cli.color.stderr();
    let skipped = plan.skipped.clone();
    let files = SourceFiles::of(&loaded);
    let inputs = RunInputs::new(loaded, matrix, keys);
    runtime.block_on(async move {
        let docker = super::selection::connect_for_mounts().await?;
        let req = RunRequest {
            disk_limits: start_checks(&inputs.matrix, &docker).await,
            ..req
        };
        let mut options =
            Options::from_env(verbosity, args.message_format == MessageFormat::Json, color);
        options.grid_color = cli.color.stdout();
        options.report = args.report.clone();
        options.junit = args.junit.clone();
        options.html = args.html.clone().map(|path| {
            let project = inputs.matrix.root.file_name().map_or_else(
                || "engine".to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            (path, format!("{project}: engine run"))
        });
        options.plan = Some(plan_info);
        let reporter = Reporter::new(options, files);
        let result = execute(docker, inputs, &plan, &req, reporter.sink()).await;
        Ok(reporter.finish(&result, &skipped))
    })
}

/// Said before anything runs, not fatal: less free space than `engine.min_free_space` where
/// the run writes (the cache root, the run folder, a local daemon's data folder), and a `disk`
/// limit the daemon's storage driver cannot apply. Returns whether disk limits apply.
async fn start_checks(matrix: &crate::spec::Matrix, docker: &crate::docker::DockerClient) -> bool {
    use super::doctor::{free_bytes, nearest_existing};
    use crate::spec::matrix::show_bytes;
    let min = matrix.engine.min_free_space;
    let mut places = vec![
        ("the cache root", matrix.caches.root.clone()),
        ("the run folder", matrix.root.join(".engine")),
    ];
    let facts = docker.daemon_facts().await.ok();
    let local = docker.endpoint().starts_with("unix://");
    if let (true, Some(dir)) = (local, facts.as_ref().and_then(|f| f.root_dir.clone())) {
        places.push(("the daemon's data folder", dir.into()));
    }
    let wants_disk = matrix
        .distros
        .values()
        .any(|d| d.container.disk_bytes.is_some())
        || matrix
            .suites
            .values()
            .any(|s| s.container.as_ref().is_some_and(|c| c.disk.is_some()));
    let can = facts.as_ref().is_some_and(|f| f.can_limit_size());
    if wants_disk && !can {
        let driver = facts
            .as_ref()
            .and_then(|f| f.storage_driver.clone())
            .unwrap_or_else(|| "unknown".into());
        let on = facts
            .as_ref()
            .and_then(|f| f.backing_fs.clone())
            .map(|fs| format!(" on {fs}"))
            .unwrap_or_default();
        eprintln!(
            "warning: `[container] disk` is not applied: the daemon's storage driver {driver}{on} cannot limit a container's size (overlay2 on xfs with pquota, btrfs, zfs and devicemapper can); `tmpfs` sizes and `memory` still apply"
        );
    }
    if facts.as_ref().is_some_and(|f| !f.can_limit_resources()) {
        eprintln!(
            "warning: `[container]` memory, cpus and pids limits are not applied: a rootless engine on cgroup v1 cannot limit containers (cgroup v2 with delegated controllers can); timeouts and tmpfs sizes still apply"
        );
    }
    for (what, path) in places {
        let path = nearest_existing(&path);
        if let Some(free) = free_bytes(&path).filter(|f| *f < min) {
            eprintln!(
                "warning: only {} free on {} ({what}), under engine.min_free_space ({}): builds or suites may fail for space; `engine clean --images` frees some",
                show_bytes(free),
                path.display(),
                show_bytes(min)
            );
        }
    }
    wants_disk && can
}

/// The selection as the user typed it, for messages.
fn describe_selection(s: &SelectArgs) -> String {
    let mut parts: Vec<String> = s.patterns.clone();
    for (flag, values) in [("--distros", &s.distros), ("--suites", &s.suites)] {
        if !values.is_empty() {
            parts.push(format!("{flag} {}", values.join(",")));
        }
    }
    parts.extend(s.exclude.iter().map(|e| format!("--exclude {e}")));
    if let Some(k) = &s.shard {
        parts.push(format!("--shard {k}"));
    }
    if let Some(r) = &s.rerun_failed {
        parts.push(format!("--rerun-failed {}", r.display()));
    }
    if parts.is_empty() {
        "the whole matrix".into()
    } else {
        parts.join(" ")
    }
}

/// Every privilege a run grants beyond the defaults, said before anything runs.
fn print_grants(matrix: &crate::spec::Matrix, plan: &Plan, refused: bool) {
    use std::collections::BTreeSet;
    let distros: BTreeSet<&str> = plan
        .graph
        .node_weights()
        .map(|n| n.distro.as_str())
        .collect();
    for d in distros {
        if let Some(distro) = matrix.distros.get(d) {
            let g = distro.container.grants();
            if !g.is_empty() {
                eprintln!("grant: distro {d}: {}", g.join(", "));
            }
        }
    }
    let suites: BTreeSet<(&str, &str)> = plan
        .graph
        .node_weights()
        .filter_map(|n| n.suite.as_deref().map(|s| (n.distro.as_str(), s)))
        .collect();
    for (d, s) in suites {
        let (Some(distro), Some(suite)) = (matrix.distros.get(d), matrix.suites.get(s)) else {
            continue;
        };
        if suite.container.is_some() {
            let base = distro.container.grants();
            let g = distro.container.with(suite.container.as_ref()).grants();
            if g != base && !g.is_empty() {
                eprintln!("grant: suite {d}:{s}: {}", g.join(", "));
            }
        }
    }
    print_host_grants(matrix, plan, refused);
    let mut names: BTreeSet<&str> = matrix.pass_env.iter().map(String::as_str).collect();
    names.extend(
        matrix
            .suites
            .values()
            .flat_map(|s| s.pass_env.iter().map(String::as_str)),
    );
    if !names.is_empty() {
        eprintln!(
            "grant: host variables passed (masked in output): {}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
}

/// What the selection may run on the host: rootfs scripts of the bases in the plan, host values
/// of its suites.
fn print_host_grants(matrix: &crate::spec::Matrix, plan: &Plan, refused: bool) {
    use crate::plan::NodeKind;
    use crate::spec::host_grants::{describe, host_grants, HostGrantKind};
    let in_plan = |g: &crate::spec::host_grants::HostGrant| {
        plan.graph.node_weights().any(|n| match g.kind {
            HostGrantKind::RootfsScript => n.kind == NodeKind::Base && n.distro == g.name,
            HostGrantKind::HostValue => {
                n.suite.as_deref().map(crate::spec::matrix::family)
                    == Some(crate::spec::matrix::family(&g.name))
            }
        })
    };
    let grants = host_grants(matrix);
    let selected: Vec<_> = grants.iter().filter(|g| in_plan(g)).collect();
    for line in describe(&selected) {
        if refused {
            eprintln!("host execution refused (--no-host-exec): {line}");
        } else {
            eprintln!("grant: host: {line} (as {})", super::validate::host_user());
        }
    }
}

/// The runner binary to mount, with a warning when it is not static.
pub fn runner_path() -> Result<std::path::PathBuf, CliError> {
    let r = crate::runner_binary::locate()?;
    if !r.is_static {
        eprintln!(
            "warning: the runner is not statically linked ({}): containers whose C library is \
             older than this host's, or that have none, cannot run it",
            r.describe()
        );
    }
    Ok(r.path)
}
