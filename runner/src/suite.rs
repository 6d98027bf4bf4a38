//! `runner suite`: prepare, execute, restore of one suite.
//!
//! The timeout covers prepare + execute; when it expires the process group is killed and the
//! suite is reported as timed out, not as a failure of the code under test. Restore always runs
//! (after a failure or a timeout too), with a limit of its own.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::artifacts::Copied;
use crate::protocol::{Event, EventWriter, FinishStatus, Stream};
use crate::spec::SuiteSpec;
use crate::step::{self, Step, StepResult};
use crate::system::System;
use crate::users;

/// How long restore may take.
pub const RESTORE_LIMIT: Duration = Duration::from_secs(60);

/// Run the suite; returns the status (the caller maps it to the exit code).
pub fn run(spec: &SuiteSpec, sys: &System, events: &mut EventWriter) -> FinishStatus {
    let start = Instant::now();
    let user = match &spec.user {
        Some(name) => match users::lookup(sys, name) {
            Some(u) => Some(u),
            None => {
                events.emit(Event::InfraError {
                    code: "unknown-user".into(),
                    message: format!("suite user `{name}` does not exist in the image"),
                    remedy: Some(format!("add \"{name}\" to [provision] users")),
                    scope: None,
                });
                return finish(events, FinishStatus::Infra, start);
            }
        },
        None => None,
    };
    if let Some(u) = &user {
        if let Err(status) = cache_folders(spec, u, events, start) {
            return status;
        }
    }
    let deadline = start + Duration::from_secs(spec.timeout_secs);
    let mut env = spec.environment.clone();
    env.entry("ENGINE_SUITE".into())
        .or_insert_with(|| spec.name.clone());
    env.entry("ENGINE_DISTRO".into())
        .or_insert_with(|| spec.distro.clone());
    if spec.spread_helpers {
        match spread_helpers() {
            Ok(path) => {
                env.insert("BASH_ENV".into(), path);
            }
            Err(e) => {
                events.emit(Event::InfraError {
                    code: "spread-helpers".into(),
                    message: format!("cannot write spread's helper functions: {e}"),
                    remedy: None,
                    scope: None,
                });
                return finish(events, FinishStatus::Infra, start);
            }
        }
    }
    let warn_at = spec.warn_after_secs.map(|s| start + Duration::from_secs(s));
    let prelude = exports(&spec.exports);
    let make = |name: &'static str, text: &str, timeout: Duration| Step {
        name,
        argv: step::script(&with_prelude(name, &prelude, text)),
        workdir: Some(spec.workdir.as_str()),
        env: env.clone(),
        user: user.as_ref(),
        timeout: Some(timeout),
        // Prepare and execute only: the time the warn-timeout is about.
        warn_at: warn_at.filter(|_| name == "prepare" || name == "execute"),
    };
    let remaining = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };

    // Skip conditions, before anything changes the container.
    for (i, rule) in spec.skip.iter().enumerate() {
        let name = if spec.skip.len() == 1 {
            "skip-if".to_string()
        } else {
            format!("skip-if-{}", i + 1)
        };
        let mut step = make("skip-if", &rule.condition, remaining().min(RESTORE_LIMIT));
        step.name = &name;
        let r = step::run(&step, events);
        if r.exit_code == Some(0) {
            events.emit(Event::Skipped {
                reason: rule.reason.clone(),
            });
            return finish(events, FinishStatus::Skipped, start);
        }
    }

    let mut failed = false;
    let mut timed_out = false;
    let mut skipped: Option<String> = None;
    let verdict = |r: &StepResult, failed: &mut bool, timed_out: &mut bool| {
        if r.timed_out {
            *timed_out = true;
        } else if !r.ok() {
            *failed = true;
        }
    };
    let skip_exit = |r: &StepResult, events: &EventWriter| -> Option<String> {
        (spec.skip_exit && r.exit_code == Some(crate::protocol::SKIP_EXIT))
            .then(|| events.last_line().unwrap_or_else(|| "exit 77".into()))
    };
    if let Some(p) = &spec.prepare {
        let r = step::run(&make("prepare", p, remaining()), events);
        skipped = skip_exit(&r, events);
        if skipped.is_none() {
            verdict(&r, &mut failed, &mut timed_out);
        }
    }
    if !failed && !timed_out && skipped.is_none() {
        let r = step::run(&make("execute", &spec.execute, remaining()), events);
        skipped = skip_exit(&r, events);
        if skipped.is_none() {
            verdict(&r, &mut failed, &mut timed_out);
        }
    }
    // spread's debug: after a failure (not a timeout: the deadline is spent), in the same
    // container, before restore undoes what it would look at.
    if let (true, false, Some(d)) = (failed, timed_out, &spec.debug) {
        let _ = step::run(&make("debug", d, RESTORE_LIMIT), events);
    }
    if let Some(into) = &spec.artifacts_to {
        copy_artifacts(spec, Path::new(into), events);
    }
    if let Some(r) = &spec.restore {
        let res = step::run(&make("restore", r, RESTORE_LIMIT), events);
        // A restore that fails leaves the system dirty: the suite fails (unless it timed out).
        if !res.ok() && !timed_out {
            failed = true;
        }
    }
    if let (Some(reason), false) = (&skipped, failed) {
        events.emit(Event::Skipped {
            reason: reason.clone(),
        });
        return finish(events, FinishStatus::Skipped, start);
    }
    let status = if timed_out {
        FinishStatus::TimedOut
    } else if failed {
        FinishStatus::Failed
    } else {
        FinishStatus::Ok
    };
    finish(events, status, start)
}

/// The cache folders must be writable by the suite's user: given to it when root's, else an
/// infrastructure error before anything runs (not a "Permission denied" deep in the script).
fn cache_folders(
    spec: &SuiteSpec,
    user: &users::User,
    events: &mut EventWriter,
    start: Instant,
) -> Result<(), FinishStatus> {
    use crate::cache_access::{ensure, Access};
    for target in &spec.cache_mounts {
        match ensure(Path::new(target), user) {
            Access::Writable => {}
            Access::GivenTo => step::say(
                events,
                "prepare",
                Stream::Stdout,
                &format!(
                    "[runner] cache folder {target} was root's: given to {}",
                    user.name
                ),
            ),
            Access::Denied(why) => {
                events.emit(Event::InfraError {
                    code: "cache-access".into(),
                    message: why,
                    remedy: Some(
                        "make the folder writable by the suite's user on the host, or run the suite as root"
                            .into(),
                    ),
                    scope: None,
                });
                return Err(finish(events, FinishStatus::Infra, start));
            }
        }
    }
    Ok(())
}

/// Copy the suite's artifacts out; each one's fate is a line of the suite's output (a missing
/// artifact is said, not a failure).
fn copy_artifacts(spec: &SuiteSpec, into: &Path, events: &mut EventWriter) {
    for path in &spec.artifacts {
        let (stream, said) = match crate::artifacts::copy(Path::new(&spec.workdir), path, into) {
            Ok(Copied::Files(n)) => (Stream::Stdout, format!("copied ({n} files)")),
            Ok(Copied::Missing) => (Stream::Stderr, "not found, nothing copied".to_string()),
            Ok(Copied::Refused) => (
                Stream::Stderr,
                "refused: `..` leaves the suite's folder".to_string(),
            ),
            Err(e) => (Stream::Stderr, format!("cannot copy: {e}")),
        };
        step::say(
            events,
            "artifacts",
            stream,
            &format!("[runner] artifact {path}: {said}"),
        );
    }
}

fn finish(events: &mut EventWriter, status: FinishStatus, start: Instant) -> FinishStatus {
    events.emit(Event::Finished {
        status,
        duration_ms: start.elapsed().as_millis() as u64,
    });
    status
}

/// `export K="V"` lines, in order, as spread writes a task's environment in front of each
/// script: the shell expands each value, so it may use `$SPREAD_PATH` or an earlier variable.
/// In the script itself (not `BASH_ENV`), so that a nested bash keeps what the script changed.
fn exports(vars: &[(String, String)]) -> String {
    vars.iter()
        .map(|(k, v)| format!("export {k}=\"{v}\"\n"))
        .collect()
}

/// The script with the exports in front, and (in bash, for the steps whose failure is a
/// verdict) a trap that names the command that failed and its line in the task's script:
/// `[runner] line 7: `grep -q x out` exited with 1`. Not for skip conditions, whose "failure"
/// is the answer "do not skip".
fn with_prelude(step: &str, exports: &str, text: &str) -> String {
    if step.starts_with("skip-if") || !step::has_bash() {
        return format!("{exports}{text}");
    }
    // LINENO counts the prelude's lines too: the trap and each export.
    let before = 1 + exports.matches('\n').count();
    let trap = format!(
        "trap '__engine_rc=$?; if [[ $- == *e* ]]; then printf \"[runner] line %s: \\`%s\\` exited with %s\\n\" \"$((LINENO - {before}))\" \"$BASH_COMMAND\" \"$__engine_rc\" >&2; fi' ERR\n"
    );
    format!("{trap}{exports}{text}")
}

/// spread's helpers, defined for every bash the steps start (`BASH_ENV` names this file).
const SPREAD_HELPERS: &str = r#"# spread's helper commands, as the engine's runner defines them.
MATCH() {
    local input
    input="$(cat)"
    if ! printf '%s\n' "$input" | grep -q -E -- "$@"; then
        printf 'error: pattern not found, got:\n%s\n' "$input" >&2
        return 1
    fi
}
NOMATCH() {
    local input
    input="$(cat)"
    if printf '%s\n' "$input" | grep -q -E -- "$@"; then
        printf 'error: pattern found, got:\n%s\n' "$input" >&2
        return 1
    fi
}
REBOOT() {
    echo "REBOOT: a container cannot reboot (spread's REBOOT needs a machine backend)" >&2
    return 1
}
export -f MATCH NOMATCH REBOOT
"#;

/// Write the helpers where every step's user can read them; returns the path.
fn spread_helpers() -> std::io::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join("engine-spread-helpers.sh");
    std::fs::write(&path, SPREAD_HELPERS)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    Ok(path.to_string_lossy().into_owned())
}
