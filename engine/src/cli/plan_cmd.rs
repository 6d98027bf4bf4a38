//! `engine plan`: the shards of a selection as CI jobs, for the CI systems teams already run:
//! a GitHub Actions job matrix (JSON), a GitLab child pipeline (YAML), or a line per shard.

use std::io::Write;

use serde::Serialize;

use super::error::CliResult;
use super::selection::{load_matrix, narrow, SelectArgs};
use super::{exit, Cli};
use crate::plan::Plan;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::GithubMatrix)]
    pub format: PlanFormat,
    /// Number of shards to fan out over (at most 256, GitHub's limit of jobs per matrix: more
    /// is capped, with a note).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: u32,
    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// `{"include": [{"shard": "1/4", ...}]}` for a CI job matrix (`strategy.matrix: ${{ fromJSON(...) }}`).
    GithubMatrix,
    /// A GitLab child pipeline: a job per shard, then one that merges their reports.
    Gitlab,
    /// A line per shard: the distros whose images it builds, its suites, its expected time.
    Text,
}

/// The distros a shard builds, for its name and line (`nothing` for an empty shard).
fn builds(distros: &[String]) -> String {
    if distros.is_empty() {
        "nothing".into()
    } else {
        distros.join(", ")
    }
}

/// GitHub Actions runs at most this many jobs from one matrix.
const MAX_JOBS: u32 = 256;

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
    let shards = args.shards.min(MAX_JOBS);
    if shards < args.shards {
        eprintln!(
            "note: {} shards capped at {MAX_JOBS}, the most jobs one GitHub Actions matrix may have",
            args.shards
        );
    }
    let summaries = crate::plan::shard::summaries(&selected, shards, &weights);
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
            shard: format!("{}/{shards}", k + 1),
            name: format!(
                "shard {} of {}: {}",
                k + 1,
                shards,
                builds(&s.distros)
            ),
            suites: s.suites,
            distros: s.distros,
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // ms to s
            expected_seconds: (!weights.is_empty()).then(|| (s.load / 1000.0).round() as u64),
            command: format!("engine run --shard {}/{shards}{extra}", k + 1),
        })
        .collect();
    let mut stdout = std::io::stdout().lock();
    match args.format {
        PlanFormat::GithubMatrix => {
            let _ = serde_json::to_writer(&mut stdout, &GithubMatrix { include: jobs });
            let _ = writeln!(stdout);
        }
        PlanFormat::Gitlab => {
            let _ = stdout.write_all(gitlab_pipeline(&jobs).as_bytes());
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
                    builds(&j.distros)
                );
            }
        }
    }
    Ok(exit::OK)
}

/// A GitLab child pipeline (trigger it with `trigger: include: - artifact: ...`): a job per
/// shard writing its report and JUnit, then a job that merges them, also after failures.
/// Strings are written as JSON strings, which YAML reads as they are.
fn gitlab_pipeline(jobs: &[Job]) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut y = String::from(
        "# engine plan --format gitlab: a child pipeline. The jobs need a Docker engine (a\n\
         # runner with one, or a docker:dind service) and the engine on PATH.\n\
         stages: [\"test\", \"report\"]\n",
    );
    let mut reports = Vec::new();
    for (k, job) in jobs.iter().enumerate() {
        let n = k + 1;
        let (report, junit) = (format!("report-{n}.json"), format!("junit-{n}.xml"));
        y.push_str(&format!(
            "{}:\n  stage: test\n  script:\n    - {}\n  artifacts:\n    when: always\n    \
             paths: [{}, {}, \".engine/runs/\"]\n    reports:\n      junit: {}\n",
            q(&format!("engine shard {}", job.shard)),
            q(&format!(
                "{} --report {report} --junit {junit}",
                job.command
            )),
            q(&report),
            q(&junit),
            q(&junit),
        ));
        reports.push(report);
    }
    y.push_str(&format!(
        "\"engine merge\":\n  stage: report\n  when: always\n  script:\n    - {}\n  \
         artifacts:\n    when: always\n    paths: [\"report.json\", \"junit.xml\"]\n    \
         reports:\n      junit: \"junit.xml\"\n",
        q(&format!(
            "engine report merge {} --report report.json --junit junit.xml",
            reports.join(" ")
        )),
    ));
    y
}
