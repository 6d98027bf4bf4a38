//! `engine graph` and `engine list`: the plan, shown (`engine plan`, its CI export: `plan_cmd`).

use std::io::Write;

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
