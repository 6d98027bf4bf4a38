//! `engine graph`, `engine list` and `engine plan`: the plan, shown or exported.

use std::io::Write;

use serde::Serialize;

use super::error::{CliError, CliResult};
use super::selection::{load_matrix, narrow, SelectArgs};
use super::{exit, Cli};
use crate::plan::{dot, Plan};

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Graphviz DOT (the default): `engine graph --dot | dot -Tsvg > plan.svg`.
    #[arg(long, conflicts_with = "json")]
    pub dot: bool,
    /// JSON: nodes with their dependencies and cache keys, and the skipped pairs.
    #[arg(long)]
    pub json: bool,
    /// Ask the Docker daemon which results are cached already, and show it.
    #[arg(long)]
    pub status: bool,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Also list the distro x suite pairs that do not run, with the reason.
    #[arg(long)]
    pub why: bool,
    /// Also describe each selected suite: its file, summary and details.
    #[arg(long)]
    pub long: bool,
    /// Ask the Docker daemon which results are cached already, and show it.
    #[arg(long)]
    pub status: bool,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::GithubMatrix)]
    pub format: PlanFormat,
    /// Number of shards to fan out over.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub shards: u32,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// `{"include": [{"shard": "1/4", ...}]}` for a CI job matrix (`strategy.matrix: ${{ fromJSON(...) }}`).
    GithubMatrix,
    /// A line per shard: the distros whose images it builds, its suites, its expected time.
    Text,
}

fn planned(cli: &Cli, select: &SelectArgs, status: bool) -> Result<Plan, CliError> {
    Ok(planned_with_matrix(cli, select, status)?.0)
}

fn planned_with_matrix(
    cli: &Cli,
    select: &SelectArgs,
    status: bool,
) -> Result<(Plan, crate::spec::Matrix), CliError> {
    let (_loaded, matrix) = load_matrix(cli)?;
    let keys = crate::plan::hash::cache_keys(&matrix);
    let plan = Plan::build(&matrix, Some(&keys));
    let mut plan = narrow(&plan, &matrix, select)?;
    if status {
        mark_cached(&mut plan, &matrix, &keys)?;
    }
    Ok((plan, matrix))
}

/// Ask the daemon, for every base, image and provision node, whether its result exists with the
/// key the run would compute, and why not (the same tests `engine run` makes before building).
fn mark_cached(
    plan: &mut Plan,
    matrix: &crate::spec::Matrix,
    keys: &crate::plan::CacheKeys,
) -> Result<(), CliError> {
    use crate::plan::NodeKind;
    let rt = super::selection::runtime(false)?;
    rt.block_on(async {
        let docker = super::selection::connect().await?;
        let project = crate::docker::labels::project_id(&matrix.root);
        let mut statuses = std::collections::HashMap::new();
        for ix in plan.graph.node_indices().collect::<Vec<_>>() {
            let n = &plan.graph[ix];
            if n.kind == NodeKind::Suite {
                continue;
            }
            let Some(distro) = matrix.distros.get(&n.distro) else {
                continue;
            };
            if !statuses.contains_key(&n.distro) {
                let s = crate::exec::status::of_distro(&docker, &project, distro, keys).await?;
                statuses.insert(n.distro.clone(), s);
            }
            if let Some(status) = statuses[&n.distro].get(&n.kind) {
                let node = &mut plan.graph[ix];
                node.cached = Some(status.cached);
                node.cache_key = Some(status.key.clone());
                node.why = status.why.clone();
            }
        }
        Ok(())
    })
}

pub fn graph(cli: &Cli, args: &GraphArgs) -> CliResult {
    let plan = planned(cli, &args.select, args.status)?;
    let text = if args.json {
        dot::to_json(&plan)
    } else {
        dot::to_dot(&plan)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(exit::OK)
}

pub fn list(cli: &Cli, args: &ListArgs) -> CliResult {
    let (plan, matrix) = planned_with_matrix(cli, &args.select, args.status)?;
    let mut text = dot::to_list(&plan, args.why);
    if args.long {
        text.push_str(&describe_suites(&plan, &matrix));
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(exit::OK)
}

/// `engine list --long`: each suite of the plan once, with its folder, format, summary and
/// details (spread's `details`), indented.
fn describe_suites(plan: &Plan, matrix: &crate::spec::Matrix) -> String {
    use std::fmt::Write as _;
    let names: std::collections::BTreeSet<&str> = plan
        .graph
        .node_weights()
        .filter_map(|n| n.suite.as_deref())
        .collect();
    let mut out = String::new();
    for name in names {
        let Some(s) = matrix.suites.get(name) else {
            continue;
        };
        let format = match s.format {
            crate::spec::matrix::SuiteFormat::Native => "task.toml",
            crate::spec::matrix::SuiteFormat::Spread => "task.yaml",
        };
        let dir = s.dir.strip_prefix(&matrix.root).unwrap_or(&s.dir);
        let _ = writeln!(out, "\n{name} ({}/{format})", dir.display());
        if let Some(summary) = &s.summary {
            let _ = writeln!(out, "    {summary}");
        }
        for line in s.details.iter().flat_map(|d| d.lines()) {
            let _ = writeln!(out, "    {line}");
        }
    }
    out
}

#[derive(Serialize)]
struct Job {
    shard: String,
    name: String,
    suites: usize,
    /// The distros whose images the shard builds.
    distros: Vec<String>,
    /// The sum of its suites' durations in the `--timings` report.
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_seconds: Option<u64>,
    /// The command the job runs.
    command: String,
}

#[derive(Serialize)]
struct GithubMatrix {
    include: Vec<Job>,
}

pub fn plan(cli: &Cli, args: &PlanArgs) -> CliResult {
    let (_loaded, matrix) = load_matrix(cli)?;
    let full = Plan::build(&matrix, None);
    let mut sel = args.select.clone();
    sel.shard = None;
    let selected = narrow(&full, &matrix, &sel)?;
    let weights = super::selection::timings(&args.select)?;
    let summaries = crate::plan::shard::summaries(&selected, args.shards, &weights);
    // Every job must compute the same partition: the same patterns and the same timings.
    let mut extra = String::new();
    for p in &args.select.patterns {
        extra.push_str(&format!(" '{p}'"));
    }
    if let Some(t) = &args.select.timings {
        extra.push_str(&format!(" --timings '{}'", t.display()));
    }
    if let Some(r) = &args.select.rerun_failed {
        extra.push_str(&format!(" --rerun-failed '{}'", r.display()));
    }
    let jobs: Vec<Job> = summaries
        .into_iter()
        .enumerate()
        .map(|(k, s)| Job {
            shard: format!("{}/{}", k + 1, args.shards),
            name: format!(
                "shard {} of {}: {}",
                k + 1,
                args.shards,
                if s.distros.is_empty() {
                    "nothing".to_string()
                } else {
                    s.distros.join(", ")
                }
            ),
            suites: s.suites,
            distros: s.distros,
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // ms to s
            expected_seconds: (!weights.is_empty()).then(|| (s.load / 1000.0).round() as u64),
            command: format!("engine run --shard {}/{}{extra}", k + 1, args.shards),
        })
        .collect();
    let mut stdout = std::io::stdout().lock();
    match args.format {
        PlanFormat::GithubMatrix => {
            let _ = serde_json::to_writer(&mut stdout, &GithubMatrix { include: jobs });
            let _ = writeln!(stdout);
        }
        PlanFormat::Text => {
            for j in &jobs {
                let time = j.expected_seconds.map_or_else(String::new, |t| {
                    format!(
                        "  ~{}",
                        humantime::format_duration(std::time::Duration::from_secs(t))
                    )
                });
                let _ = writeln!(
                    stdout,
                    "shard {:<7} {:>3} suites  builds {}{time}",
                    j.shard,
                    j.suites,
                    if j.distros.is_empty() {
                        "nothing".to_string()
                    } else {
                        j.distros.join(", ")
                    }
                );
            }
        }
    }
    Ok(exit::OK)
}
