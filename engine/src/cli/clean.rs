//! `engine clean`: remove what crashed or killed runs of this project left behind, by label, and
//! only that: other projects on a shared daemon, and runs still in progress, are left alone.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::error::{CliError, CliResult};
use super::{exit, matrix_path, Cli};
use crate::docker::build::LEGACY_STEPS_FILE;
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
        remove_unnamed_images(&docker, unnamed_scope(cli, args)).await?;
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
        let folder = project_folder(cli).ok_or(CliError::NoProject {
            matrix: matrix_path(cli),
        })?;
        scope.insert(labels::PROJECT.to_string(), labels::project_id(&folder));
    }
    Ok(scope)
}

/// The unnamed images to look for: a legacy build that is cancelled or fails leaves the steps
/// it finished as images without a name, which carry the labels of the base they were built
/// on (often made by another run, or another project), not of the run that built them. The
/// runs list them as they are made (`.engine/runs/<id>/legacy-steps`): those of the run named
/// with `--run`, else of every run of this project. `--all-projects` takes every unnamed image
/// the engine made. `None` when there is nothing to go by.
enum Unnamed {
    Listed(HashSet<String>),
    AllManaged,
}

fn unnamed_scope(cli: &Cli, args: &CleanArgs) -> Option<Unnamed> {
    if args.all_projects {
        return Some(Unnamed::AllManaged);
    }
    let runs = project_folder(cli)?.join(".engine/runs");
    let folders: Vec<PathBuf> = match &args.run {
        Some(run) => vec![runs.join(run)],
        None => std::fs::read_dir(&runs)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| !p.is_symlink())
            .collect(),
    };
    let ids = folders
        .iter()
        .filter_map(|f| std::fs::read_to_string(f.join(LEGACY_STEPS_FILE)).ok())
        .flat_map(|text| text.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    Some(Unnamed::Listed(ids))
}

/// Removes the unnamed images in `scope`, unless a build is in progress on this machine (its
/// finished steps look the same until it tags its image). A tagged image is never touched.
async fn remove_unnamed_images(
    docker: &crate::docker::DockerClient,
    scope: Option<Unnamed>,
) -> CliResult {
    let Some(scope) = scope else {
        return Ok(exit::OK);
    };
    let managed = HashMap::from([(labels::MANAGED.to_string(), "true".to_string())]);
    let unnamed: Vec<_> = docker
        .list_images(&managed)
        .await?
        .into_iter()
        .filter(|image| image.tags.is_empty())
        .filter(|image| match &scope {
            Unnamed::AllManaged => true,
            Unnamed::Listed(ids) => {
                let hex = image.id.trim_start_matches("sha256:");
                ids.contains(&hex[..hex.len().min(12)])
            }
        })
        .collect();
    if unnamed.is_empty() {
        return Ok(exit::OK);
    }
    let locks = crate::files::machine_cache().join("locks");
    if let Some(by) = crate::exec::locks::held_in(&locks) {
        println!(
            "left {} unnamed image(s): a build is in progress ({by}); run `engine clean` again \
             when it is done",
            unnamed.len()
        );
        return Ok(exit::OK);
    }
    let (mut removed, mut in_use) = (0, 0);
    for image in &unnamed {
        // Not forced: an unnamed image that a container uses or something else is built on
        // stays (the container of a build cancelled a moment ago may still be going).
        match docker.remove_image(&image.id, false).await {
            Ok(true) => removed += 1,
            Ok(false) => {}
            Err(_) => in_use += 1,
        }
    }
    println!(
        "removed {removed} unnamed image(s) left by interrupted builds{}",
        if in_use > 0 {
            format!("; {in_use} left: in use by a container or an image")
        } else {
            String::new()
        }
    );
    Ok(exit::OK)
}

/// The project's folder: the real folder of the matrix file (`None` when there is none).
fn project_folder(cli: &Cli) -> Option<PathBuf> {
    Some(
        matrix_path(cli)
            .canonicalize()
            .ok()?
            .parent()?
            .to_path_buf(),
    )
}

fn process_is_engine(pid: u32) -> bool {
    pid != std::process::id()
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains("engine"))
            .unwrap_or(false)
}
