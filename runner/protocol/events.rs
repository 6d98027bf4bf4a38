//! The event protocol between the runner (in the container) and the engine (on the host):
//! versioned JSON Lines, one [`Event`] per line, each carrying `"v": 1`.
//!
//! Events go to a file on a mounted folder, never to stdout, so nothing a suite prints can
//! corrupt them; suite output itself is carried as `output` events with lossy UTF-8.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Bumped on an incompatible change of the event or spec shapes.
pub const PROTOCOL_VERSION: u32 = 1;

/// One line of the event stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// First event of every runner invocation.
    Hello {
        runner_version: String,
        command: String,
    },
    /// What the container is (`runner probe`, and at the start of `provision`).
    Probe {
        probe: Probe,
    },
    StepStarted {
        step: String,
    },
    /// One line of a step's output (lossy UTF-8, capped in length).
    Output {
        step: String,
        stream: Stream,
        line: String,
    },
    StepFinished {
        step: String,
        exit_code: Option<i32>,
        signal: Option<i32>,
        duration_ms: u64,
        timed_out: bool,
        /// How many processes the kernel's OOM killer ended in the container's memory cgroup
        /// while the step ran, when the cgroup's counter is readable and it moved. The engine
        /// names a failure with OOM kills as the memory limit, whatever the daemon's flag says
        /// (Podman sets it only when the container's first process dies).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        oom_kills: Option<u64>,
    },
    /// The locale policy's result.
    Locales {
        policy: String,
        declared: Vec<String>,
        available: Vec<String>,
        missing: Vec<String>,
        generated: Vec<String>,
    },
    /// The AUR-helper policy's result.
    AurHelper {
        policy: String,
        action: AurAction,
        helper: Option<HelperInfo>,
    },
    /// An infrastructure problem: `scope` names what it affects (e.g. `locale:de_DE.UTF-8`);
    /// None means the whole node.
    InfraError {
        code: String,
        message: String,
        remedy: Option<String>,
        scope: Option<String>,
    },
    /// The suite does not apply here, decided in the container: a `skip` condition held, or a
    /// step exited with [`SKIP_EXIT`]. Comes before `Finished { status: Skipped }`.
    Skipped {
        reason: String,
    },
    /// Last event: the verdict.
    Finished {
        status: FinishStatus,
        duration_ms: u64,
    },
}

/// An event as written: the version, then the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AurAction {
    /// A helper was already there.
    Detected,
    /// Built and installed from the AUR repository (cloned).
    Installed,
    /// Built and installed from the AUR repository (the cached clone was updated).
    Updated,
    /// Nothing to do (`none`).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishStatus {
    Ok,
    /// The code under test failed.
    Failed,
    /// The environment failed (an expectation, a missing tool).
    Infra,
    TimedOut,
    /// Not applicable here (see [`Event::Skipped`]): neither passed nor failed.
    Skipped,
}

/// The exit code by which a native suite's prepare or execute says "this does not apply here"
/// (automake's convention); the reason is the step's last output line.
pub const SKIP_EXIT: i32 = 77;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Probe {
    pub os: OsInfo,
    pub locales: LocaleInfo,
    pub aur_helpers: Vec<HelperInfo>,
    pub package_manager: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OsInfo {
    /// `ID` of /etc/os-release.
    pub id: String,
    pub id_like: Vec<String>,
    /// arch, manjaro, cachyos, endeavouros, `unknown:<id>`, or `<family>-like:<id>`.
    pub normalized: String,
    pub pretty_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LocaleInfo {
    /// `locale -a`, canonical (`de_DE.UTF-8`).
    pub available: Vec<String>,
    /// Definitions in /usr/share/i18n/locales.
    pub definable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperInfo {
    pub name: String,
    pub path: String,
    pub version: Option<String>,
}

/// Output lines kept in an event file: the container's output (and so the engine's log) has
/// every line; the events need only enough for tools reading them, and an event file as big as
/// a chatty suite's output doubles the disk it takes and the memory of whoever reads it.
pub const OUTPUT_EVENT_BYTES: usize = 4 << 20;

/// Appends events to a file, one flushed line each, so that a killed container leaves every
/// event written before it died.
pub struct EventWriter {
    out: Box<dyn Write + Send>,
    /// Bytes of output lines written so far, against [`OUTPUT_EVENT_BYTES`].
    output_bytes: usize,
    /// Output lines left out past the bound (said once, in an event of its own, at the end).
    output_left_out: usize,
    /// The last non-blank line the current step wrote (a skip's reason); the runner's own
    /// `[runner] ...` lines do not count.
    last: Option<String>,
    /// Where the events go, for the message when they cannot be written.
    path: Option<String>,
    /// Why the events could not be written (a full disk): said on stdout when it happens, and
    /// again as the last line when the writer goes (after the suite's output), where the
    /// engine looks for the cause of a missing verdict.
    failed: Option<String>,
}

/// The start of the lines that mark a step's phases in the output: `[runner] == execute ==` at
/// its start, `[runner] == execute: exit 1 ==` at its end. The engine takes a failure's tail
/// from the lines after the failed phase's mark.
pub const PHASE_MARK: &str = "[runner] == ";

/// The start of the line the runner writes to its output when its events cannot be written;
/// the engine names the cause from it (the run has no verdict then).
pub const EVENTS_UNWRITABLE: &str = "[runner] cannot write the events";

impl EventWriter {
    pub fn create(path: &Path) -> std::io::Result<EventWriter> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let mut w = EventWriter::to(Box::new(f));
        w.path = Some(path.display().to_string());
        Ok(w)
    }

    /// Events into any writer (tests, stdout for `probe`).
    pub fn to(out: Box<dyn Write + Send>) -> EventWriter {
        EventWriter {
            out,
            output_bytes: 0,
            output_left_out: 0,
            last: None,
            path: None,
            failed: None,
        }
    }

    /// The current step's last non-blank line (its stdout and stderr are one pipe, in order).
    pub fn last_line(&self) -> Option<String> {
        self.last.clone()
    }

    pub fn emit(&mut self, event: Event) {
        match &event {
            Event::StepStarted { .. } => self.last = None,
            Event::Output { line, .. }
                if !line.trim().is_empty() && !line.starts_with("[runner] ") =>
            {
                self.last = Some(line.trim().to_string());
            }
            _ => {}
        }
        if let Event::Output { line, step, .. } = &event {
            // The line as written: the text and its JSON envelope.
            let size = line.len() + step.len() + 64;
            if self.output_bytes + size > OUTPUT_EVENT_BYTES {
                if self.output_left_out == 0 {
                    self.write(Event::Output {
                        step: step.clone(),
                        stream: Stream::Stderr,
                        line: format!(
                            "[runner] output past {} MiB is in the log only, not in these events",
                            OUTPUT_EVENT_BYTES >> 20
                        ),
                    });
                }
                self.output_left_out += 1;
                return;
            }
            self.output_bytes += size;
        }
        self.write(event);
    }

    fn write(&mut self, event: Event) {
        let env = Envelope {
            v: PROTOCOL_VERSION,
            event,
        };
        if let Ok(mut line) = serde_json::to_vec(&env) {
            line.push(b'\n');
            // A full disk must not kill the suite, but the engine will find no verdict: say
            // why, once, on the output it reads.
            let written = self.out.write_all(&line).and_then(|()| self.out.flush());
            if let (Err(e), None) = (written, &self.failed) {
                let into = self
                    .path
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default();
                let said = format!("{EVENTS_UNWRITABLE}{into}: {e}");
                let _ = writeln!(std::io::stdout(), "{said}");
                self.failed = Some(said);
            }
        }
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if let Some(said) = &self.failed {
            let _ = writeln!(std::io::stdout(), "{said}");
        }
    }
}

/// A line of the stream that is not a valid event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("event line {line}: {message}")]
pub struct BadEvent {
    pub line: usize,
    pub message: String,
}

/// Read an event stream. A broken or truncated line is reported, not a panic; events of a
/// newer protocol version are reported as such.
pub fn read_events(reader: impl BufRead) -> Vec<Result<Event, BadEvent>> {
    let mut out = Vec::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let Ok(line) = line else { break };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<Envelope>(&line).map_err(|e| BadEvent {
            line: i + 1,
            message: e.to_string(),
        });
        out.push(parsed.and_then(|env| {
            if env.v == PROTOCOL_VERSION {
                Ok(env.event)
            } else {
                Err(BadEvent {
                    line: i + 1,
                    message: format!(
                        "protocol version {} (this side speaks {PROTOCOL_VERSION})",
                        env.v
                    ),
                })
            }
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Event> {
        vec![
            Event::Hello {
                runner_version: "0.1.0".into(),
                command: "suite".into(),
            },
            Event::Probe {
                probe: Probe {
                    os: OsInfo {
                        id: "cachyos".into(),
                        id_like: vec!["arch".into()],
                        normalized: "cachyos".into(),
                        pretty_name: Some("CachyOS".into()),
                    },
                    locales: LocaleInfo {
                        available: vec!["C.UTF-8".into()],
                        definable: vec!["en_US".into()],
                    },
                    aur_helpers: vec![HelperInfo {
                        name: "paru".into(),
                        path: "/usr/bin/paru".into(),
                        version: Some("paru v2".into()),
                    }],
                    package_manager: Some("pacman".into()),
                },
            },
            Event::StepStarted {
                step: "execute".into(),
            },
            Event::Output {
                step: "execute".into(),
                stream: Stream::Stderr,
                line: "é \u{fffd} \"q\"".into(),
            },
            Event::StepFinished {
                step: "execute".into(),
                exit_code: Some(1),
                signal: None,
                duration_ms: 12,
                timed_out: false,
                oom_kills: Some(1),
            },
            Event::Locales {
                policy: "fail".into(),
                declared: vec!["de_DE.UTF-8".into()],
                available: vec![],
                missing: vec!["de_DE.UTF-8".into()],
                generated: vec![],
            },
            Event::AurHelper {
                policy: "require".into(),
                action: AurAction::Detected,
                helper: None,
            },
            Event::InfraError {
                code: "locale-missing".into(),
                message: "m".into(),
                remedy: Some("r".into()),
                scope: Some("locale:de_DE.UTF-8".into()),
            },
            Event::Finished {
                status: FinishStatus::TimedOut,
                duration_ms: 5,
            },
        ]
    }

    #[test]
    fn every_event_round_trips_with_its_version() {
        let mut text = Vec::new();
        for e in all() {
            let line = serde_json::to_vec(&Envelope {
                v: PROTOCOL_VERSION,
                event: e,
            })
            .unwrap();
            assert!(
                line.starts_with(br#"{"v":1,"type":""#),
                "{}",
                String::from_utf8_lossy(&line)
            );
            text.extend(line);
            text.push(b'\n');
        }
        let back: Vec<Event> = read_events(&text[..])
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, all());
    }

    #[test]
    fn a_truncated_or_foreign_line_is_reported_not_fatal() {
        let text = b"{\"v\":1,\"type\":\"step_started\",\"step\":\"x\"}\n{\"v\":2,\"type\":\"step_started\",\"step\":\"y\"}\n{\"v\":1,\"type\":\"step_fini";
        let r = read_events(&text[..]);
        assert_eq!(r.len(), 3);
        assert!(r[0].is_ok());
        assert!(r[1]
            .as_ref()
            .unwrap_err()
            .message
            .contains("protocol version 2"));
        assert_eq!(r[2].as_ref().unwrap_err().line, 3);
    }
}
