//! `engine clean`: remove what crashed or killed runs left behind, by label, and only that.

use std::collections::HashMap;

use super::error::CliResult;
use super::{exit, Cli};
use crate::docker::labels;

#[derive(Debug, clap::Args)]
pub struct CleanArgs {
    /// Also remove the engine's cached images (bases, images, provisioned images): the next run
    /// rebuilds everything.
    #[arg(long)]
    pub images: bool,
    /// Only this run's leftovers.
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
}

pub fn run(_cli: &Cli, args: &CleanArgs) -> CliResult {
    let runtime = super::selection::runtime(false)?;
    runtime.block_on(async {
        let docker = super::selection::connect().await?;
        let mut filter = HashMap::new();
        filter.insert(labels::MANAGED.to_string(), "true".to_string());
        if let Some(r) = &args.run {
            filter.insert(labels::RUN.to_string(), r.clone());
        }
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
            let mut f = HashMap::new();
            if let Some(r) = &args.run {
                f.insert(labels::RUN.to_string(), r.clone());
            }
            let n = docker.remove_images_by_labels(&f).await?;
            println!("removed {n} image(s)");
        }
        Ok(exit::OK)
    })
}

fn process_is_engine(pid: u32) -> bool {
    pid != std::process::id()
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains("engine"))
            .unwrap_or(false)
}
