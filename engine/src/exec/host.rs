//! What the engine runs on the host rather than in a container: rootfs scripts, and spread's
//! `$(HOST: ...)` values. Each is a grant (listed by `engine validate`, printed by `engine run`,
//! refused by `--no-host-exec`), and each runs bounded: a clean environment (no `pass_env`
//! secret reaches it unless named for it), a known working folder, a time limit, and its own
//! process group, killed whole at the limit and when the run is dropped (Ctrl-C).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::spec::host_grants::host_expressions;

/// The variables every host command gets from the engine's environment, when set: what finding
/// programs, a home, a language, a temporary folder and the network need. Nothing else.
pub const BASE_VARIABLES: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
];

/// Used when the engine itself has no PATH.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a `$(HOST: ...)` command may take.
pub const VALUE_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment of a host command: the base variables, the ones named for it, and `extra`.
pub fn environment(named: &[String], extra: &[(&str, &Path)]) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = BASE_VARIABLES
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
        .filter_map(|n| Some((n.to_string(), std::env::var(n).ok()?)))
        .collect();
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string_lossy().into_owned());
    }
    env
}

/// What a run may run on the host, and the `$(HOST: ...)` values it evaluated.
#[derive(Debug, Clone, Default)]
pub struct HostExec {
    /// `--no-host-exec` (or `ENGINE_NO_HOST_EXEC`): nothing runs on the host.
    pub refused: bool,
    /// `$(HOST: ...)` command -> its value, or why there is none; once per run.
    pub values: BTreeMap<String, Result<String, String>>,
}

/// The flag and variable that refuse host execution, for messages.
pub const REFUSED_BY: &str = "--no-host-exec (ENGINE_NO_HOST_EXEC)";

impl HostExec {
    /// Evaluate every `$(HOST: ...)` of the given environments once (or record the refusal).
    pub async fn evaluate<'a>(
        refused: bool,
        environments: impl Iterator<Item = &'a BTreeMap<String, String>>,
        workdir: &Path,
    ) -> HostExec {
        let mut values = BTreeMap::new();
        for env in environments {
            for v in env.values() {
                for (_, command) in host_expressions(v) {
                    if values.contains_key(command) {
                        continue;
                    }
                    let value = if refused {
                        Err(format!(
                            "`{command}` would run on the host: refused by {REFUSED_BY}"
                        ))
                    } else {
                        value(command, workdir).await
                    };
                    values.insert(command.to_string(), value);
                }
            }
        }
        HostExec { refused, values }
    }

    /// `value` with its `$(HOST: ...)` parts replaced; the first that has no value says why.
    pub fn substitute(&self, value: &str) -> Result<String, String> {
        let mut out = value.to_string();
        for (whole, command) in host_expressions(value) {
            match self.values.get(command) {
                Some(Ok(v)) => out = out.replacen(whole, v, 1),
                Some(Err(why)) => return Err(why.clone()),
                None => return Err(format!("`{command}` was not evaluated")),
            }
        }
        Ok(out)
    }
}

/// One command to run on the host.
pub struct HostCommand<'a> {
    pub program: &'a Path,
    pub args: &'a [String],
    pub workdir: &'a Path,
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
}

/// How a host command ended.
#[derive(Debug)]
pub enum HostEnd {
    Exited(ExitStatus),
    /// Past its time limit: its process group was killed.
    TimedOut,
    /// It could not be started.
    NotStarted(std::io::Error),
}

/// Kills a process group when dropped: the command's children (debootstrap's, say) go with it
/// whether the command ends, times out, or the run is cancelled and its future dropped.
struct GroupGuard(Option<rustix::process::Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Run `cmd`, each line of its stdout and stderr to `on_line` as it comes (`true`: stderr).
pub async fn run(cmd: HostCommand<'_>, mut on_line: impl FnMut(&str, bool)) -> HostEnd {
    let child = tokio::process::Command::new(cmd.program)
        .args(cmd.args)
        .current_dir(cmd.workdir)
        .env_clear()
        .envs(&cmd.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return HostEnd::NotStarted(e),
    };
    let _group = GroupGuard(
        child
            .id()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32)),
    );
    let mut out = child.stdout.take().map(|o| BufReader::new(o).lines());
    let mut err = child.stderr.take().map(|e| BufReader::new(e).lines());
    let deadline = tokio::time::Instant::now() + cmd.timeout;
    let work = async {
        while out.is_some() || err.is_some() {
            tokio::select! {
                l = async { out.as_mut().map(|o| o.next_line()).expect("guarded").await }, if out.is_some() => match l {
                    Ok(Some(l)) => on_line(&l, false),
                    _ => out = None,
                },
                l = async { err.as_mut().map(|e| e.next_line()).expect("guarded").await }, if err.is_some() => match l {
                    Ok(Some(l)) => on_line(&l, true),
                    _ => err = None,
                },
            }
        }
        child.wait().await
    };
    match tokio::time::timeout_at(deadline, work).await {
        // Exited: whatever it left running in its group goes too (the guard).
        Ok(Ok(status)) => HostEnd::Exited(status),
        Ok(Err(e)) => HostEnd::NotStarted(e),
        // The guard kills the group as this returns.
        Err(_) => HostEnd::TimedOut,
    }
}

/// Evaluate one `$(HOST: ...)` command with `sh -c` in `workdir`: its stdout without the last
/// newline, as spread takes it; an error says why (its stderr's last line, a timeout).
pub async fn value(command: &str, workdir: &Path) -> Result<String, String> {
    let args = vec!["-c".to_string(), command.to_string()];
    let mut stdout = Vec::new();
    let mut last_err = String::new();
    let end = run(
        HostCommand {
            program: Path::new("/bin/sh"),
            args: &args,
            workdir,
            env: environment(&[], &[]),
            timeout: VALUE_TIMEOUT,
        },
        |line, is_err| {
            if is_err {
                last_err = line.to_string();
            } else {
                stdout.push(line.to_string());
            }
        },
    )
    .await;
    match end {
        HostEnd::Exited(s) if s.success() => Ok(stdout.join("\n")),
        HostEnd::Exited(s) => Err(format!(
            "`{command}` failed ({s}){}",
            if last_err.is_empty() {
                String::new()
            } else {
                format!(": {last_err}")
            }
        )),
        HostEnd::TimedOut => Err(format!(
            "`{command}` ran past {}s and was stopped",
            VALUE_TIMEOUT.as_secs()
        )),
        HostEnd::NotStarted(e) => Err(format!("`{command}` could not start: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_is_the_documented_few_and_the_named() {
        // cargo gives every test process CARGO_MANIFEST_DIR: a variable of the engine's
        // environment that no host command gets unless named for it.
        let name = "CARGO_MANIFEST_DIR";
        let Ok(value) = std::env::var(name) else {
            panic!("{name} is set by cargo for tests");
        };
        let env = environment(&[], &[("OUT", Path::new("/o"))]);
        assert!(!env.contains_key(name));
        assert_eq!(env["OUT"], "/o");
        assert!(env.contains_key("PATH"));
        let env = environment(&[name.to_string()], &[]);
        assert_eq!(env[name], value);
    }

    #[tokio::test]
    async fn a_value_is_stdout_and_a_failure_says_why() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            value("echo one; echo two", dir.path()).await.unwrap(),
            "one\ntwo"
        );
        let e = value("echo nope >&2; exit 3", dir.path())
            .await
            .unwrap_err();
        assert!(e.contains("nope"), "{e}");
    }

    #[tokio::test]
    async fn a_command_past_its_limit_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let args = vec!["-c".to_string(), script];
        let end = run(
            HostCommand {
                program: Path::new("/bin/sh"),
                args: &args,
                workdir: dir.path(),
                env: environment(&[], &[]),
                timeout: Duration::from_millis(500),
            },
            |_, _| {},
        )
        .await;
        assert!(matches!(end, HostEnd::TimedOut), "{end:?}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The background child of the killed shell is gone too (reaped by init, or a zombie).
        std::thread::sleep(Duration::from_millis(200));
        let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            status.is_empty() || status.contains(" Z "),
            "child {pid} still runs: {status}"
        );
    }
}
