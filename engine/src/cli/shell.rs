//! `engine shell DISTRO [SUITE]`: an interactive shell in a fresh container of the distro's
//! provisioned image, to reproduce a failure by hand.
//!
//! The image chain is prepared first with the run machinery (base, image, provision: cached
//! ones are reused). The container gets what a suite container gets: the workspace and the
//! cache mounts, the engine's labels, and, with a suite, its environment and working folder.
//! It is removed when the shell ends, whatever ends it; the shell's exit code is the command's.

use std::io::{IsTerminal, Read, Write};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{signal, SignalKind};

use super::selection::{load_matrix, narrow, report, SelectArgs};
use super::terminal::{self, RawMode};
use super::{exit, Cli};
use crate::docker::{ContainerSpec, DockerClient, DockerError, LogStream};
use crate::events::RunEvent;
use crate::exec::context::RunCtx;
use crate::exec::run::{execute, RunRequest};
use crate::exec::specs;
use crate::plan::Plan;
use crate::report::live::{self, Verbosity};
use crate::spec::matrix::Phase;
use crate::spec::suggest::did_you_mean;

/// Picks the best shell the image has: a login bash, else sh.
const SHELL: &str = "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi";

/// After the shell exited, how long to wait for the rest of its output.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// The distro whose provisioned image to enter.
    pub distro: String,
    /// A suite whose environment variables and working folder the shell gets.
    pub suite: Option<String>,
    /// Image builds at once, if images must be built first.
    #[arg(long, value_name = "N")]
    pub build_jobs: Option<usize>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ShellError {
    #[error("no distro `{name}` in the matrix")]
    #[diagnostic(code(engine::shell::unknown_distro), help("{hint}"))]
    UnknownDistro { name: String, hint: String },
    #[error("no suite `{name}` in the matrix")]
    #[diagnostic(code(engine::shell::unknown_suite), help("{hint}"))]
    UnknownSuite { name: String, hint: String },
    #[error("suite `{suite}` does not apply to {distro}: {reason}")]
    #[diagnostic(
        code(engine::shell::not_applicable),
        help("pick a distro the suite runs on, or leave the suite out")
    )]
    NotApplicable {
        suite: String,
        distro: String,
        reason: String,
    },
    #[error("cannot prepare the shell container: {0}")]
    #[diagnostic(code(engine::shell::io))]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),
}

fn hint(name: &str, known: impl Iterator<Item = String>) -> String {
    let known: Vec<String> = known.collect();
    match did_you_mean(name, known.iter().map(String::as_str)) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("known: {}", known.join(", ")),
    }
}

pub fn run(cli: &Cli, args: &ShellArgs) -> i32 {
    let color = cli.color.stderr();
    let (mut loaded, matrix) = match load_matrix(cli) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let Some(distro) = matrix.distros.get(&args.distro).cloned() else {
        let hint = hint(&args.distro, matrix.distros.keys().cloned());
        report(
            ShellError::UnknownDistro {
                name: args.distro.clone(),
                hint,
            },
            color,
        );
        return exit::INVALID;
    };
    let keys = crate::plan::hash::cache_keys(&matrix);
    let full = Plan::build(&matrix, Some(&keys));
    let suite = match &args.suite {
        None => None,
        Some(name) => {
            let Some(s) = matrix.suites.get(name) else {
                let hint = hint(name, matrix.suites.keys().cloned());
                report(
                    ShellError::UnknownSuite {
                        name: name.clone(),
                        hint,
                    },
                    color,
                );
                return exit::INVALID;
            };
            if let Some(skip) = full
                .skipped
                .iter()
                .find(|k| &k.suite == name && k.distro == distro.name)
            {
                let reason = skip.reason.clone();
                report(
                    ShellError::NotApplicable {
                        suite: name.clone(),
                        distro: distro.name.clone(),
                        reason,
                    },
                    color,
                );
                return exit::INVALID;
            }
            Some(s.clone())
        }
    };
    // The distro's image chain only, as `engine build DISTRO` would run it.
    let select = SelectArgs {
        patterns: vec![distro.name.clone()],
        distros: Vec::new(),
        suites: Vec::new(),
        exclude: Vec::new(),
        shard: None,
        timings: None,
    };
    let selected = match narrow(&full, &matrix, &select, color) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let plan = selected.images_only();
    let runner_bin = match super::run::runner_or_explain() {
        Ok(p) => p,
        Err(code) => return code,
    };
    let req = RunRequest {
        jobs: 2,
        build_jobs: args
            .build_jobs
            .unwrap_or(matrix.engine.build_concurrency as usize),
        fail_fast: true,
        keep_failed: false,
        state_dir: matrix.root.join(".engine"),
        runner_bin: runner_bin.clone(),
    };
    let runtime = match super::selection::runtime(true) {
        Ok(r) => r,
        Err(code) => return code,
    };
    loaded.matrix = None;
    let loaded = Arc::new(loaded);
    let matrix = Arc::new(matrix);
    let code = runtime.block_on(async move {
        let docker = match super::selection::connect(color).await {
            Ok(d) => d,
            Err(code) => return code,
        };
        eprintln!(
            "preparing {} (base, image, provision; reused when cached)",
            distro.name
        );
        let prepared = execute(
            docker.clone(),
            loaded.clone(),
            matrix.clone(),
            &plan,
            keys.clone(),
            &req,
            Arc::new(|e: &RunEvent<'_>| live::print(e, Verbosity::Quiet)),
        )
        .await;
        let code = prepared.exit_code();
        if code != exit::OK {
            eprintln!(
                "cannot open a shell: the image of {} could not be prepared (exit {code})",
                distro.name
            );
            return code;
        }
        let ctx = RunCtx::new(
            docker.clone(),
            matrix.clone(),
            loaded,
            prepared.run_id,
            prepared.run_dir,
            runner_bin,
            keys,
            false,
        );
        let node = match &suite {
            Some(s) => format!("shell:{}:{}", distro.name, s.name),
            None => format!("shell:{}", distro.name),
        };
        let spec = match container_spec(&ctx, &distro, suite.as_ref(), &node) {
            Ok(s) => s,
            Err(e) => {
                report(e, color);
                return exit::INFRA;
            }
        };
        let id = match docker.create_interactive(&spec).await {
            Ok(id) => id,
            Err(e) => {
                report(e, color);
                return exit::INFRA;
            }
        };
        // In its own task: even a panic in the session comes back here, to the removal.
        let session = tokio::spawn(session(docker.clone(), id.clone()));
        let result = session.await;
        let removed = docker.remove(&id, true).await;
        match (result, removed) {
            (Ok(Ok(code)), Ok(_)) => code,
            (Ok(Ok(_)), Err(e)) | (Ok(Err(e)), _) => {
                report(e, color);
                exit::INFRA
            }
            (Err(join), _) => {
                eprintln!("error: the shell session failed: {join}");
                exit::INFRA
            }
        }
    });
    // The stdin reader may still wait in a read(): do not wait for it.
    runtime.shutdown_background();
    code
}

/// The container: the provisioned image, the suite's mounts, labels, environment and folder.
fn container_spec(
    ctx: &RunCtx,
    distro: &crate::spec::matrix::Distro,
    suite: Option<&crate::spec::matrix::Suite>,
    node: &str,
) -> Result<ContainerSpec, ShellError> {
    let io = ctx.io_dir(node)?;
    let binds = ctx.binds(&distro.name, &io, Phase::Suite)?;
    let mut env = std::collections::BTreeMap::new();
    let mut workdir = ctx.matrix.workspace.target.clone();
    if let Some(s) = suite {
        // Exactly what the runner gives the suite's steps (the suite's own values win).
        let spec = specs::suite(&ctx.matrix, distro, s);
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
    env.extend(crate::exec::context::passed_env(&names).0);
    let mut spec = ContainerSpec {
        image: ctx.provisioned_ref(&distro.name),
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
    crate::exec::context::apply_limits(&mut spec, &limits);
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
