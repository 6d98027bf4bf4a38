//! `engine clean`: remove what crashed or killed runs of this project left behind, by label, and
//! only that: other projects on a shared daemon, and runs still in progress, are left alone.

use std::collections::HashMap;

use super::error::{CliError, CliResult};
use super::{exit, matrix_path, Cli};
use crate::docker::labels;

#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// Also remove the engine's cached images (bases, images, provisioned images): the next run
    /// rebuilds everything.
    #[arg(long)]
    pub images: bool,
    /// Only this run's leftovers (whatever project made them).
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Every project's leftovers on this daemon, not only this project's.
    #[arg(long, conflicts_with = "run")]
    pub all_projects: bool,
}

pub fn run(cli: &Cli, args: &CleanArgs) -> CliResult {
    let scope = scope(cli, args)?;
    let runtime = super::selection::runtime(false)?;
    runtime.block_on(async {
        let docker = super::selection::connect().await?;
        let mut filter = scope.clone();
        filter.insert(labels::MANAGED.to_string(), "true".to_string());
        let containers = docker.list_containers(&filter).await?;
        let mut removed = 0;
        let mut live = 0;
        for c in containers {
            // A run still in progress owns its containers: leave them.
            let owner = c
                .labels
                .get(crate::exec::context::LABEL_PID)
                .and_then(|p| p.parse::<u32>().ok());
            if owner.is_some_and(process_is_engine) {
                live += 1;
                continue;
            }
            if docker.remove(&c.id, true).await.unwrap_or(false) {
                removed += 1;
                let name = c.names.first().cloned().unwrap_or_else(|| c.id.clone());
                let node = c.labels.get(labels::NODE).cloned().unwrap_or_default();
                println!("removed container {name} ({node})");
            }
        }
        println!(
            "removed {removed} container(s){}",
            if live > 0 {
                format!("; {live} of running engine processes left alone")
            } else {
                String::new()
            }
        );
        if args.images {
            let r = docker.remove_images_in_order(&scope).await?;
            println!(
                "removed {} image(s){}",
                r.removed,
                if r.in_use > 0 {
                    format!(
                        "; {} left: images outside this scope are built on them",
                        r.in_use
                    )
                } else {
                    String::new()
                }
            );
        }
        Ok(exit::OK)
    })
}

/// The labels that say what is ours to remove: the run named, else this project (the nearest
/// matrix's folder), else, with `--all-projects`, everything the engine made.
fn scope(cli: &Cli, args: &CleanArgs) -> Result<HashMap<String, String>, CliError> {
    let mut scope = HashMap::new();
    if let Some(r) = &args.run {
        scope.insert(labels::RUN.to_string(), r.clone());
    } else if !args.all_projects {
        let matrix = matrix_path(cli);
        let folder = matrix
            .canonicalize()
            .ok()
            .and_then(|m| m.parent().map(std::path::Path::to_path_buf))
            .ok_or(CliError::NoProject { matrix })?;
        scope.insert(labels::PROJECT.to_string(), labels::project_id(&folder));
    }
    Ok(scope)
}

fn process_is_engine(pid: u32) -> bool {
    pid != std::process::id()
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains("engine"))
            .unwrap_or(false)
}
