//! `runner suite`: prepare, execute, restore of one suite.
//!
//! The timeout covers prepare + execute; when it expires the process group is killed and the
//! suite is reported as timed out, not as a failure of the code under test. Restore always runs
//! (after a failure or a timeout too), with a limit of its own.

use std::time::{Duration, Instant};

use crate::protocol::{Event, EventWriter, FinishStatus};
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
    let deadline = start + Duration::from_secs(spec.timeout_secs);
    let mut env = spec.environment.clone();
    env.entry("ENGINE_SUITE".into())
        .or_insert_with(|| spec.name.clone());
    env.entry("ENGINE_DISTRO".into())
        .or_insert_with(|| spec.distro.clone());
    let make = |name: &'static str, text: &str, timeout: Duration| Step {
        name,
        argv: step::script(text),
        workdir: Some(spec.workdir.as_str()),
        env: env.clone(),
        user: user.as_ref(),
        timeout: Some(timeout),
    };
    let remaining = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };

    let mut failed = false;
    let mut timed_out = false;
    let verdict = |r: &StepResult, failed: &mut bool, timed_out: &mut bool| {
        if r.timed_out {
            *timed_out = true;
        } else if !r.ok() {
            *failed = true;
        }
    };
    if let Some(p) = &spec.prepare {
        let r = step::run(&make("prepare", p, remaining()), events);
        verdict(&r, &mut failed, &mut timed_out);
    }
    if !failed && !timed_out {
        let r = step::run(&make("execute", &spec.execute, remaining()), events);
        verdict(&r, &mut failed, &mut timed_out);
    }
    if let Some(r) = &spec.restore {
        let res = step::run(&make("restore", r, RESTORE_LIMIT), events);
        // A restore that fails leaves the system dirty: the suite fails (unless it timed out).
        if !res.ok() && !timed_out {
            failed = true;
        }
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

fn finish(events: &mut EventWriter, status: FinishStatus, start: Instant) -> FinishStatus {
    events.emit(Event::Finished {
        status,
        duration_ms: start.elapsed().as_millis() as u64,
    });
    status
}
