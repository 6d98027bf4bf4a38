//! Provision nodes: `runner provision` in a container of the distro's image, committed as the
//! provisioned image; reused while its key holds. What provisioning found (missing locales, the
//! AUR helper) travels with the image as a label, so a cached image still tells it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use runner_protocol::protocol::Event;

use super::context::{
    RunCtx, RunnerJob, LABEL_CACHE_KEY, LABEL_DISTRO, LABEL_PROVISION_FACTS, LABEL_RECIPE,
};
use super::diagnostics::{infra, render_at_distro};
use super::events::read_events;
use super::log::NodeLog;
use super::specs;
use super::why::{reuse, Reuse};
use crate::docker::{Ending, RunOptions, RunOutcome};
use crate::events::{InfraKind, NodeResult, Outcome};
use crate::plan::{Node, NodeKind};
use crate::spec::matrix::Distro;
use crate::spec::matrix::Phase;
use crate::spec::SpecDiagnostic;

/// What provisioning found, kept on the provisioned image.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Facts {
    /// Declared locales the image does not provide (after `generate`, if that policy applies).
    pub missing_locales: Vec<String>,
    /// The runner's remedy per missing locale.
    #[serde(default)]
    pub remedies: HashMap<String, String>,
    /// The AUR helper found or installed, if any.
    pub aur_helper: Option<String>,
    /// The distro ID the image reports (os-release, normalized).
    pub os: Option<String>,
}

impl Facts {
    pub fn from_labels(labels: &HashMap<String, String>) -> Facts {
        labels
            .get(LABEL_PROVISION_FACTS)
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    }
}

pub async fn run(
    ctx: &RunCtx,
    distro: &Distro,
    log: &mut NodeLog,
    cancel: &CancellationToken,
) -> NodeResult {
    let node = Node::id_for(NodeKind::Provision, &distro.name, None);
    let chain = match ctx.chain(distro).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (key, tag) = (chain.provision_key.clone(), chain.provisioned_ref.clone());
    // Another engine process provisioning this key: wait for it, then reuse its image.
    let _key_lock = match ctx.key_host_lock(&key, &node, log, cancel).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let reuse = reuse(
        &ctx.docker,
        &ctx.project,
        &node,
        &tag,
        &key,
        &chain.provision_recipe,
        ctx.forced(&distro.name),
    );
    let why = match reuse.await {
        Ok(Reuse::Yes) => {
            log.note(&format!("{tag} is up to date: not provisioned again"));
            return NodeResult::new(Outcome::Cached).with_key(key);
        }
        Ok(Reuse::No(why)) => why,
        Err(e) => return infra(InfraKind::Daemon, format!("cannot inspect {tag}: {e}")),
    };
    log.note(&format!("provisioning because: {}", why.join("; ")));
    let io = match ctx.io_dir(&node) {
        Ok(d) => d,
        Err(e) => return infra(InfraKind::Io, format!("cannot create the I/O folder: {e}")),
    };
    let spec = specs::provision(&ctx.matrix, distro);
    if let Err(e) = std::fs::write(
        io.join("provision.json"),
        serde_json::to_vec_pretty(&spec).unwrap_or_default(),
    ) {
        return infra(
            InfraKind::Io,
            format!("cannot write the provision spec: {e}"),
        );
    }
    let job = RunnerJob {
        distro: &distro.name,
        node: &node,
        image: chain.image_ref,
        command: "provision",
        io: &io,
        phase: Phase::Provision,
        pass_env: &ctx.matrix.pass_env,
        limits: &distro.container,
    };
    let container = match ctx.runner_container(job, log) {
        Ok(c) => c,
        Err(e) => {
            return infra(
                InfraKind::Io,
                format!("cannot prepare the cache mounts: {e}"),
            )
        }
    };
    let options = RunOptions {
        timeout: Some(ctx.matrix.engine.timeout),
        cancel: cancel.clone(),
        // Kept until committed; removed below in every case.
        keep: true,
    };
    let outcome = ctx
        .docker
        .run_to_completion(&container, options, |l| log.line(&l.line))
        .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return infra(InfraKind::Daemon, format!("provision container: {e}")),
    };
    let target = Target {
        tag: &tag,
        key: &key,
        recipe: &chain.provision_recipe,
    };
    let result = finish(ctx, distro, &io, &outcome, target, log)
        .await
        .with_why(why)
        .with_key(key.clone());
    if result.outcome == Outcome::Passed {
        // The replaced provisioned image first: the replaced image below it is then free.
        super::image::remove_replaced(ctx, &node, log).await;
        let image_node = Node::id_for(NodeKind::Image, &distro.name, None);
        super::image::remove_replaced(ctx, &image_node, log).await;
    }
    if let Some(id) = &outcome.container_id {
        let _ = ctx.docker.remove(id, true).await;
    }
    result
}

/// The provisioned image to make: its reference and its cache key.
#[derive(Clone, Copy)]
struct Target<'a> {
    tag: &'a str,
    key: &'a str,
    recipe: &'a crate::plan::Recipe,
}

/// The verdict of a provision container that ended: an infra error, or its commit.
async fn finish(
    ctx: &RunCtx,
    distro: &Distro,
    io: &std::path::Path,
    outcome: &RunOutcome,
    target: Target<'_>,
    log: &mut NodeLog,
) -> NodeResult {
    if let Some(stopped) = stopped_early(ctx, &outcome.ending, log) {
        return stopped;
    }
    // Without its events nothing of the image is known: not committed.
    if let Some(why) = super::events::unwritable(&log.tail(30), io) {
        return infra(InfraKind::Io, why).with_tail(log.tail(10));
    }
    let found = Findings::read(&read_events(&io.join("events.jsonl")));
    if let Some(unmet) = found.unmet_expectation(ctx, distro, log) {
        return unmet;
    }
    let exit = outcome.exit.as_ref().map(|e| e.exit_code);
    if exit != Some(0) {
        // Processes killed for memory while the container lived on (Podman does not flag it).
        if let Some((step, n)) = &found.oom_killed {
            return infra(
                InfraKind::ResourceLimit,
                format!(
                    "provisioning was killed for memory: {}",
                    super::events::oom_reason(step, *n, distro.container.memory_bytes)
                ),
            )
            .with_tail(log.tail(15));
        }
        let what = match &found.failed_step {
            Some((step, code)) => format!(
                "provision step `{step}` failed (exit {})",
                code.unwrap_or(-1)
            ),
            None => format!("the runner exited with {}", exit.unwrap_or(-1)),
        };
        return infra(InfraKind::Provision, what).with_tail(log.tail(15));
    }
    let Some(container) = &outcome.container_id else {
        return infra(InfraKind::Engine, "the provision container is gone".into());
    };
    commit(ctx, distro, container, target, &found.facts, log).await
}

/// A container that did not end by itself: cancelled, out of time, out of memory, killed.
fn stopped_early(ctx: &RunCtx, ending: &Ending, log: &NodeLog) -> Option<NodeResult> {
    Some(match ending {
        Ending::Cancelled => NodeResult::new(Outcome::Cancelled),
        Ending::TimedOut => infra(
            InfraKind::Provision,
            format!(
                "provisioning took longer than engine.timeout ({})",
                humantime::format_duration(ctx.matrix.engine.timeout)
            ),
        )
        .with_tail(log.tail(10)),
        Ending::OomKilled => infra(
            InfraKind::ResourceLimit,
            "provisioning was killed for memory".into(),
        )
        .with_tail(log.tail(10)),
        Ending::KilledExternally => infra(
            InfraKind::Killed,
            "the provision container was killed from outside (SIGKILL)".into(),
        ),
        Ending::StoppedExternally => infra(
            InfraKind::Killed,
            "the provision container was stopped from outside (SIGTERM)".into(),
        ),
        Ending::Exited => return None,
    })
}

/// What the runner's events say about the image.
#[derive(Default)]
struct Findings {
    facts: Facts,
    /// Infrastructure errors not tied to a locale: (code, message, remedy).
    unscoped: Vec<(String, String, Option<String>)>,
    /// The step that failed, and its exit code.
    failed_step: Option<(String, Option<i32>)>,
    /// The first step in which the OOM killer ended processes, and how many (the runner's
    /// count in the container's memory cgroup).
    oom_killed: Option<(String, u64)>,
}

impl Findings {
    fn read(events: &[Event]) -> Findings {
        let mut f = Findings::default();
        for e in events {
            match e {
                Event::Probe { probe } => f.facts.os = Some(probe.os.normalized.clone()),
                Event::Locales { missing, .. } => f.facts.missing_locales = missing.clone(),
                Event::AurHelper { helper, .. } => {
                    f.facts.aur_helper = helper.as_ref().map(|h| h.name.clone())
                }
                Event::InfraError {
                    code,
                    message,
                    remedy,
                    scope,
                } => match scope.as_deref().and_then(|s| s.strip_prefix("locale:")) {
                    Some(l) => f.missing_locale(l, remedy.clone().unwrap_or_default()),
                    None => f
                        .unscoped
                        .push((code.clone(), message.clone(), remedy.clone())),
                },
                Event::StepFinished {
                    step, exit_code, ..
                } if exit_code.is_some_and(|c| c != 0) => {
                    f.failed_step = Some((step.clone(), *exit_code));
                }
                _ => {}
            }
        }
        f.oom_killed = super::events::oom_kills(events, None).map(|(s, n)| (s.to_string(), n));
        f
    }

    fn missing_locale(&mut self, locale: &str, remedy: String) {
        self.facts.remedies.insert(locale.to_string(), remedy);
        if !self.facts.missing_locales.iter().any(|m| m == locale) {
            self.facts.missing_locales.push(locale.to_string());
        }
    }

    /// The first expectation of the distro that the image does not meet (an AUR helper under
    /// `require`, ...), pointing at its declaration.
    fn unmet_expectation(
        &self,
        ctx: &RunCtx,
        distro: &Distro,
        log: &NodeLog,
    ) -> Option<NodeResult> {
        let (code, message, remedy) = self.unscoped.first()?;
        let (pointer, kind) = if code.contains("aur") {
            ("/aur_helper/policy", InfraKind::AurHelper)
        } else {
            ("", InfraKind::Provision)
        };
        let mut d = SpecDiagnostic::error(
            format!("infra::{code}"),
            format!("provisioning {}: {message}", distro.name),
        );
        if let Some(r) = remedy {
            d = d.help(r.clone());
        }
        let shown = render_at_distro(ctx, &distro.name, pointer, d, "expectation not met");
        Some(
            infra(kind, message.clone())
                .with_tail(log.tail(10))
                .with_diagnostic(Some(shown)),
        )
    }
}

/// Commit the provisioned container as `target`, with what provisioning found as a label.
async fn commit(
    ctx: &RunCtx,
    distro: &Distro,
    container: &str,
    target: Target<'_>,
    facts: &Facts,
    log: &mut NodeLog,
) -> NodeResult {
    let mut labels = ctx.labels(&Node::id_for(NodeKind::Provision, &distro.name, None));
    labels.insert(LABEL_CACHE_KEY.into(), target.key.to_string());
    labels.insert(LABEL_DISTRO.into(), distro.name.clone());
    labels.insert(LABEL_RECIPE.into(), target.recipe.to_label());
    labels.insert(
        LABEL_PROVISION_FACTS.into(),
        serde_json::to_string(facts).unwrap_or_default(),
    );
    let (repo, t) = crate::docker::image::split_reference(target.tag);
    match ctx.docker.commit(container, repo, t, &labels, &[]).await {
        Ok(_) => {
            log.note(&format!("committed {}", target.tag));
            NodeResult::new(Outcome::Passed)
        }
        Err(e) => infra(
            InfraKind::Daemon,
            format!("cannot commit the provisioned image: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_step_with_oom_kills_is_found_beside_the_failed_step() {
        let finished = |step: &str, exit_code, oom_kills| Event::StepFinished {
            step: step.into(),
            exit_code,
            signal: None,
            duration_ms: 1,
            timed_out: false,
            oom_kills,
        };
        let found = Findings::read(&[
            finished("tooling", Some(0), None),
            finished("build-product", Some(2), Some(3)),
        ]);
        assert_eq!(found.oom_killed, Some(("build-product".into(), 3)));
        assert_eq!(found.failed_step, Some(("build-product".into(), Some(2))));
        let found = Findings::read(&[finished("build-product", Some(1), None)]);
        assert_eq!(found.oom_killed, None);
    }
}
