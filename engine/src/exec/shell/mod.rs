//! An interactive shell in a fresh container of a provisioned image (`engine shell`): the
//! container gets what a suite container gets (the workspace and cache mounts, labels, limits,
//! and with a suite its environment and folder), the host terminal is put in raw mode while the
//! container's TTY does the line editing, and the container is removed when the shell ends,
//! whatever ends it.

mod terminal;

use std::io::{IsTerminal, Read, Write};
use std::pin::pin;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{signal, SignalKind};

use terminal::RawMode;

use super::context::RunCtx;
use super::specs;
use crate::docker::{ContainerSpec, DockerClient, DockerError, LogStream};
use crate::events::exit;
use crate::spec::matrix::{Distro, Phase, Suite};

/// Picks the best shell the image has: a login bash, else sh.
const SHELL: &str = "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi";

/// After the shell exited, how long to wait for the rest of its output.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SessionError {
    #[error("cannot prepare the shell container: {0}")]
    #[diagnostic(code(engine::shell::io))]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),
    #[error("the shell session failed: {0}")]
    #[diagnostic(code(engine::shell::session))]
    Session(String),
}

/// A shell in a fresh container of `distro`'s provisioned image, or of `image` (a failed
/// suite's kept container), with `suite`'s environment; returns the shell's exit code (130
/// when interrupted). The container is gone afterwards.
pub async fn open(
    ctx: &RunCtx,
    distro: &Distro,
    suite: Option<&Suite>,
    image: Option<String>,
) -> Result<i32, SessionError> {
    let node = match suite {
        Some(s) => format!("shell:{}:{}", distro.name, s.name),
        None => format!("shell:{}", distro.name),
    };
    let image = match image {
        Some(i) => i,
        None => {
            ctx.chain(distro)
                .await
                .map_err(|r| {
                    SessionError::Session(format!(
                        "no image of `{}`: {}",
                        distro.name,
                        r.outcome.reason().unwrap_or_default()
                    ))
                })?
                .provisioned_ref
        }
    };
    let spec = container_spec(ctx, distro, suite, &node, image)?;
    let docker = ctx.docker.clone();
    let id = docker.create_interactive(&spec).await?;
    // In its own task: even a panic in the session comes back here, to the removal.
    let result = tokio::spawn(session(docker.clone(), id.clone())).await;
    let removed = docker.remove(&id, true).await;
    match (result, removed) {
        (Ok(Ok(code)), Ok(_)) => Ok(code),
        (Ok(Ok(_)), Err(e)) | (Ok(Err(e)), _) => Err(e.into()),
        (Err(join), _) => Err(SessionError::Session(join.to_string())),
    }
}

/// The container: the provisioned image, the suite's mounts, labels, environment and folder.
fn container_spec(
    ctx: &RunCtx,
    distro: &Distro,
    suite: Option<&Suite>,
    node: &str,
    image: String,
) -> Result<ContainerSpec, SessionError> {
    let io = ctx.io_dir(node)?;
    let binds = ctx.binds(&distro.name, &io, Phase::Suite)?;
    // What a suite container of this distro gets: the matrix's and the distro's variables.
    let mut env = ctx.matrix.environment_of(distro);
    let mut workdir = ctx.matrix.workspace.target.clone();
    if let Some(s) = suite {
        // Exactly what the runner gives the suite's steps (the suite's own values win).
        let spec = specs::suite(&ctx.matrix, distro, s, 1);
        env.extend(spec.environment);
        env.entry("ENGINE_SUITE".into())
            .or_insert_with(|| s.name.clone());
        workdir = spec.workdir;
    }
    env.entry("ENGINE_DISTRO".into())
        .or_insert_with(|| distro.name.clone());
    if let Some(term) = std::env::var_os("TERM") {
        env.entry("TERM".into())
            .or_insert_with(|| term.to_string_lossy().into_owned());
    }
    // The same host variables and the same privileges and limits as the suite would get.
    let mut names = ctx.matrix.pass_env.clone();
    names.extend(suite.iter().flat_map(|s| s.pass_env.iter().cloned()));
    env.extend(super::context::passed_env(&names).0);
    let mut spec = ContainerSpec {
        image,
        cmd: vec!["sh".into(), "-c".into(), SHELL.into()],
        entrypoint: Some(vec![]),
        env,
        workdir: Some(workdir),
        binds,
        labels: ctx.labels(node),
        name: Some(ctx.container_name(node)),
        init: true,
        // A TTY only for a person at a terminal; piped input gets plain streams.
        tty: std::io::stdin().is_terminal(),
        ..Default::default()
    };
    let limits = distro
        .container
        .with(suite.and_then(|s| s.container.as_ref()));
    super::context::apply_limits(&mut spec, &limits);
    Ok(spec)
}

/// Host stdin, read on a thread of its own (a blocking read cannot be cancelled); `None` is
/// the end of input.
fn read_stdin() -> tokio::sync::mpsc::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(None);
                    break;
                }
                Ok(n) => {
                    if tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    let _ = tx.blocking_send(None);
                    break;
                }
            }
        }
    });
    rx
}

fn write_out(stream: LogStream, bytes: &[u8]) {
    let _ = match stream {
        LogStream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|_| out.flush())
        }
        LogStream::Stderr => std::io::stderr().lock().write_all(bytes),
    };
}

/// Attach, start, and pass bytes both ways until the shell exits; its exit code.
async fn session(docker: DockerClient, id: String) -> Result<i32, DockerError> {
    let attached = docker.attach_stdio(&id).await?;
    let mut output = attached.output;
    let mut input = attached.input;
    // Raw mode from here until this function returns (the guard restores it).
    let raw = match RawMode::enable() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warning: cannot put the terminal in raw mode: {e}");
            None
        }
    };
    docker.start(&id).await?;
    if let Some((rows, cols)) = terminal::size() {
        let _ = docker.resize_tty(&id, rows, cols).await;
    }
    let mut stdin = read_stdin();
    let mut winch = signal(SignalKind::window_change()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }

    let mut wait = pin!(docker.wait(&id));
    let mut drain = pin!(tokio::time::sleep(Duration::MAX));
    let mut exit_code: Option<i64> = None;
    let mut output_done = false;
    let mut stdin_done = false;
    let mut stopped = false;
    while exit_code.is_none() || !output_done {
        tokio::select! {
            chunk = output.next(), if !output_done => match chunk {
                Some(Ok((stream, bytes))) => write_out(stream, &bytes),
                Some(Err(_)) | None => output_done = true,
            },
            code = &mut wait, if exit_code.is_none() => {
                exit_code = Some(code?.exit_code);
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN);
            }
            data = stdin.recv(), if !stdin_done => match data {
                Some(Some(bytes)) => {
                    if input.write_all(&bytes).await.and(input.flush().await).is_err() {
                        stdin_done = true;
                    }
                }
                // End of input: the container's stdin closes too (stdin_once).
                Some(None) | None => {
                    let _ = input.shutdown().await;
                    stdin_done = true;
                }
            },
            () = next(&mut winch) => {
                if let Some((rows, cols)) = terminal::size() {
                    let _ = docker.resize_tty(&id, rows, cols).await;
                }
            }
            () = async { tokio::select! { () = next(&mut term) => {}, () = next(&mut hup) => {}, () = next(&mut int) => {} } }, if !stopped => {
                // Without a terminal in raw mode, Ctrl-C reaches us rather than the shell.
                stopped = true;
                let _ = docker.kill(&id, None).await;
            }
            () = &mut drain, if exit_code.is_some() && !output_done => output_done = true,
        }
    }
    drop(raw);
    if stopped {
        return Ok(exit::INTERRUPTED);
    }
    Ok(exit_code.map_or(exit::INFRA, |c| i32::try_from(c).unwrap_or(exit::INFRA)))
}
