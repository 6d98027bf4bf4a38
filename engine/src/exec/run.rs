//! `engine run` from plan to results: connect, schedule every node on Docker, clean up, report.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use petgraph::graph::NodeIndex;
use tokio_util::sync::CancellationToken;

use super::context::{RunCtx, RunIds, RunInputs};
use super::log::NodeLog;
use super::scheduler::{self, Limits, NodeFacts, SchedEvent};
use super::{base, image, provision, suite};
use crate::docker::{labels, DockerClient};
use crate::events::{EventSink, InfraKind, NodeResult, Outcome, RunEvent, RunResult};
use crate::plan::{Node, NodeKind, Plan};
use crate::spec::matrix::Phase;

/// How to run.
#[derive(Clone)]
pub struct RunRequest {
    pub jobs: usize,
    pub build_jobs: usize,
    pub fail_fast: bool,
    pub keep_failed: bool,
    /// Where `.engine/` goes (the matrix's folder).
    pub state_dir: PathBuf,
    /// Run folders kept under `.engine/runs/`.
    pub keep_runs: usize,
    pub runner_bin: PathBuf,
    /// `--pull` and `--rebuild`.
    pub force: super::context::Force,
    /// `--no-host-exec`: nothing runs on the host.
    pub no_host_exec: bool,
    /// The daemon can limit a container's size: `[container] disk` is applied.
    pub disk_limits: bool,
    /// `.engine/runs/latest` points at this run: true for `engine run`, false for what
    /// `engine shell` prepares (a session, not a run with a report).
    pub mark_latest: bool,
}

/// A run id that sorts by time and does not collide between two runs in the same second.
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let stamp = now.format(fmt).unwrap_or_default();
    format!(
        "{stamp}-{:04x}",
        std::process::id() as u16 ^ (now.nanosecond() as u16)
    )
}

/// Expected durations of suites from the previous run, for ordering.
fn load_timings(state: &Path) -> HashMap<String, u64> {
    std::fs::read_to_string(state.join("timings.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_timings(state: &Path, results: &[(Node, NodeResult)]) {
    let mut t = load_timings(state);
    for (n, r) in results {
        if n.kind == NodeKind::Suite
            && matches!(
                r.outcome,
                Outcome::Passed | Outcome::Failed { .. } | Outcome::Flaky { .. }
            )
        {
            t.insert(n.id.clone(), r.duration.as_millis() as u64);
        }
    }
    if let Ok(text) = serde_json::to_string_pretty(&t) {
        let _ = crate::files::write_atomic(&state.join("timings.json"), text.as_bytes());
    }
}

/// Run `plan` on `docker`. Ctrl-C / SIGTERM cancel the run: running containers are stopped and
/// removed, and the result says `interrupted`.
pub async fn execute(
    docker: DockerClient,
    inputs: RunInputs,
    plan: &Plan,
    req: &RunRequest,
    events: EventSink,
) -> RunResult {
    let run_id = new_run_id();
    let ids = RunIds {
        run_dir: req.state_dir.join("runs").join(&run_id),
        run_id,
    };
    let _ = std::fs::create_dir_all(ids.run_dir.join("logs"));
    let runs = req.state_dir.join("runs");
    if req.mark_latest {
        let _ = super::runs::mark_latest(&runs, &ids.run_id);
    }
    super::runs::prune(&runs, req.keep_runs, &ids.run_id);
    // spread's `$(HOST: ...)` values of the suites that will run: once, before anything starts.
    let host = super::host::HostExec::evaluate(
        req.no_host_exec,
        plan.graph
            .node_weights()
            .filter_map(|n| inputs.matrix.suites.get(n.suite.as_deref()?))
            .map(|s| &s.environment),
        &inputs.matrix.root,
    )
    .await;
    let ctx = RunCtx::new(
        docker.clone(),
        inputs,
        ids.clone(),
        req.runner_bin.clone(),
        req.keep_failed,
    )
    .with_force(req.force.clone())
    .with_host(host)
    .with_disk_limits(req.disk_limits);
    events(&RunEvent::Started {
        run_id: &ids.run_id,
        run_dir: &ids.run_dir,
        endpoint: docker.endpoint(),
        server: docker.server(),
        nodes: plan.len(),
    });
    let cancel = CancellationToken::new();
    let interrupted = Arc::new(AtomicBool::new(false));
    let signals = spawn_signal_listener(cancel.clone(), interrupted.clone());
    let facts = node_facts(&ctx, plan, &load_timings(&req.state_dir));
    let limits = Limits {
        jobs: req.jobs,
        build_jobs: req.build_jobs,
        fail_fast: req.fail_fast,
    };
    let results = schedule(&ctx, plan, &facts, &limits, &cancel, &events).await;
    signals.abort();
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    if was_interrupted {
        events(&RunEvent::Interrupted);
    }
    // Whatever a crash of ours or a kill left behind: every container of this run goes.
    if !req.keep_failed {
        let mut filter = HashMap::new();
        filter.insert(labels::RUN.to_string(), ids.run_id.clone());
        if let Ok(n) = docker.remove_by_labels(&filter).await {
            events(&RunEvent::Cleaned { containers: n });
        }
    }
    let results = in_plan_order(plan, results, was_interrupted);
    save_timings(&req.state_dir, &results);
    RunResult {
        run_id: ids.run_id,
        run_dir: ids.run_dir,
        results,
        interrupted: was_interrupted,
    }
}

/// What the scheduler needs to know of each node: the exclusive resources it holds, and how
/// long it took last time.
fn node_facts(
    ctx: &RunCtx,
    plan: &Plan,
    timings: &HashMap<String, u64>,
) -> HashMap<NodeIndex, NodeFacts> {
    plan.graph
        .node_indices()
        .map(|ix| {
            let n = &plan.graph[ix];
            let exclusive = match n.kind {
                NodeKind::Provision => ctx.exclusive(&n.distro, Phase::Provision),
                NodeKind::Suite => ctx.exclusive(&n.distro, Phase::Suite),
                _ => Vec::new(),
            };
            let expected = timings.get(&n.id).map(|ms| Duration::from_millis(*ms));
            let priority = n
                .suite
                .as_ref()
                .and_then(|s| ctx.matrix.suites.get(s))
                .map_or(0, |s| s.priority);
            (
                ix,
                NodeFacts {
                    exclusive,
                    expected,
                    priority,
                },
            )
        })
        .collect()
}

/// Every node through the scheduler, each with its own log, its events sent to `events`.
async fn schedule(
    ctx: &RunCtx,
    plan: &Plan,
    facts: &HashMap<NodeIndex, NodeFacts>,
    limits: &Limits,
    cancel: &CancellationToken,
    events: &EventSink,
) -> HashMap<NodeIndex, NodeResult> {
    scheduler::run(
        plan,
        facts,
        limits,
        cancel,
        |ix: NodeIndex, token: CancellationToken| async move {
            let node = &plan.graph[ix];
            let mut log = NodeLog::create(&node.id, &ctx.log_path(&node.id), events.clone());
            work(ctx, node, &mut log, &token).await
        },
        |e| match e {
            SchedEvent::Started { node } => events(&RunEvent::NodeStarted {
                node: &plan.graph[node],
            }),
            SchedEvent::Finished { node, result } => {
                let n = &plan.graph[node];
                events(&RunEvent::NodeFinished {
                    node: n,
                    result,
                    log: ctx.log_path(&n.id),
                })
            }
        },
    )
    .await
}

/// The results in the plan's order; after an interruption, nodes stopped by it are cancelled,
/// not failed.
fn in_plan_order(
    plan: &Plan,
    mut results: HashMap<NodeIndex, NodeResult>,
    interrupted: bool,
) -> Vec<(Node, NodeResult)> {
    let mut out: Vec<(Node, NodeResult)> = plan
        .ordered()
        .into_iter()
        .filter_map(|ix| results.remove(&ix).map(|r| (plan.graph[ix].clone(), r)))
        .collect();
    if interrupted {
        for (_, r) in &mut out {
            if matches!(r.outcome, Outcome::DependencyFailed { .. }) {
                r.outcome = Outcome::Cancelled;
            }
        }
    }
    out
}

async fn work(
    ctx: &RunCtx,
    node: &Node,
    log: &mut NodeLog,
    cancel: &CancellationToken,
) -> NodeResult {
    let Some(distro) = ctx.matrix.distros.get(&node.distro) else {
        return NodeResult::new(Outcome::Infra {
            reason: format!("unknown distro {}", node.distro),
            kind: InfraKind::Engine,
        });
    };
    let _held = match lock_exclusive_folders(ctx, node, log, cancel).await {
        Ok(held) => held,
        Err(r) => return r,
    };
    let result = match node.kind {
        NodeKind::Base => base::run(ctx, distro, log, cancel).await,
        NodeKind::Image => image::run(ctx, distro, log, cancel).await,
        NodeKind::Provision => provision::run(ctx, distro, log, cancel).await,
        NodeKind::Suite => {
            let Some(suite) = node.suite.as_ref().and_then(|s| ctx.matrix.suites.get(s)) else {
                return NodeResult::new(Outcome::Infra {
                    reason: "unknown suite".into(),
                    kind: InfraKind::Engine,
                });
            };
            suite::run(ctx, distro, suite, log, cancel).await
        }
    };
    log.note(&format!(
        "{}{}",
        result.outcome.word(),
        result
            .outcome
            .reason()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    ));
    result
}

/// An exclusive cache folder is its node's alone across processes too (the scheduler sees only
/// this run's nodes): a lock beside each, held until the node ends.
async fn lock_exclusive_folders(
    ctx: &RunCtx,
    node: &Node,
    log: &mut NodeLog,
    cancel: &CancellationToken,
) -> Result<Vec<super::locks::HostLock>, NodeResult> {
    let phase = match node.kind {
        NodeKind::Provision => Phase::Provision,
        NodeKind::Suite => Phase::Suite,
        _ => return Ok(Vec::new()),
    };
    let mut held = Vec::new();
    for folder in ctx.exclusive_folders(&node.distro, phase) {
        let lock = super::locks::beside(&folder);
        let waiting = |by: &str| format!("waiting for {}: held by {by}", folder.display());
        held.push(ctx.host_lock(&lock, &node.id, log, cancel, waiting).await?);
    }
    Ok(held)
}

/// Ctrl-C, SIGTERM or SIGHUP: cancel the run (containers are stopped and removed by their
/// owners); the run then exits 130 whichever signal it was.
fn spawn_signal_listener(
    cancel: CancellationToken,
    interrupted: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let wait_for = |kind: SignalKind| async move {
            match signal(kind) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = wait_for(SignalKind::terminate()) => {}
            // A closed terminal or a dropped SSH session: stop as for Ctrl-C.
            _ = wait_for(SignalKind::hangup()) => {}
        }
        interrupted.store(true, Ordering::SeqCst);
        cancel.cancel();
    })
}
