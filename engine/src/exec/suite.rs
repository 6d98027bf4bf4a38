//! Suite nodes: each attempt in a fresh container of the provisioned image (`runner suite`), so
//! suites cannot leak state into each other; removed afterwards unless kept for debugging. A
//! suite with `samples` runs that many times in a row, every sample with its own attempts,
//! until one does not pass.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use runner_protocol::protocol::{Event, FinishStatus};

use super::context::{RunCtx, RunnerJob};
use super::diagnostics::{infra, render_at_distro};
use super::events::read_events;
use super::log::NodeLog;
use super::provision::Facts;
use super::specs;
use crate::docker::{Ending, RunOptions, RunOutcome};
use crate::events::{InfraKind, NodeResult, Outcome};
use crate::plan::{Node, NodeKind};
use crate::spec::codes::Code;
use crate::spec::host_grants::host_expressions;
use crate::spec::locale::same_locale;
use crate::spec::matrix::{Distro, Expect, LocalePolicy, Phase, Suite};
use crate::spec::SpecDiagnostic;

/// Beyond the suite's own timeout (which the runner enforces), what the engine allows for
/// restore and container start/stop before it kills the container itself.
const BACKSTOP: Duration = Duration::from_secs(90);

/// The verdict of one attempt.
enum Attempt {
    Passed,
    /// Not applicable here, decided in the container (a skip condition, exit 77).
    Skipped(String),
    /// Why, and the step that failed (None when the events do not say).
    Failed(String, Option<String>),
    TimedOut,
    Other(NodeResult),
}

pub async fn run(
    ctx: &RunCtx,
    distro: &Distro,
    suite: &Suite,
    log: &mut NodeLog,
    cancel: &CancellationToken,
) -> NodeResult {
    // spread's `$(HOST: ...)` values, evaluated at the start of the run.
    let suite = match with_host_values(ctx, suite) {
        Ok(s) => s,
        Err(why) => return infra(InfraKind::Host, why),
    };
    let suite = suite.as_ref();
    if let Some(r) = gate(ctx, distro, suite).await {
        return r;
    }
    let (mut r, sample) = samples(ctx, distro, suite, log, cancel).await;
    let node = Node::id_for(NodeKind::Suite, &distro.name, Some(&suite.name));
    let rel = artifacts_folder(&io_name(
        &node,
        Try {
            sample,
            attempt: r.attempts.max(1),
        },
    ));
    if ctx.run_dir.join(&rel).is_dir() {
        r.artifacts = Some(rel.to_string_lossy().into_owned());
    }
    r
}

/// Every sample in turn, until one does not pass; the verdict, and the sample it came from. A
/// flaky sample makes the suite flaky when the others pass.
async fn samples(
    ctx: &RunCtx,
    distro: &Distro,
    suite: &Suite,
    log: &mut NodeLog,
    cancel: &CancellationToken,
) -> (NodeResult, u32) {
    let mut flaky = None;
    for sample in 1..=suite.samples {
        if suite.samples > 1 {
            log.note(&format!("sample {sample} of {}", suite.samples));
        }
        let mut r = attempts(ctx, distro, suite, sample, log, cancel).await;
        let passed = matches!(r.outcome, Outcome::Passed | Outcome::Flaky { .. });
        if passed && sample < suite.samples {
            // Not every sample ran: not a pass.
            if cancel.is_cancelled() {
                return (NodeResult::new(Outcome::Cancelled), sample);
            }
            if matches!(r.outcome, Outcome::Flaky { .. }) {
                flaky = Some((r, sample));
            }
            continue;
        }
        if passed && r.outcome == Outcome::Passed {
            return flaky.unwrap_or((r, sample));
        }
        if let (Outcome::Failed { reason }, true) = (&mut r.outcome, suite.samples > 1) {
            *reason = format!("sample {sample} of {}: {reason}", suite.samples);
        }
        return (r, sample);
    }
    (NodeResult::new(Outcome::Cancelled), 1)
}

/// What must hold before any container starts: the provisioned image is there, and it has the
/// locales the suite requires (else the verdict).
async fn gate(ctx: &RunCtx, distro: &Distro, suite: &Suite) -> Option<NodeResult> {
    let image = match ctx.chain(distro).await {
        Ok(chain) => chain.provisioned_ref,
        Err(r) => return Some(r),
    };
    let facts = match ctx.docker.image_labels(&image).await {
        Ok(Some(labels)) => Facts::from_labels(&labels),
        Ok(None) => {
            return Some(infra(
                InfraKind::Daemon,
                format!("the provisioned image {image} is gone"),
            ))
        }
        Err(e) => {
            return Some(infra(
                InfraKind::Daemon,
                format!("cannot inspect {image}: {e}"),
            ))
        }
    };
    locale_gate(ctx, distro, suite, &facts)
}

/// The suite with its `$(HOST: ...)` values in place (itself when it has none).
fn with_host_values<'s>(ctx: &RunCtx, suite: &'s Suite) -> Result<Cow<'s, Suite>, String> {
    if !suite
        .environment
        .values()
        .any(|v| !host_expressions(v).is_empty())
    {
        return Ok(Cow::Borrowed(suite));
    }
    let mut s = suite.clone();
    for v in s.environment.values_mut() {
        *v = ctx.host.substitute(v)?;
    }
    Ok(Cow::Owned(s))
}

/// One container's run of a suite: which sample (of its `samples`) and which attempt of it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Try {
    sample: u32,
    attempt: u32,
}

/// The I/O folder's name of one try: the node's id for the first, then `:sample2`,
/// `:attempt2`, or both.
fn io_name(node: &str, t: Try) -> String {
    let mut name = node.to_string();
    if t.sample > 1 {
        name.push_str(&format!(":sample{}", t.sample));
    }
    if t.attempt > 1 {
        name.push_str(&format!(":attempt{}", t.attempt));
    }
    name
}

/// Where an attempt's artifacts go, relative to the run's folder.
fn artifacts_folder(io_name: &str) -> PathBuf {
    Path::new("artifacts").join(Node::file_stem(io_name))
}

/// Move what the runner copied into the I/O folder to the run's `artifacts/` folder.
fn keep_artifacts(ctx: &RunCtx, io: &Path, io_name: &str, log: &mut NodeLog) {
    let from = io.join("artifacts");
    if !from.is_dir() {
        return;
    }
    let rel = artifacts_folder(io_name);
    let to = ctx.run_dir.join(&rel);
    let moved = std::fs::create_dir_all(ctx.run_dir.join("artifacts")).and_then(|()| {
        if to.exists() {
            std::fs::remove_dir_all(&to)?;
        }
        std::fs::rename(&from, &to)
    });
    match moved {
        Ok(()) => log.note(&format!("artifacts: {}", to.display())),
        Err(e) => log.note(&format!(
            "artifacts left in {}: cannot move them to {}: {e}",
            from.display(),
            to.display()
        )),
    }
}

/// Every attempt the suite's `retries` allow for one sample, until one passes.
async fn attempts(
    ctx: &RunCtx,
    distro: &Distro,
    suite: &Suite,
    sample: u32,
    log: &mut NodeLog,
    cancel: &CancellationToken,
) -> NodeResult {
    let attempts = suite.retries + 1;
    let mut first_failure: Option<NodeResult> = None;
    for attempt in 1..=attempts {
        if attempts > 1 {
            log.note(&format!("attempt {attempt} of {attempts}"));
        }
        let mut kept = None;
        let a = once(
            ctx,
            distro,
            suite,
            Try { sample, attempt },
            attempt == attempts,
            log,
            cancel,
            &mut kept,
        )
        .await;
        let mut r = match (a, suite.expect) {
            (Attempt::Passed, Expect::Fail) => NodeResult::new(Outcome::Failed {
                reason: "expected to fail, but passed".into(),
            }),
            (Attempt::Failed(..), Expect::Fail) => NodeResult::new(Outcome::Passed),
            (Attempt::Failed(..), Expect::Xfail) => NodeResult::new(Outcome::Xfail),
            (Attempt::Passed, _) => NodeResult::new(Outcome::Passed),
            // Not applicable here: whatever `expect` says, neither a pass nor a failure.
            (Attempt::Skipped(reason), _) => {
                log.note(&format!("skipped: {reason}"));
                NodeResult::new(Outcome::Skipped { reason })
            }
            (Attempt::Failed(reason, step), _) => NodeResult::new(Outcome::Failed { reason })
                .with_tail(failure_tail(log, step.as_deref())),
            (Attempt::TimedOut, _) => NodeResult::new(Outcome::TimedOut {
                after_secs: suite.timeout.as_secs(),
            })
            .with_tail(log.tail(10)),
            (Attempt::Other(r), _) => return with_attempts(r, attempt),
        };
        r.attempts = attempt;
        r.kept = kept;
        if r.outcome == Outcome::Passed && first_failure.is_some() {
            return with_attempts(
                NodeResult::new(Outcome::Flaky { attempts: attempt }),
                attempt,
            );
        }
        if r.outcome.is_failure() && attempt < attempts && !cancel.is_cancelled() {
            first_failure.get_or_insert(r);
            continue;
        }
        return r;
    }
    first_failure.unwrap_or_else(|| NodeResult::new(Outcome::Cancelled))
}

fn with_attempts(mut r: NodeResult, n: u32) -> NodeResult {
    r.attempts = n;
    r
}

/// A required locale the image lacks: an infra error under `fail` (and after a failed
/// `generate`), a skip under `skip`.
fn locale_gate(ctx: &RunCtx, distro: &Distro, suite: &Suite, facts: &Facts) -> Option<NodeResult> {
    let missing = suite
        .requires_locales
        .iter()
        .find(|l| facts.missing_locales.iter().any(|m| same_locale(m, l)))?;
    let index = distro.locales.iter().position(|d| same_locale(d, missing));
    match distro.on_missing_locale {
        LocalePolicy::Skip => Some(NodeResult::new(Outcome::Skipped {
            reason: format!(
                "locale {missing} is missing on {} (on_missing_locale = \"skip\")",
                distro.name
            ),
        })),
        policy => {
            let remedy = facts
                .remedies
                .get(missing)
                .filter(|r| !r.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("add the locale definition to the image (e.g. install glibc-locales / the `locales` data for {missing}), or set on_missing_locale = \"generate\" or \"skip\""));
            let (pointer, what) = match (policy, index) {
                (LocalePolicy::Generate, _) => {
                    ("/on_missing_locale".to_string(), "generation failed")
                }
                (_, Some(i)) => (
                    format!("/locales/{i}"),
                    "declared here, missing in the image",
                ),
                (_, None) => (
                    "/locales".to_string(),
                    "declared here, missing in the image",
                ),
            };
            let d = SpecDiagnostic::error(
                Code::InfraLocaleMissing,
                format!("suite `{}` needs locale {missing}, which {} declares but its image does not provide", suite.name, distro.name),
            )
            .help(remedy);
            Some(
                infra(
                    InfraKind::Locale,
                    format!("locale {missing} is missing on {}", distro.name),
                )
                .with_diagnostic(Some(render_at_distro(
                    ctx,
                    &distro.name,
                    &pointer,
                    d,
                    what,
                ))),
            )
        }
    }
}

/// One attempt; `last` says whether a failure is final (only a final failure's container is
/// kept, as the image named in `kept`).
#[allow(clippy::too_many_arguments)] // one attempt's whole context; a struct would only rename it
async fn once(
    ctx: &RunCtx,
    distro: &Distro,
    suite: &Suite,
    t: Try,
    last: bool,
    log: &mut NodeLog,
    cancel: &CancellationToken,
    kept: &mut Option<String>,
) -> Attempt {
    let provisioned = match ctx.chain(distro).await {
        Ok(chain) => chain.provisioned_ref,
        Err(r) => return Attempt::Other(r),
    };
    let node = Node::id_for(NodeKind::Suite, &distro.name, Some(&suite.name));
    let io_name = io_name(&node, t);
    let io = match ctx.io_dir(&io_name) {
        Ok(d) => d,
        Err(e) => {
            return Attempt::Other(infra(
                InfraKind::Io,
                format!("cannot create the I/O folder: {e}"),
            ))
        }
    };
    let spec = specs::suite(&ctx.matrix, distro, suite, t.sample);
    if let Err(e) = std::fs::write(
        io.join("suite.json"),
        serde_json::to_vec_pretty(&spec).unwrap_or_default(),
    ) {
        return Attempt::Other(infra(
            InfraKind::Io,
            format!("cannot write the suite spec: {e}"),
        ));
    }
    let mut names = ctx.matrix.pass_env.clone();
    names.extend(suite.pass_env.iter().cloned());
    let limits = distro.container.with(suite.container.as_ref());
    let job = RunnerJob {
        distro: &distro.name,
        node: &node,
        image: provisioned,
        command: "suite",
        io: &io,
        phase: Phase::Suite,
        pass_env: &names,
        limits: &limits,
    };
    let container = match ctx.runner_container(job, log) {
        Ok(c) => c,
        Err(e) => {
            return Attempt::Other(infra(
                InfraKind::Io,
                format!("cannot prepare the cache mounts: {e}"),
            ))
        }
    };
    let options = RunOptions {
        timeout: Some(suite.timeout + BACKSTOP),
        cancel: cancel.clone(),
        keep: ctx.keep_failed && last,
    };
    let outcome = match ctx
        .docker
        .run_to_completion(&container, options, |l| log.line(&l.line))
        .await
    {
        Ok(o) => o,
        Err(e) => return Attempt::Other(infra(InfraKind::Daemon, format!("suite container: {e}"))),
    };
    let events = read_events(&io.join("events.jsonl"));
    let verdict = verdict(&outcome, &events, log, &io);
    let verdict = memory_limit_reached(verdict, &container, &events, &log.tail(10));
    let verdict = disk_limit_reached(verdict, &container, &log.tail(30));
    keep_artifacts(ctx, &io, &io_name, log);
    // Keep only failed containers for debugging, as an image a shell can enter.
    if let (true, Some(id)) = (outcome.kept, &outcome.container_id) {
        if matches!(verdict, Attempt::Passed) {
            let _ = ctx.docker.remove(id, true).await;
        } else {
            *kept = keep_as_image(ctx, distro, suite, &node, id, log).await;
        }
    }
    verdict
}

/// The image a failed suite's container is kept as: `engine-kept/<distro>-<suite>:<run>`.
pub fn kept_image(run_id: &str, distro: &str, suite: &str) -> String {
    format!("engine-kept/{distro}-{}:{run_id}", suite.replace(':', "-"))
}

/// Commit the failed container to an image (its filesystem as the suite left it) and remove
/// the container: restarting the container would run the suite again, a shell in the image
/// does not. The container stays when the commit fails.
async fn keep_as_image(
    ctx: &RunCtx,
    distro: &Distro,
    suite: &Suite,
    node: &str,
    container: &str,
    log: &mut NodeLog,
) -> Option<String> {
    let image = kept_image(&ctx.run_id, &distro.name, &suite.name);
    let (repo, tag) = image.rsplit_once(':')?;
    match ctx
        .docker
        .commit(container, repo, tag, &ctx.labels(node), &[])
        .await
    {
        Ok(_) => {
            let _ = ctx.docker.remove(container, true).await;
            log.note(&format!(
                "kept as image {image}: engine shell {} {} --kept {}",
                distro.name, suite.name, ctx.run_id
            ));
            Some(image)
        }
        Err(e) => {
            let short = &container[..container.len().min(12)];
            log.note(&format!(
                "cannot keep the container as an image ({e}); container {short} is left as it ended (docker rm -f {short})"
            ));
            None
        }
    }
}

/// The verdict of an attempt from how its container ended and what the runner said.
fn verdict(outcome: &RunOutcome, events: &[Event], log: &NodeLog, io: &std::path::Path) -> Attempt {
    let finished = events.iter().rev().find_map(|e| match e {
        Event::Finished { status, .. } => Some(*status),
        _ => None,
    });
    match outcome.ending {
        Ending::Cancelled => Attempt::Other(NodeResult::new(Outcome::Cancelled)),
        Ending::OomKilled => Attempt::Other(
            infra(
                InfraKind::ResourceLimit,
                "killed for memory (out of memory in the container)".into(),
            )
            .with_tail(log.tail(10)),
        ),
        Ending::KilledExternally => Attempt::Other(
            infra(
                InfraKind::Killed,
                "the suite container was killed from outside (SIGKILL)".into(),
            )
            .with_tail(log.tail(5)),
        ),
        Ending::StoppedExternally => Attempt::Other(
            infra(
                InfraKind::Killed,
                "the suite container was stopped from outside (SIGTERM)".into(),
            )
            .with_tail(log.tail(5)),
        ),
        Ending::TimedOut => Attempt::TimedOut,
        Ending::Exited => match finished {
            Some(FinishStatus::Ok) => Attempt::Passed,
            Some(FinishStatus::Skipped) => Attempt::Skipped(
                events
                    .iter()
                    .find_map(|e| match e {
                        Event::Skipped { reason } => Some(reason.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "skipped in the container".into()),
            ),
            Some(FinishStatus::TimedOut) => Attempt::TimedOut,
            Some(FinishStatus::Failed) => {
                let (reason, step) = failed_phase(events);
                Attempt::Failed(reason, step)
            }
            Some(FinishStatus::Infra) => {
                let msg = events
                    .iter()
                    .find_map(|e| match e {
                        Event::InfraError { message, .. } => Some(message.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "the runner reported an infrastructure error".into());
                Attempt::Other(infra(InfraKind::Runner, msg).with_tail(log.tail(10)))
            }
            None => {
                let (kind, why) = no_verdict(
                    &log.tail(30),
                    outcome.exit.as_ref().map_or(-1, |e| e.exit_code),
                    io,
                );
                Attempt::Other(infra(kind, why).with_tail(log.tail(10)))
            }
        },
    }
}

/// A failed suite whose last lines say a write hit the container's `disk` limit is a resource
/// limit, named as the memory limit is: the storage driver's quota answers "Disk quota
/// exceeded" (btrfs, zfs) or "No space left on device" (overlay2 on xfs, devicemapper; taken
/// as the limit only when no tmpfs mount could be the one that is full).
fn disk_limit_reached(
    verdict: Attempt,
    container: &crate::docker::ContainerSpec,
    tail: &[String],
) -> Attempt {
    let (Attempt::Failed(..), Some(limit)) = (&verdict, container.storage_bytes) else {
        return verdict;
    };
    let hit = |l: &&String| {
        l.contains("Disk quota exceeded")
            || (container.tmpfs.is_empty() && l.contains("No space left on device"))
    };
    let Some(line) = tail.iter().rev().find(hit) else {
        return verdict;
    };
    Attempt::Other(
        infra(
            InfraKind::ResourceLimit,
            format!(
                "the suite reached its disk limit ({}, `[container] disk`): {}",
                crate::spec::matrix::show_bytes(u64::try_from(limit).unwrap_or(0)),
                line.trim()
            ),
        )
        .with_tail(tail[tail.len().saturating_sub(10)..].to_vec()),
    )
}

/// A failed step in which the kernel's OOM killer ended processes (the runner counts them in
/// the container's memory cgroup) failed for the memory limit, even when the container's first
/// process lived on and the daemon did not flag the container (Podman).
fn memory_limit_reached(
    verdict: Attempt,
    container: &crate::docker::ContainerSpec,
    events: &[Event],
    tail: &[String],
) -> Attempt {
    let (Attempt::Failed(_, failed), Some(limit)) = (&verdict, container.memory_bytes) else {
        return verdict;
    };
    let Some((step, n)) = super::events::oom_kills(events, failed.as_deref()) else {
        return verdict;
    };
    Attempt::Other(
        infra(
            InfraKind::ResourceLimit,
            format!(
                "killed for memory: {}",
                super::events::oom_reason(step, n, limit)
            ),
        )
        .with_tail(tail.to_vec()),
    )
}

/// Why a runner that exited left no verdict: the events it could not write (a full disk, said
/// on its output), else just that.
fn no_verdict(tail: &[String], exit: i64, io: &std::path::Path) -> (InfraKind, String) {
    match super::events::unwritable(tail, io) {
        Some(why) => (InfraKind::Io, why),
        None => (
            InfraKind::Runner,
            format!("the runner ended without a verdict (exit {exit})"),
        ),
    }
}

/// "execute exited with 1" and the step, from the step events. The first failed step is the
/// cause: a restore that fails after it is a consequence.
fn failed_phase(events: &[Event]) -> (String, Option<String>) {
    events
        .iter()
        .find_map(|e| match e {
            Event::StepFinished {
                step,
                exit_code: Some(c),
                ..
            } if *c != 0 && !step.starts_with("skip-if") => {
                Some((format!("{step} exited with {c}"), Some(step.clone())))
            }
            _ => None,
        })
        .unwrap_or_else(|| ("the suite failed".into(), None))
}

/// A failure's tail: the last lines of the step that failed, then what `debug` said about it;
/// restore's output, which follows in the log, is not the failure. The log's last lines when
/// the step is not known.
fn failure_tail(log: &NodeLog, step: Option<&str>) -> Vec<String> {
    let Some(failed) = step.and_then(|s| log.phase_tail(s, 20)) else {
        return log.tail(20);
    };
    let mut tail = failed;
    if let Some(debug) = log.phase_tail("debug", 10) {
        tail.extend(debug);
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_try_has_its_own_io_folder() {
        let node = "suite:arch:t";
        let name = |sample, attempt| io_name(node, Try { sample, attempt });
        assert_eq!(name(1, 1), "suite:arch:t");
        assert_eq!(name(1, 2), "suite:arch:t:attempt2");
        assert_eq!(name(2, 1), "suite:arch:t:sample2");
        assert_eq!(name(3, 2), "suite:arch:t:sample3:attempt2");
    }

    #[test]
    fn a_failed_step_with_oom_kills_under_a_memory_limit_is_the_limit() {
        let failed = || Attempt::Failed("the suite failed".into(), None);
        let finished = |oom_kills| Event::StepFinished {
            step: "execute".into(),
            exit_code: None,
            signal: Some(9),
            duration_ms: 5,
            timed_out: false,
            oom_kills,
        };
        let limited = crate::docker::ContainerSpec {
            memory_bytes: Some(32 << 20),
            ..Default::default()
        };
        let tail = vec!["[runner] == execute: killed by signal 9, 2 killed for memory ==".into()];
        match memory_limit_reached(failed(), &limited, &[finished(Some(2))], &tail) {
            Attempt::Other(r) => match r.outcome {
                Outcome::Infra { reason, kind } => {
                    assert_eq!(kind, InfraKind::ResourceLimit);
                    assert!(
                        reason.contains("ended 2 processes of `execute` under the 32 MiB limit"),
                        "{reason}"
                    );
                }
                other => panic!("{other:?}"),
            },
            _ => panic!("not named as the memory limit"),
        }
        // No OOM kill counted, no limit, or a passed suite: the verdict stands.
        let unlimited = crate::docker::ContainerSpec::default();
        assert!(matches!(
            memory_limit_reached(failed(), &limited, &[finished(None)], &tail),
            Attempt::Failed(..)
        ));
        assert!(matches!(
            memory_limit_reached(failed(), &unlimited, &[finished(Some(1))], &tail),
            Attempt::Failed(..)
        ));
        assert!(matches!(
            memory_limit_reached(Attempt::Passed, &limited, &[finished(Some(1))], &tail),
            Attempt::Passed
        ));
    }

    #[test]
    fn a_failure_at_the_disk_limit_is_named_as_the_limit() {
        let failed = || Attempt::Failed("execute exited with 1".into(), Some("execute".into()));
        let tail: Vec<String> = [
            "18+0 records out",
            "dd: error writing '/big': Disk quota exceeded",
            "[runner] == execute: exit 1 ==",
        ]
        .map(String::from)
        .to_vec();
        let limited = crate::docker::ContainerSpec {
            storage_bytes: Some(20 << 20),
            ..Default::default()
        };
        match disk_limit_reached(failed(), &limited, &tail) {
            Attempt::Other(r) => assert_eq!(
                r.outcome.reason().as_deref(),
                Some("the suite reached its disk limit (20 MiB, `[container] disk`): dd: error writing '/big': Disk quota exceeded")
            ),
            _ => panic!("not named as the disk limit"),
        }
        // No limit applied, or a passing suite: unchanged.
        let unlimited = crate::docker::ContainerSpec::default();
        assert!(matches!(
            disk_limit_reached(failed(), &unlimited, &tail),
            Attempt::Failed(..)
        ));
        assert!(matches!(
            disk_limit_reached(Attempt::Passed, &limited, &tail),
            Attempt::Passed
        ));
        // "No space left on device" with a tmpfs mount: the tmpfs may be what is full.
        let enospc = vec!["sh: write error: No space left on device".to_string()];
        let with_tmpfs = crate::docker::ContainerSpec {
            storage_bytes: Some(20 << 20),
            tmpfs: [("/scratch".to_string(), 1 << 20)].into(),
            ..Default::default()
        };
        assert!(matches!(
            disk_limit_reached(failed(), &with_tmpfs, &enospc),
            Attempt::Failed(..)
        ));
        assert!(matches!(
            disk_limit_reached(failed(), &limited, &enospc),
            Attempt::Other(_)
        ));
    }

    #[test]
    fn no_verdict_names_events_that_could_not_be_written() {
        let tail = vec![
            "some output".to_string(),
            "[runner] cannot write the events (/engine/io/events.jsonl): No space left on device (os error 28)".to_string(),
        ];
        let io = std::path::Path::new("/p/.engine/runs/r/io/suite_arch_x");
        let (kind, why) = no_verdict(&tail, 0, io);
        assert_eq!(kind, InfraKind::Io);
        assert_eq!(
            why,
            "cannot write the events (/p/.engine/runs/r/io/suite_arch_x/events.jsonl): No space left on device (os error 28)"
        );
        let (kind, why) = no_verdict(&["plain".to_string()], 0, io);
        assert_eq!(kind, InfraKind::Runner);
        assert_eq!(why, "the runner ended without a verdict (exit 0)");
    }
}
