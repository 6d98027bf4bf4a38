//! Running one shell step: output streamed live to our stdout/stderr and carried as `output`
//! events, a deadline that kills the whole process group, an optional unprivileged user.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::protocol::{Event, EventWriter, Stream};

/// A single output line longer than this is cut into pieces: a binary blob without newlines
/// cannot grow memory without bound.
pub const MAX_LINE: usize = 16 * 1024;

/// What a step ran as.
#[derive(Debug, Clone, Default)]
pub struct Step<'a> {
    pub name: &'a str,
    /// Program and arguments; `script()` builds the usual `bash -eu -c`.
    pub argv: Vec<String>,
    pub workdir: Option<&'a str>,
    pub env: BTreeMap<String, String>,
    pub user: Option<&'a crate::users::User>,
    /// None: no limit.
    pub timeout: Option<Duration>,
    /// When to say once that the step runs late (spread's `warn-timeout`); not a limit.
    pub warn_at: Option<Instant>,
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration: Duration,
    /// The step could not start at all (missing shell, bad workdir).
    pub spawn_error: Option<String>,
}

impl StepResult {
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// `bash -eu -c SCRIPT` (spread's semantics), or `sh -eu -c` where bash is absent.
pub fn script(text: &str) -> Vec<String> {
    let shell = bash().unwrap_or("/bin/sh");
    vec![
        shell.to_string(),
        "-eu".into(),
        "-c".into(),
        text.to_string(),
    ]
}

fn bash() -> Option<&'static str> {
    ["/bin/bash", "/usr/bin/bash"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// Whether scripts run in bash (else in `sh`, where bash's traps and `[[` do not exist).
pub fn has_bash() -> bool {
    bash().is_some()
}

/// Values to mask (`***`) in everything the runner writes: from `ENGINE_MASK` (a JSON list),
/// which the engine sets for `pass_env` secrets.
pub fn secrets() -> &'static [String] {
    static SECRETS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SECRETS.get_or_init(|| {
        std::env::var("ENGINE_MASK")
            .ok()
            .and_then(|j| serde_json::from_str::<Vec<String>>(&j).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect()
    })
}

fn mask(text: &str) -> String {
    let mut out = text.to_string();
    for s in secrets() {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// Lines of the step's one output pipe to `tx`; the channel closes at the pipe's end.
fn pump(mut r: impl Read, tx: mpsc::SyncSender<Vec<u8>>) {
    let mut reader = BufReader::new(&mut r);
    loop {
        let mut buf = Vec::new();
        // read_until with a cap: take at most MAX_LINE bytes per line.
        let n = match (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
        {
            Ok(n) => n,
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        if tx.send(buf).is_err() {
            break;
        }
    }
}

/// Run a step to its end. Emits `step_started`, `output`, `step_finished`.
pub fn run(step: &Step<'_>, events: &mut EventWriter) -> StepResult {
    events.emit(Event::StepStarted {
        step: step.name.to_string(),
    });
    // Marks in the container's output (the events say it with step_started/step_finished),
    // so that a log shows which phase wrote what and the engine takes a failure's tail from
    // the phase that failed.
    let _ = writeln!(std::io::stdout(), "{}", phase_start(step.name));
    let start = Instant::now();
    let oom_before = oom_kills();
    let result = run_inner(step, events, start);
    let oom = oom_before
        .zip(oom_kills())
        .map(|(before, after)| after.saturating_sub(before))
        .filter(|n| *n > 0);
    let _ = writeln!(std::io::stdout(), "{}", phase_end(step.name, &result, oom));
    events.emit(Event::StepFinished {
        step: step.name.to_string(),
        exit_code: result.exit_code,
        signal: result.signal,
        duration_ms: result.duration.as_millis() as u64,
        timed_out: result.timed_out,
        oom_kills: oom,
    });
    result
}

/// The OOM-kill counter of the container's memory cgroup: `memory.events` on cgroup v2,
/// `memory.oom_control` on v1 (kernel 4.13 and later); `None` where neither is readable.
fn oom_kills() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.events",
        "/sys/fs/cgroup/memory/memory.oom_control",
    ]
    .iter()
    .find_map(|file| oom_kill_count(&std::fs::read_to_string(file).ok()?))
}

/// The `oom_kill N` line of a cgroup memory file.
fn oom_kill_count(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
}

fn run_inner(step: &Step<'_>, events: &mut EventWriter, start: Instant) -> StepResult {
    let failed = |e: String| StepResult {
        exit_code: None,
        signal: None,
        timed_out: false,
        duration: start.elapsed(),
        spawn_error: Some(e),
    };
    let Some((prog, args)) = step.argv.split_first() else {
        return failed("empty command".into());
    };
    // One pipe for stdout and stderr: lines are passed on in the order the step wrote them
    // (with two pipes, which of two writes came first cannot be known: `echo A; echo B >&2`
    // was logged as B, A). What is lost is which stream a line was on.
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return failed(format!("cannot make a pipe: {e}")),
    };
    let writer_too = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return failed(format!("cannot make a pipe: {e}")),
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .env_remove("ENGINE_MASK")
        .envs(&step.env)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_too)
        // Its own process group, so that a timeout kills everything it started.
        .process_group(0);
    if let Some(w) = step.workdir {
        cmd.current_dir(w);
    }
    if let Some(u) = step.user {
        u.apply(&mut cmd);
    }
    let spawned = cmd.spawn();
    // Our copies of the pipe's write end: closed, so that the end of the step's output is seen.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("cannot start {prog}: {e}");
            say(events, step.name, Stream::Stderr, &msg);
            return failed(msg);
        }
    };
    let pgid = child.id() as i32;
    // Bounded: a suite that writes faster than its output can be passed on waits on its pipe
    // instead of filling the runner's memory.
    let (tx, rx) = mpsc::sync_channel(256);
    let pumping = std::thread::spawn(move || pump(reader, tx));
    let deadline = step.timeout.map(|t| start + t);
    let mut timed_out = false;
    let mut term_sent: Option<Instant> = None;
    let mut status = None;
    let mut ended = false;
    let mut stdout = std::io::stdout();
    let mut drain_until: Option<Instant> = None;
    let mut warned = false;
    loop {
        if let (false, None, Some(at)) = (warned, status, step.warn_at) {
            if Instant::now() >= at {
                warned = true;
                say(
                    events,
                    step.name,
                    Stream::Stderr,
                    "[runner] running late: past the warn-timeout, still running",
                );
            }
        }
        if status.is_none() {
            if let Ok(Some(s)) = child.try_wait() {
                status = Some(s);
                // The step is over: whatever it left in the background goes too, so that
                // nothing holds its output pipes open or outlives it.
                kill_group(pgid);
                drain_until = Some(Instant::now() + DRAIN_IDLE);
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                // As `docker stop` does: SIGTERM first, so that a suite's `trap ... TERM` can
                // clean up, then SIGKILL after the grace period.
                match term_sent {
                    None => {
                        timed_out = true;
                        signal_group(pgid, libc::SIGTERM);
                        term_sent = Some(Instant::now());
                    }
                    Some(at) if at.elapsed() >= GRACE => kill_group(pgid),
                    Some(_) => {}
                }
            }
        }
        if ended && status.is_some() {
            break;
        }
        if drain_until.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(bytes) => {
                // Output still flowing after the exit is read to its end: only silence ends
                // the wait (a daemon that escaped the group and holds the pipes open).
                if let Some(d) = drain_until.as_mut() {
                    *d = Instant::now() + DRAIN_IDLE;
                }
                // Raw bytes to the container's output, as the suite wrote them (masked when
                // there are secrets).
                let masked =
                    (!secrets().is_empty()).then(|| mask(&String::from_utf8_lossy(&bytes)));
                let raw: &[u8] = masked.as_deref().map_or(&bytes, str::as_bytes);
                // One stream out of the container too, so that Docker keeps the order.
                let _ = stdout.write_all(raw);
                let text = String::from_utf8_lossy(raw);
                let line = text.strip_suffix('\n').unwrap_or(&text);
                let line = line.strip_suffix('\r').unwrap_or(line);
                events.emit(Event::Output {
                    step: step.name.into(),
                    stream: Stream::Stdout,
                    line: line.to_string(),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => ended = true,
        }
    }
    let _ = stdout.flush();
    let status = match status {
        Some(s) => s,
        None => match child.wait() {
            Ok(s) => s,
            Err(e) => return failed(format!("wait: {e}")),
        },
    };
    // The reader ends when the pipe closes; a daemon that escaped the group may keep it open:
    // do not wait for it.
    if pumping.is_finished() {
        let _ = pumping.join();
    }
    StepResult {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        duration: start.elapsed(),
        spawn_error: None,
    }
}

/// After a step's process ended, how long its pipes may stay silent before the rest is given up.
const DRAIN_IDLE: Duration = Duration::from_secs(2);

/// Between SIGTERM and SIGKILL at a timeout, as `docker stop` waits.
pub const GRACE: Duration = Duration::from_secs(10);

fn kill_group(pgid: i32) {
    signal_group(pgid, libc::SIGKILL);
}

fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group; no memory is involved.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// A line of the runner's own in a step's output: in the events and in the container's output
/// (which the engine's log is made of), like a line the step wrote.
/// `[runner] == execute ==`: the first line of a step's output.
fn phase_start(step: &str) -> String {
    format!("{}{step} ==", runner_protocol::protocol::PHASE_MARK)
}

/// `[runner] == execute: exit 1 ==`: the last.
fn phase_end(step: &str, r: &StepResult, oom_kills: Option<u64>) -> String {
    let mut how = match (r.timed_out, r.exit_code, r.signal, &r.spawn_error) {
        (true, ..) => "timed out".to_string(),
        (_, Some(c), ..) => format!("exit {c}"),
        (_, None, Some(sig), _) => format!("killed by signal {sig}"),
        (_, None, None, Some(_)) => "not started".to_string(),
        _ => "ended".to_string(),
    };
    if let Some(n) = oom_kills {
        how.push_str(&format!(", {n} killed for memory"));
    }
    format!("{}{step}: {how} ==", runner_protocol::protocol::PHASE_MARK)
}

pub fn say(events: &mut EventWriter, step: &str, stream: Stream, line: &str) {
    // On stdout whatever the stream: the container has one output stream, in order.
    let _ = writeln!(std::io::stdout(), "{line}");
    events.emit(Event::Output {
        step: step.into(),
        stream,
        line: line.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oom_kill_counter_is_read_from_either_cgroup_version() {
        // cgroup v1's memory.oom_control, v2's memory.events.
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 14\noom 3\noom_kill 3\noom_group_kill 0\n";
        assert_eq!(oom_kill_count(v1), Some(2));
        assert_eq!(oom_kill_count(v2), Some(3));
        assert_eq!(oom_kill_count("oom_kill_disable 0\n"), None);
    }
}
