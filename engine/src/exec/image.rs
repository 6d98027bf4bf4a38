//! Image nodes: build the distro's image from its base, or reuse the one whose key matches.

use std::collections::HashMap;
use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::context::{RunCtx, LABEL_CACHE_KEY, LABEL_DISTRO, LABEL_RECIPE};
use super::diagnostics::{infra, render_at_distro};
use super::log::NodeLog;
use super::why::{reuse, Reuse};
use crate::docker::build::LEGACY_STEPS_FILE;
use crate::docker::{BuildRequest, DockerError};
use crate::events::{InfraKind, NodeResult, Outcome};
use crate::plan::{Node, NodeKind};
use crate::spec::codes::Code;
use crate::spec::matrix::Distro;
use crate::spec::SpecDiagnostic;

pub async fn run(
    ctx: &RunCtx,
    distro: &Distro,
    log: &mut NodeLog,
    cancel: &CancellationToken,
) -> NodeResult {
    let chain = match ctx.chain(distro).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (key, tag) = (chain.image_key, chain.image_ref);
    let node = Node::id_for(NodeKind::Image, &distro.name, None);
    // Another engine process making this key: wait for it, then reuse what it made.
    let _key_lock = match ctx.key_host_lock(&key, &node, log, cancel).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let forced = ctx.forced(&distro.name);
    let reuse = reuse(
        &ctx.docker,
        &ctx.project,
        &node,
        &tag,
        &key,
        &chain.image_recipe,
        forced,
    );
    let why = match reuse.await {
        Ok(Reuse::Yes) => {
            log.note(&format!("{tag} is up to date: not rebuilt"));
            return NodeResult::new(Outcome::Cached).with_key(key);
        }
        Ok(Reuse::No(why)) => why,
        Err(e) => return infra(InfraKind::Daemon, format!("cannot inspect {tag}: {e}")),
    };
    log.note(&format!("building because: {}", why.join("; ")));
    let image = &distro.image;
    let dockerfile = image
        .dockerfile
        .strip_prefix(&image.context)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| image.dockerfile.clone());
    let mut build_args: HashMap<String, String> = image.build_args.clone().into_iter().collect();
    build_args.insert("BASE_IMAGE".into(), chain.base_ref.clone());
    let mut labels = ctx.labels(&node);
    labels.insert(LABEL_CACHE_KEY.into(), key.clone());
    labels.insert(LABEL_DISTRO.into(), distro.name.clone());
    labels.insert(LABEL_RECIPE.into(), chain.image_recipe.to_label());
    let request = BuildRequest {
        context_dir: image.context.clone(),
        dockerfile,
        build_args,
        tag: tag.clone(),
        labels,
        no_cache: forced,
    };
    log.note(&format!("building {tag} from {}", chain.base_ref));
    let built = tokio::select! {
        r = ctx.docker.build_image(&request, |l| {
            log.line(l);
            note_legacy_step(&ctx.run_dir, l);
        }) => r,
        _ = cancel.cancelled() => return NodeResult::new(Outcome::Cancelled),
    };
    match built {
        Ok(_) => {
            remove_replaced(ctx, &node, log).await;
            NodeResult::new(Outcome::Passed).with_why(why).with_key(key)
        }
        Err(DockerError::BuildFailed { tail, .. }) => {
            let d = SpecDiagnostic::error(
                Code::InfraImageBuild,
                format!("the image of distro `{}` failed to build", distro.name),
            )
            .help(format!(
                "last lines of the build:\n{}\nfull log: {}",
                tail.join("\n"),
                log.path().display()
            ));
            let pointer = if distro_declares_image(ctx, &distro.name) {
                "/image"
            } else {
                ""
            };
            infra(InfraKind::ImageBuild, "image build failed".into())
                .with_tail(tail)
                .with_diagnostic(Some(render_at_distro(
                    ctx,
                    &distro.name,
                    pointer,
                    d,
                    "built from here",
                )))
        }
        Err(e) => infra(InfraKind::ImageBuild, format!("image build: {e}")).with_tail(log.tail(10)),
    }
}

fn distro_declares_image(ctx: &RunCtx, distro: &str) -> bool {
    ctx.loaded.origins.distros.get(distro).is_some_and(|o| {
        ctx.loaded
            .sources
            .get(o.file)
            .spans
            .get(&o.pointer("/image"))
            .is_some()
    })
}

/// Images of `node` left without a tag because a new one took it (`--rebuild` makes an image
/// under the same key): removed, so that a forced rebuild leaves no garbage. An image still in
/// use (a provisioned image built on it, a container) stays; the daemon refuses, and that is
/// fine.
pub(super) async fn remove_replaced(ctx: &RunCtx, node: &str, log: &mut NodeLog) {
    let filter = HashMap::from([(crate::docker::labels::NODE.to_string(), node.to_string())]);
    let Ok(images) = ctx.docker.list_images(&filter).await else {
        return;
    };
    for image in images.iter().filter(|i| i.tags.is_empty()) {
        if let Ok(true) = ctx.docker.remove_image(&image.id, false).await {
            log.note(&format!("removed the replaced image {}", image.id));
        }
    }
}

/// Adds a legacy build's step image to the run's list, as soon as the build names it (a
/// cancelled build writes nothing after), for `engine clean` (see [`LEGACY_STEPS_FILE`]).
fn note_legacy_step(run_dir: &std::path::Path, line: &str) {
    use std::io::Write;
    let Some(id) = crate::docker::build::legacy_step_image(line) else {
        return;
    };
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir.join(LEGACY_STEPS_FILE))
        .and_then(|mut f| writeln!(f, "{id}"));
}
