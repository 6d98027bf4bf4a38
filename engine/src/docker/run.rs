//! Run one container to completion: live output, timeout, cancellation, and removal of the
//! container afterwards whatever happened.

use std::pin::pin;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::container::{ContainerSpec, ExitInfo, LogLine};
use super::{DockerClient, DockerError};

/// After the container exited, how long to wait for the rest of its output.
const LOG_DRAIN: Duration = Duration::from_secs(10);

/// How long an unexplained SIGKILL waits for a late `oom` event from the daemon.
const OOM_EVENT_GRACE: Duration = Duration::from_secs(1);

/// Exit code of a process killed by SIGKILL (128 + 9).
const SIGKILL_EXIT: i64 = 137;
/// 128 + SIGTERM: what a container stopped by `docker stop` (its init forwarding the signal)
/// exits with. The runner's own exit codes are below 5.
const SIGTERM_EXIT: i64 = 143;

/// How a [`DockerClient::run_to_completion`] call is bounded.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Kill the container when it runs longer than this.
    pub timeout: Option<Duration>,
    /// Kill the container when this is cancelled (Ctrl-C, fail-fast).
    pub cancel: CancellationToken,
    /// Leave the container in place for debugging instead of removing it.
    pub keep: bool,
}

/// Why the container stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited by itself (any exit code).
    Exited,
    /// We killed it because the timeout expired.
    TimedOut,
    /// We killed it because the cancellation token fired (or never started it).
    Cancelled,
    /// The kernel's OOM killer struck inside it.
    OomKilled,
    /// It died of SIGKILL that we did not send (`docker kill`, a reboot of the daemon, ...).
    KilledExternally,
    /// It was stopped with SIGTERM that we did not send (`docker stop`, a daemon shutdown).
    StoppedExternally,
}

/// The result of [`DockerClient::run_to_completion`].
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// `None` when the run was cancelled before the container was created.
    pub container_id: Option<String>,
    /// `None` only when the run was cancelled before the container started.
    pub exit: Option<ExitInfo>,
    pub ending: Ending,
    /// From start to exit.
    pub duration: Duration,
    /// The container was left in place (`RunOptions::keep`).
    pub kept: bool,
    /// The output stream broke off early (the exit status is still right).
    pub log_error: Option<String>,
}

impl RunOutcome {
    pub fn timed_out(&self) -> bool {
        self.ending == Ending::TimedOut
    }

    pub fn cancelled(&self) -> bool {
        self.ending == Ending::Cancelled
    }

    /// Exited by itself with code 0.
    pub fn succeeded(&self) -> bool {
        self.ending == Ending::Exited && self.exit.is_some_and(|e| e.exit_code == 0)
    }
}

/// Removes the container if the run future is dropped half-way (e.g. the caller's own
/// `select!` or a panic), so that not even an abandoned run leaves a container behind.
struct RemoveOnDrop {
    client: DockerClient,
    container: Option<String>,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            runtime.spawn(async move {
                // Best effort: `remove_by_labels` at exit catches what this misses.
                let _ = client.remove(&container, true).await;
            });
        }
    }
}

impl DockerClient {
    /// Creates and starts a container from `spec`, feeds every output line to `on_line` while
    /// it runs, and waits for it to end, killing it on timeout or cancellation. The container
    /// is always removed afterwards (on success, error, timeout and cancellation) unless
    /// `options.keep` is set.
    pub async fn run_to_completion(
        &self,
        spec: &ContainerSpec,
        options: RunOptions,
        on_line: impl FnMut(LogLine),
    ) -> Result<RunOutcome, DockerError> {
        if options.cancel.is_cancelled() {
            return Ok(RunOutcome {
                container_id: None,
                exit: None,
                ending: Ending::Cancelled,
                duration: Duration::ZERO,
                kept: false,
                log_error: None,
            });
        }
        let id = self.create(spec).await?;
        let mut guard = RemoveOnDrop {
            client: self.clone(),
            container: (!options.keep).then(|| id.clone()),
        };
        let result = self.supervise(&id, &options, on_line).await;
        if options.keep {
            return result;
        }
        let removed = self.remove(&id, true).await;
        // Disarmed only now: if this future is dropped mid-removal, the guard still removes.
        guard.container = None;
        match (result, removed) {
            (Ok(outcome), Ok(_)) => Ok(outcome),
            (Ok(_), Err(e)) => Err(e),
            // The run's own error says more than a failed cleanup after it.
            (Err(e), _) => Err(e),
        }
    }

    async fn supervise(
        &self,
        id: &str,
        options: &RunOptions,
        mut on_line: impl FnMut(LogLine),
    ) -> Result<RunOutcome, DockerError> {
        // Attached before start, so no line is missed however fast the container is.
        let mut logs = pin!(self.attach_output(id).await?);
        let started = Instant::now();
        let started_wall = std::time::SystemTime::now();
        self.start(id).await?;

        let mut wait = pin!(self.wait(id));
        let mut deadline = pin!(async {
            match options.timeout {
                Some(timeout) => tokio::time::sleep(timeout).await,
                None => std::future::pending().await,
            }
        });
        let mut drain = pin!(tokio::time::sleep(Duration::MAX));

        let mut exit: Option<ExitInfo> = None;
        let mut duration = Duration::ZERO;
        let mut logs_done = false;
        let mut log_error = None;
        let mut we_killed: Option<Ending> = None;
        // A finished future must not be polled again, and the kill may find the container
        // already gone (it exited just then): remember that the deadline passed.
        let mut deadline_passed = false;
        let mut cancel_seen = false;

        while exit.is_none() || !logs_done {
            tokio::select! {
                line = logs.next(), if !logs_done => match line {
                    Some(Ok(line)) => on_line(line),
                    Some(Err(e @ DockerError::Unreachable { .. })) => return Err(e),
                    Some(Err(e)) => {
                        log_error = Some(e.to_string());
                        logs_done = true;
                    }
                    None => logs_done = true,
                },
                result = &mut wait, if exit.is_none() => {
                    exit = Some(result?);
                    duration = started.elapsed();
                    drain.as_mut().reset(tokio::time::Instant::now() + LOG_DRAIN);
                }
                () = &mut deadline, if exit.is_none() && we_killed.is_none() && !deadline_passed => {
                    deadline_passed = true;
                    if self.kill(id, None).await? {
                        we_killed = Some(Ending::TimedOut);
                    }
                }
                () = options.cancel.cancelled(), if exit.is_none() && we_killed.is_none() && !cancel_seen => {
                    cancel_seen = true;
                    if self.kill(id, None).await? {
                        we_killed = Some(Ending::Cancelled);
                    }
                }
                () = &mut drain, if exit.is_some() && !logs_done => {
                    log_error = Some(format!(
                        "the output did not end within {}s after the container exited",
                        LOG_DRAIN.as_secs()
                    ));
                    logs_done = true;
                }
            }
        }

        let mut exit = exit.unwrap_or(ExitInfo {
            exit_code: -1,
            oom_killed: false,
        });
        // An unexplained SIGKILL: ask the daemon's event log before calling it external.
        if we_killed.is_none()
            && !exit.oom_killed
            && exit.exit_code == SIGKILL_EXIT
            && self
                .oom_event_since(id, started_wall, OOM_EVENT_GRACE)
                .await
        {
            exit.oom_killed = true;
        }
        let ending = match we_killed {
            Some(ending) => ending,
            None if exit.oom_killed => Ending::OomKilled,
            None if exit.exit_code == SIGKILL_EXIT => Ending::KilledExternally,
            None if exit.exit_code == SIGTERM_EXIT => Ending::StoppedExternally,
            None => Ending::Exited,
        };
        Ok(RunOutcome {
            container_id: Some(id.to_string()),
            exit: Some(exit),
            ending,
            duration,
            kept: options.keep,
            log_error,
        })
    }
}
