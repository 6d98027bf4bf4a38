//! `runner`: the engine's in-container program. See `runner --help`.

mod artifacts;
mod cache_access;
mod locales;
mod osrelease;
mod probe;
mod provision;
mod step;
mod suite;
mod system;
mod users;

#[cfg(test)]
mod provision_fake_tests;
#[cfg(test)]
mod test_support;

use std::path::PathBuf;
use std::process::ExitCode;

// The protocol crate's modules, so that the runner's modules say `crate::protocol::Event`.
pub(crate) use runner_protocol::{protocol, spec};

use protocol::{Event, EventWriter, FinishStatus};
use spec::{ProvisionSpec, SuiteSpec};
use system::System;

const USAGE: &str = "\
runner: the in-container side of the distro test-matrix engine

USAGE:
    runner probe     [--events FILE]
    runner provision --spec FILE --events FILE
    runner suite     --spec FILE --events FILE

  probe      what this container is: distro ID (normalized), locales available and definable,
             AUR helpers found, package manager; as a `probe` event (on stdout without --events)
  provision  users with passwordless sudo, locale policy, AUR-helper policy, provision steps
  suite      prepare, execute, restore of one suite, with its environment and timeout

Events are JSON Lines (protocol v1) appended to FILE; the steps' own output goes to stdout and
stderr. Exit status: 0 ok, 1 failed, 2 bad usage or spec, 3 infrastructure error, 4 timed out, 5 skipped.
";

/// The usage of one command, for `runner COMMAND --help`.
fn command_usage(command: &str) -> Option<&'static str> {
    Some(match command {
        "probe" => {
            "\
runner probe [--events FILE]

Reports what this container is: distro ID (normalized), locales available and definable, AUR
helpers found, package manager; as one `probe` event, appended to FILE (stdout without --events).
"
        }
        "provision" => {
            "\
runner provision --spec FILE --events FILE

Provisions this container from the JSON spec in FILE: users with passwordless sudo, the locale
policy, the AUR-helper policy, then the provision steps. Events are appended to the events FILE.
Exit status: 0 ok, 1 a step failed, 2 bad usage or spec, 3 infrastructure error.
"
        }
        "suite" => {
            "\
runner suite --spec FILE --events FILE

Runs one suite from the JSON spec in FILE: prepare, execute and restore, with the suite's
environment, user and timeout (the whole process group is killed when it expires). Events are
appended to the events FILE.
Exit status: 0 passed, 1 failed, 2 bad usage or spec, 3 infrastructure error, 4 timed out, 5 skipped.
"
        }
        _ => return None,
    })
}

fn exit_of(status: FinishStatus) -> ExitCode {
    ExitCode::from(match status {
        FinishStatus::Ok => 0,
        FinishStatus::Failed => 1,
        FinishStatus::Infra => 3,
        FinishStatus::TimedOut => 4,
        FinishStatus::Skipped => 5,
    })
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("runner: {msg}\n\n{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first().cloned() else {
        return usage_error("missing command");
    };
    if command == "--help" || command == "-h" || command == "help" {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if command == "--version" {
        println!("runner {}", runner_protocol::VERSION);
        return ExitCode::SUCCESS;
    }
    let mut spec: Option<PathBuf> = None;
    let mut events_path: Option<PathBuf> = None;
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--help" | "-h" => {
                return match command_usage(&command) {
                    Some(u) => {
                        print!("{u}");
                        ExitCode::SUCCESS
                    }
                    None => usage_error(&format!("unknown command `{command}`")),
                }
            }
            "--spec" => spec = it.next().map(PathBuf::from),
            "--events" => events_path = it.next().map(PathBuf::from),
            other => return usage_error(&format!("unknown argument `{other}`")),
        }
    }
    let mut events = match &events_path {
        Some(p) => match EventWriter::create(p) {
            Ok(w) => w,
            Err(e) => {
                return usage_error(&format!("cannot open the event file {}: {e}", p.display()))
            }
        },
        None if command == "probe" => EventWriter::to(Box::new(std::io::stdout())),
        None => return usage_error("--events FILE is required"),
    };
    events.emit(Event::Hello {
        runner_version: runner_protocol::VERSION.into(),
        command: command.clone(),
    });
    let sys = System::host();
    match command.as_str() {
        "probe" => {
            events.emit(Event::Probe {
                probe: probe::probe(&sys, &[]),
            });
            ExitCode::SUCCESS
        }
        "provision" => match read_spec::<ProvisionSpec>(spec.as_ref()) {
            Ok(s) => exit_of(provision::run(&s, &sys, &mut events)),
            Err(e) => usage_error(&e),
        },
        "suite" => match read_spec::<SuiteSpec>(spec.as_ref()) {
            Ok(s) => exit_of(suite::run(&s, &sys, &mut events)),
            Err(e) => usage_error(&e),
        },
        other => usage_error(&format!("unknown command `{other}`")),
    }
}

fn read_spec<T: serde::de::DeserializeOwned>(path: Option<&PathBuf>) -> Result<T, String> {
    let path = path.ok_or("--spec FILE is required")?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if v["v"] != protocol::PROTOCOL_VERSION {
        return Err(format!(
            "{}: spec version {} (this runner speaks {})",
            path.display(),
            v["v"],
            protocol::PROTOCOL_VERSION
        ));
    }
    serde_json::from_value(v).map_err(|e| format!("{}: {e}", path.display()))
}
