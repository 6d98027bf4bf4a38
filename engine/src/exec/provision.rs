//! Provision nodes: `runner provision` in a container of the distro's image, committed as the
//! provisioned image; reused while its key holds. What provisioning found (missing locales, the
//! AUR helper) travels with the image as a label, so a cached image still tells it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use runner_protocol::protocol::Event;

use super::context::{holds, RunCtx, LABEL_CACHE_KEY, LABEL_DISTRO, LABEL_PROVISION_FACTS};
use super::diagnostics::{infra, render_at_distro};
use super::events::read_events;
use super::log::NodeLog;
use super::specs;
use crate::docker::{Ending, RunOptions};
use crate::events::{NodeResult, Outcome};
use crate::plan::NodeKind;
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
    let node = format!("provision:{}", distro.name);
    let key = ctx.key(NodeKind::Provision, &distro.name);
    let tag = ctx.provisioned_ref(&distro.name);
    match holds(&ctx.docker, &tag, &key).await {
        Ok(true) => {
            log.note(&format!("{tag} is up to date: not provisioned again"));
            return NodeResult::new(Outcome::Cached);
        }
        Ok(false) => {}
        Err(e) => return infra(format!("cannot inspect {tag}: {e}")),
    }
    let io = match ctx.io_dir(&node) {
        Ok(d) => d,
        Err(e) => return infra(format!("cannot create the I/O folder: {e}")),
    };
    let spec = specs::provision(&ctx.matrix, distro);
    if let Err(e) = std::fs::write(
        io.join("provision.json"),
        serde_json::to_vec_pretty(&spec).unwrap_or_default(),
    ) {
        return infra(format!("cannot write the provision spec: {e}"));
    }
    let container = match ctx.runner_container(
        &distro.name,
        &node,
        ctx.image_ref(&distro.name),
        "provision",
        &io,
        Phase::Provision,
        &ctx.matrix.pass_env,
        &distro.container,
        log,
    ) {
        Ok(c) => c,
        Err(e) => return infra(format!("cannot prepare the cache mounts: {e}")),
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
        Err(e) => return infra(format!("provision container: {e}")),
    };
    let id = outcome.container_id.clone();
    let result = finish(
        ctx,
        distro,
        &io,
        &id,
        &tag,
        &key,
        &outcome.ending,
        outcome.exit.map(|e| e.exit_code),
        log,
    )
    .await;
    if !id.is_empty() {
        let _ = ctx.docker.remove(&id, true).await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    ctx: &RunCtx,
    distro: &Distro,
    io: &std::path::Path,
    container: &str,
    tag: &str,
    key: &str,
    ending: &Ending,
    exit: Option<i64>,
    log: &mut NodeLog,
) -> NodeResult {
    match ending {
        Ending::Cancelled => return NodeResult::new(Outcome::Cancelled),
        Ending::TimedOut => {
            return infra(format!(
                "provisioning took longer than engine.timeout ({})",
                humantime::format_duration(ctx.matrix.engine.timeout)
            ))
            .with_tail(log.tail(10))
        }
        Ending::OomKilled => {
            return infra("provisioning was killed for memory".into()).with_tail(log.tail(10))
        }
        Ending::KilledExternally => {
            return infra("the provision container was killed from outside".into())
        }
        Ending::Exited => {}
    }
    let events = read_events(&io.join("events.jsonl"));
    let mut facts = Facts::default();
    let mut unscoped = Vec::new();
    let mut failed_step = None;
    for e in &events {
        match e {
            Event::Probe { probe } => facts.os = Some(probe.os.normalized.clone()),
            Event::Locales { missing, .. } => facts.missing_locales = missing.clone(),
            Event::AurHelper { helper, .. } => {
                facts.aur_helper = helper.as_ref().map(|h| h.name.clone())
            }
            Event::InfraError {
                code,
                message,
                remedy,
                scope,
            } => match scope {
                Some(s) if s.starts_with("locale:") => {
                    let l = s.trim_start_matches("locale:").to_string();
                    facts
                        .remedies
                        .insert(l.clone(), remedy.clone().unwrap_or_default());
                    if !facts.missing_locales.contains(&l) {
                        facts.missing_locales.push(l);
                    }
                }
                _ => unscoped.push((code.clone(), message.clone(), remedy.clone())),
            },
            Event::StepFinished {
                step, exit_code, ..
            } if exit_code.is_some_and(|c| c != 0) => {
                failed_step = Some((step.clone(), *exit_code));
            }
            _ => {}
        }
    }
    if let Some((code, message, remedy)) = unscoped.first() {
        let pointer = if code.contains("aur") {
            "/aur_helper/policy"
        } else {
            ""
        };
        let mut d = SpecDiagnostic::error(
            format!("infra::{code}"),
            format!("provisioning {}: {message}", distro.name),
        );
        if let Some(r) = remedy {
            d = d.help(r.clone());
        }
        return infra(message.clone())
            .with_tail(log.tail(10))
            .with_diagnostic(Some(render_at_distro(
                ctx,
                &distro.name,
                pointer,
                d,
                "expectation not met",
            )));
    }
    if exit != Some(0) {
        let what = match &failed_step {
            Some((step, code)) => format!(
                "provision step `{step}` failed (exit {})",
                code.unwrap_or(-1)
            ),
            None => format!("the runner exited with {}", exit.unwrap_or(-1)),
        };
        return infra(what).with_tail(log.tail(15));
    }
    let mut labels = ctx.labels(&format!("provision:{}", distro.name));
    labels.insert(LABEL_CACHE_KEY.into(), key.to_string());
    labels.insert(LABEL_DISTRO.into(), distro.name.clone());
    labels.insert(
        LABEL_PROVISION_FACTS.into(),
        serde_json::to_string(&facts).unwrap_or_default(),
    );
    let (repo, t) = crate::docker::image::split_reference(tag);
    match ctx.docker.commit(container, repo, t, &labels, &[]).await {
        Ok(_) => {
            log.note(&format!("committed {tag}"));
            NodeResult::new(Outcome::Passed)
        }
        Err(e) => infra(format!("cannot commit the provisioned image: {e}")),
    }
}
