//! Base nodes: make the distro's base image present, by its pull policy or from a rootfs script.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::context::{short, RunCtx, LABEL_CACHE_KEY};
use super::diagnostics::{infra, no_chain, render_at_distro};
use super::host;
use super::log::NodeLog;
use crate::events::{InfraKind, NodeResult, Outcome};
use crate::plan::{Node, NodeKind};
use crate::spec::codes::Code;
use crate::spec::matrix::{Base, Distro, PullPolicy};
use crate::spec::SpecDiagnostic;

pub async fn run(
    ctx: &RunCtx,
    distro: &Distro,
    log: &mut NodeLog,
    cancel: &CancellationToken,
) -> NodeResult {
    match &distro.base {
        Base::Image { reference, pull } => pulled(ctx, distro, reference, *pull, log).await,
        Base::Rootfs { .. } => {
            tokio::select! {
                r = rootfs(ctx, distro, log, cancel) => r,
                _ = cancel.cancelled() => NodeResult::new(Outcome::Cancelled),
            }
        }
    }
}

async fn pulled(
    ctx: &RunCtx,
    distro: &Distro,
    reference: &str,
    pull: PullPolicy,
    log: &mut NodeLog,
) -> NodeResult {
    // What the daemon has before any pull: whether to pull, and whether a pull moved the tag.
    let before = match ctx.docker.image_identity(reference).await {
        Ok(found) => found,
        Err(e) => {
            return infra(
                InfraKind::Daemon,
                format!("cannot inspect {reference}: {e}"),
            )
        }
    };
    let present = before.is_some();
    // `engine run --pull`, or `--rebuild` of this distro: pulled whatever the policy.
    let pull = if ctx.force.pull || ctx.forced(&distro.name) {
        PullPolicy::Always
    } else {
        pull
    };
    let must_pull = match pull {
        PullPolicy::Always => true,
        PullPolicy::Missing => !present,
        PullPolicy::Never => false,
    };
    if let Some((_, digest)) = reference.split_once('@') {
        log.note(&format!("base image pinned at {digest}"));
    }
    if !must_pull {
        if present {
            log.note(&format!("base image {reference} is present"));
            return NodeResult::new(Outcome::Cached);
        }
        let d = SpecDiagnostic::error(
            Code::InfraBaseMissing,
            format!("base image `{reference}` of distro `{}` is not present and pull = \"never\"", distro.name),
        )
        .help("load the image into the daemon (docker load / docker import), or set pull = \"missing\"");
        return infra(
            InfraKind::Pull,
            format!("base image {reference} is absent (pull = \"never\")"),
        )
        .with_diagnostic(Some(render_at_distro(
            ctx,
            &distro.name,
            "/base_image",
            d,
            "this image is absent",
        )));
    }
    log.note(&format!("pulling {reference}"));
    match ctx
        .docker
        .pull_with_progress(reference, |l| log.line(&format!("pull: {l}")))
        .await
    {
        Ok(()) => {
            let after = ctx.docker.image_identity(reference).await.ok().flatten();
            let id = |i: &Option<crate::docker::ImageIdentity>| i.as_ref().map(|i| i.id.clone());
            let why = match (id(&before), id(&after)) {
                (Some(a), Some(b)) if a == b => {
                    log.note(&format!("{reference} is unchanged ({})", short_id(&b)));
                    return NodeResult::new(Outcome::Cached);
                }
                (Some(a), Some(b)) => format!("moved: {} -> {}", short_id(&a), short_id(&b)),
                (None, Some(b)) => format!("pulled: {}", short_id(&b)),
                _ => "pulled".to_string(),
            };
            log.note(&format!("{reference} {why}"));
            NodeResult::new(Outcome::Passed).with_why(vec![why])
        }
        Err(e) if present => {
            // pull = "always" with a registry out of reach: the local copy still works; say so.
            log.note(&format!(
                "pull failed ({e}); using the local copy of {reference}"
            ));
            NodeResult::new(Outcome::Cached)
        }
        Err(e) => {
            let d = SpecDiagnostic::error(
                Code::InfraBaseUnavailable,
                format!("base image `{reference}` of distro `{}` is absent and cannot be pulled", distro.name),
            )
            .help(format!(
                "the daemon said: {e}\nwithout a registry, import the image first, or declare `base_rootfs = {{ script = ... }}` to build it locally"
            ));
            infra(InfraKind::Pull, format!("cannot pull {reference}: {e}")).with_diagnostic(Some(
                render_at_distro(ctx, &distro.name, "/base_image", d, "cannot be pulled"),
            ))
        }
    }
}

/// Run the rootfs script (unless an image of the same key exists), then import its tar.
async fn rootfs(
    ctx: &RunCtx,
    distro: &Distro,
    log: &mut NodeLog,
    cancel: &CancellationToken,
) -> NodeResult {
    let Base::Rootfs { script, .. } = &distro.base else {
        return infra(InfraKind::Base, "not a rootfs base".into());
    };
    let Some(chain) = ctx.base_of(distro) else {
        return no_chain(&distro.name);
    };
    let (key, reference) = chain;
    // Distros sharing one base wait for each other here, then find the image.
    let lock = ctx.key_lock(&key);
    let _held = lock.lock().await;
    // And other engine processes too.
    let node = Node::id_for(NodeKind::Base, &distro.name, None);
    let _key_lock = match ctx.key_host_lock(&key, &node, log, cancel).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    // Not made again by `--rebuild`: distros share a rootfs base, and a new import (a new id)
    // would rebuild theirs too. Its key covers the script and its arguments.
    match ctx.docker.image_exists(&reference).await {
        Ok(true) => {
            log.note(&format!("base {reference} exists: script not run"));
            return NodeResult::new(Outcome::Cached);
        }
        Ok(false) => {}
        Err(e) => {
            return infra(
                InfraKind::Daemon,
                format!("cannot inspect {reference}: {e}"),
            )
        }
    }
    if ctx.host.refused {
        return refused(ctx, distro, script);
    }
    let tar = match script_tar(ctx, distro, &key, log).await {
        Ok(tar) => tar,
        Err(failed) => return failed,
    };
    let mut labels: HashMap<String, String> =
        ctx.labels(&Node::id_for(NodeKind::Base, &distro.name, None));
    labels.insert(LABEL_CACHE_KEY.into(), key.clone());
    log.note(&format!("importing {} as {reference}", tar.display()));
    let imported = ctx.docker.import_rootfs(&tar, &reference, &labels).await;
    let _ = std::fs::remove_file(&tar);
    match imported {
        Ok(_) => NodeResult::new(Outcome::Passed),
        Err(e) => {
            infra(InfraKind::Base, format!("cannot import the rootfs: {e}")).with_tail(log.tail(5))
        }
    }
}

/// `sha256:1a2b3c4d5e6f` of an image id.
fn short_id(id: &str) -> String {
    match id.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", &hex[..hex.len().min(12)]),
        None => id[..id.len().min(12)].to_string(),
    }
}

/// Run the distro's rootfs script on the host; the tar it wrote, or the failed result.
async fn script_tar(
    ctx: &RunCtx,
    distro: &Distro,
    key: &str,
    log: &mut NodeLog,
) -> Result<std::path::PathBuf, NodeResult> {
    let Base::Rootfs {
        script,
        args,
        timeout,
        pass_env,
        ..
    } = &distro.base
    else {
        return Err(infra(InfraKind::Base, "not a rootfs base".into()));
    };
    let out_dir = ctx.matrix.caches.root.join("rootfs");
    // The script's own cache (`ENGINE_CACHE_DIR`): per machine, not per project, because a
    // rootfs is large and the same for every project that asks for it.
    let script_cache = crate::files::machine_cache();
    if let Err(e) =
        std::fs::create_dir_all(&out_dir).and_then(|_| std::fs::create_dir_all(&script_cache))
    {
        return Err(infra(
            InfraKind::Io,
            format!("cannot create {}: {e}", out_dir.display()),
        ));
    }
    let tar = out_dir.join(format!("{}.tar", short(key)));
    log.note(&format!(
        "running {} {} on the host (limit {})",
        script.display(),
        args.join(" "),
        humantime::format_duration(*timeout)
    ));
    let cmd = host::HostCommand {
        program: script,
        args,
        workdir: script.parent().unwrap_or(std::path::Path::new(".")),
        env: host::environment(
            pass_env,
            &[
                ("ENGINE_ROOTFS_OUT", &tar),
                ("ENGINE_CACHE_DIR", &script_cache),
            ],
        ),
        timeout: *timeout,
    };
    let end = host::run(cmd, |line, _| log.line(line)).await;
    let what = match end {
        host::HostEnd::Exited(status) if status.success() && tar.is_file() => return Ok(tar),
        host::HostEnd::Exited(status) if status.success() => format!(
            "exited 0 but wrote no tar at $ENGINE_ROOTFS_OUT ({})",
            tar.display()
        ),
        host::HostEnd::Exited(status) => format!("failed ({status})"),
        host::HostEnd::TimedOut => {
            let _ = std::fs::remove_file(&tar);
            format!(
                "ran past its timeout ({}) and was killed with its process group",
                humantime::format_duration(*timeout)
            )
        }
        host::HostEnd::NotStarted(e) => format!("could not start: {e}"),
    };
    let d = SpecDiagnostic::error(
        Code::InfraRootfsScript,
        format!("the rootfs script of distro `{}` {what}", distro.name),
    )
    .help(format!("its output is in {}", log.path().display()));
    Err(infra(InfraKind::Base, format!("rootfs script {what}"))
        .with_tail(log.tail(15))
        .with_diagnostic(Some(render_at_distro(
            ctx,
            &distro.name,
            "/base_rootfs/script",
            d,
            "this script failed",
        ))))
}

/// `--no-host-exec` and a base that only its script can make.
fn refused(ctx: &RunCtx, distro: &Distro, script: &std::path::Path) -> NodeResult {
    let shown = script
        .strip_prefix(&ctx.matrix.root)
        .unwrap_or(script)
        .display()
        .to_string();
    let message = format!(
        "the base of distro `{}` needs its rootfs script {shown} to run on the host, and {} refuses host execution",
        distro.name,
        host::REFUSED_BY
    );
    let d = SpecDiagnostic::error(Code::InfraRootfsScript, message.clone()).help(
        "build the bases where host execution is trusted (`engine build` on the default branch), then run with --no-host-exec: an existing base is reused and nothing runs on the host",
    );
    infra(InfraKind::Base, message).with_diagnostic(Some(render_at_distro(
        ctx,
        &distro.name,
        "/base_rootfs/script",
        d,
        "would run on the host",
    )))
}
