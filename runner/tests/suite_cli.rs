//! `runner suite` on the host, in temporary folders: the suite semantics the engine relies on.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use runner_protocol::protocol::{read_events, Event, FinishStatus, Stream};
use runner_protocol::spec::{SkipIf, SuiteSpec};

fn spec(dir: &Path, execute: &str) -> SuiteSpec {
    SuiteSpec {
        v: 1,
        name: "t".into(),
        distro: "host".into(),
        workdir: dir.display().to_string(),
        environment: Default::default(),
        exports: Vec::new(),
        timeout_secs: 30,
        warn_after_secs: None,
        prepare: None,
        execute: execute.into(),
        restore: None,
        user: None,
        debug: None,
        spread_helpers: false,
        skip: Vec::new(),
        skip_exit: true,
        artifacts: Vec::new(),
        artifacts_to: None,
        cache_mounts: Vec::new(),
    }
}

/// Run the binary on `s` (events to `dir/events.jsonl`); returns how it ended and its output.
fn run_suite(dir: &Path, s: &SuiteSpec) -> std::process::Output {
    let spec_path = dir.join("suite.json");
    std::fs::write(&spec_path, serde_json::to_vec(s).unwrap()).unwrap();
    let events = dir.join("events.jsonl");
    let _ = std::fs::remove_file(&events);
    Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["suite", "--spec"])
        .arg(&spec_path)
        .arg("--events")
        .arg(&events)
        .output()
        .unwrap()
}

/// Run the binary; returns (exit code, events).
fn run(dir: &Path, s: &SuiteSpec) -> (i32, Vec<Event>) {
    let out = run_suite(dir, s);
    let f = std::fs::File::open(dir.join("events.jsonl")).unwrap();
    let evs = read_events(std::io::BufReader::new(f))
        .into_iter()
        .map(|e| e.expect("every event line parses"))
        .collect();
    (out.status.code().unwrap_or(-1), evs)
}

fn finished(evs: &[Event]) -> FinishStatus {
    evs.iter()
        .find_map(|e| match e {
            Event::Finished { status, .. } => Some(*status),
            _ => None,
        })
        .expect("a finished event")
}

#[test]
fn restore_runs_after_a_failed_execute() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(t.path(), "echo before; false; echo never");
    s.restore = Some("touch restored".into());
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 1);
    assert_eq!(finished(&evs), FinishStatus::Failed);
    assert!(t.path().join("restored").exists(), "restore did not run");
    let lines: Vec<&str> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Output {
                line,
                stream: Stream::Stdout,
                ..
            } => Some(line.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines,
        ["before", "[runner] line 1: `false` exited with 1"],
        "set -e must stop the script at `false`, which is named"
    );
}

#[test]
fn prepare_failure_skips_execute_but_not_restore() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(t.path(), "touch executed");
    s.prepare = Some("exit 3".into());
    s.restore = Some("touch restored".into());
    let (code, _) = run(t.path(), &s);
    assert_eq!(code, 1);
    assert!(!t.path().join("executed").exists());
    assert!(t.path().join("restored").exists());
}

#[test]
fn timeout_kills_the_whole_process_group_and_is_not_a_failure() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(t.path(), "sleep 1000 & echo $! > bg.pid; sleep 1000");
    s.timeout_secs = 1;
    s.restore = Some("touch restored".into());
    let start = Instant::now();
    let (code, evs) = run(t.path(), &s);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(code, 4);
    assert_eq!(finished(&evs), FinishStatus::TimedOut);
    assert!(evs.iter().any(
        |e| matches!(e, Event::StepFinished { step, timed_out: true, .. } if step == "execute")
    ));
    assert!(
        t.path().join("restored").exists(),
        "restore must run after a timeout"
    );
    let pid: i32 = std::fs::read_to_string(t.path().join("bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Reaped by init on the host; either gone or a zombie, never still sleeping.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z "),
        "background child {pid} survived: {state}"
    );
}

#[test]
fn environment_and_workdir_are_applied() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(
        t.path(),
        "test \"$GREETING\" = hallo && test \"$PWD\" = \"$EXPECTED\" && test \"$ENGINE_SUITE\" = t",
    );
    s.environment.insert("GREETING".into(), "hallo".into());
    s.environment.insert(
        "EXPECTED".into(),
        t.path().canonicalize().unwrap().display().to_string(),
    );
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 0, "{evs:?}");
    assert_eq!(finished(&evs), FinishStatus::Ok);
}

#[test]
fn a_failing_restore_fails_the_suite() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(t.path(), "true");
    s.restore = Some("exit 7".into());
    let (code, _) = run(t.path(), &s);
    assert_eq!(code, 1);
}

#[test]
fn one_megabyte_of_random_bytes_keeps_the_event_stream_well_formed() {
    let t = tempfile::tempdir().unwrap();
    let s = spec(t.path(), "head -c 1000000 /dev/urandom; echo; echo done");
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 0);
    // run() already required every line to parse; the last output line must have survived.
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::Output { line, .. } if line == "done")));
    let raw = std::fs::read_to_string(t.path().join("events.jsonl")).unwrap();
    assert!(raw
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert!(
        raw.lines().all(|l| l.len() < 200_000),
        "a line escaped the length cap"
    );
}

#[test]
fn bad_usage_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .arg("suite")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("runner provision"));
}

#[test]
fn probe_prints_a_probe_event() {
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .arg("probe")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let evs: Vec<Event> = read_events(&out.stdout[..])
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::Probe { probe } if !probe.os.id.is_empty())));
}

#[test]
fn masked_values_never_reach_the_events_or_the_output() {
    let t = tempfile::tempdir().unwrap();
    let s = spec(
        t.path(),
        "echo \"the token is $TOKEN\"; env | grep -c ENGINE_MASK || true",
    );
    let spec_path = t.path().join("suite.json");
    std::fs::write(&spec_path, serde_json::to_vec(&s).unwrap()).unwrap();
    let events = t.path().join("events.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["suite", "--spec"])
        .arg(&spec_path)
        .arg("--events")
        .arg(&events)
        .env("TOKEN", "hunter22-secret")
        .env("ENGINE_MASK", "[\"hunter22-secret\"]")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ev = std::fs::read_to_string(&events).unwrap();
    assert!(stdout.contains("the token is ***"), "{stdout}");
    assert!(!stdout.contains("hunter22") && !ev.contains("hunter22"));
    // The mask list itself is not handed to the suite.
    assert!(stdout.lines().any(|l| l == "0"), "{stdout}");
}

#[test]
fn every_command_prints_its_own_usage_on_help() {
    for (command, needle) in [
        ("probe", "runner probe [--events FILE]"),
        ("provision", "runner provision --spec FILE"),
        ("suite", "runner suite --spec FILE"),
    ] {
        for flag in ["--help", "-h"] {
            let out = Command::new(env!("CARGO_BIN_EXE_runner"))
                .args([command, flag])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{command} {flag}: {text}");
            assert!(text.starts_with(needle), "{command} {flag}: {text}");
        }
    }
    // An unknown command is still a usage error, with or without --help.
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["frobnicate", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// At the timeout the suite gets SIGTERM first (its `trap ... TERM` runs), as `docker stop`
/// does; the verdict stays a timeout.
#[test]
fn a_timeout_lets_the_suites_term_trap_clean_up() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(
        t.path(),
        "trap 'echo cleaning up after TERM; touch cleaned; exit 3' TERM\nsleep 30 &\nwait",
    );
    s.timeout_secs = 1;
    let start = Instant::now();
    let (code, evs) = run(t.path(), &s);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(code, 4);
    assert_eq!(finished(&evs), FinishStatus::TimedOut);
    assert!(
        t.path().join("cleaned").exists(),
        "the TERM trap did not run"
    );
    assert!(evs
        .iter()
        .any(|e| matches!(e, Event::Output { line, .. } if line == "cleaning up after TERM")));
}

/// Output lines of one step, in order.
fn step_lines<'a>(evs: &'a [Event], name: &str) -> Vec<&'a str> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Output { step, line, .. } if step == name => Some(line.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn debug_runs_after_a_failure_before_restore_and_never_after_a_pass() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(t.path(), "echo state > state; false");
    s.debug = Some("echo debugging; cat state; test ! -e restored".into());
    s.restore = Some("touch restored".into());
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 1);
    assert_eq!(step_lines(&evs, "debug"), ["debugging", "state"]);
    assert!(t.path().join("restored").exists());
    // The debug script's own failure does not change the verdict (already failed).

    let mut s = spec(t.path(), "true");
    s.debug = Some("touch debugged".into());
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 0);
    assert!(step_lines(&evs, "debug").is_empty());
    assert!(!t.path().join("debugged").exists());
}

#[test]
fn spreads_match_and_nomatch_helpers_work_in_every_step_and_can_fail() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(
        t.path(),
        "echo 'coreutils enabled' | MATCH 'core.*enabled'\necho abc | NOMATCH xyz\nbash -c 'echo nested | MATCH nest'\ntouch matched",
    );
    s.spread_helpers = true;
    s.prepare = Some("echo ready | MATCH ready".into());
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 0, "{evs:?}");
    assert!(t.path().join("matched").exists());

    // A pattern that is not there fails the step (set -e) and shows what was read.
    let mut s = spec(
        t.path(),
        "echo 'sudo-rs disabled' | MATCH 'enabled'\ntouch never",
    );
    s.spread_helpers = true;
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 1);
    assert!(!t.path().join("never").exists());
    // stdout and stderr are one stream, in the order written.
    let out: Vec<&str> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Output { line, .. } => Some(line.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        out,
        [
            "error: pattern not found, got:",
            "sudo-rs disabled",
            "[runner] line 1: `MATCH 'enabled'` exited with 1"
        ]
    );

    // Without the flag (native suites), no such command.
    let s = spec(t.path(), "echo x | MATCH x");
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 1);
    assert!(
        evs.iter().any(
            |e| matches!(e, Event::Output { line, .. } if line.contains("MATCH: command not found"))
        ),
        "{evs:?}"
    );
}

fn skipped_reason(evs: &[Event]) -> Option<&str> {
    evs.iter().find_map(|e| match e {
        Event::Skipped { reason } => Some(reason.as_str()),
        _ => None,
    })
}

#[test]
fn the_first_skip_condition_that_holds_skips_before_anything_runs() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(t.path(), "touch executed");
    s.prepare = Some("touch prepared".into());
    s.skip = vec![
        SkipIf {
            reason: "never".into(),
            condition: "test -e /nonexistent".into(),
        },
        SkipIf {
            reason: "this host is not arm".into(),
            condition: "test \"$(uname -m)\" != aarch64".into(),
        },
        SkipIf {
            reason: "not reached".into(),
            condition: "true".into(),
        },
    ];
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 5);
    assert_eq!(finished(&evs), FinishStatus::Skipped);
    assert_eq!(skipped_reason(&evs), Some("this host is not arm"));
    assert!(!t.path().join("prepared").exists());
    assert!(!t.path().join("executed").exists());
    // No condition holds: the suite runs.
    s.skip.truncate(1);
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 0);
    assert_eq!(skipped_reason(&evs), None);
    assert!(t.path().join("executed").exists());
}

#[test]
fn exit_77_skips_with_the_last_line_as_the_reason_and_restore_still_runs() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(
        t.path(),
        "echo checking\necho 'no de_DE locale on this image' >&2\nexit 77",
    );
    s.restore = Some("touch restored".into());
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 5);
    assert_eq!(finished(&evs), FinishStatus::Skipped);
    assert_eq!(skipped_reason(&evs), Some("no de_DE locale on this image"));
    assert!(t.path().join("restored").exists());
    // Without the convention (spread's tasks), 77 is a failure like any other.
    s.skip_exit = false;
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 1);
    assert_eq!(skipped_reason(&evs), None);
}

#[test]
fn a_warn_timeout_says_once_that_the_suite_runs_late_and_is_not_a_failure() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(t.path(), "sleep 1.5; echo done");
    s.warn_after_secs = Some(1);
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 0);
    let late: Vec<&str> = step_lines(&evs, "execute")
        .into_iter()
        .filter(|l| l.contains("running late"))
        .collect();
    assert_eq!(late.len(), 1, "{evs:?}");
    // Within the time: nothing said.
    s.execute = "echo quick".into();
    let (_, evs) = run(t.path(), &s);
    assert!(!step_lines(&evs, "execute")
        .iter()
        .any(|l| l.contains("running late")));
}

/// The output lines of one stream.
fn output(evs: &[Event], which: Stream) -> Vec<String> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Output { line, stream, .. } if *stream == which => Some(line.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn artifacts_are_copied_before_restore_even_after_a_failure() {
    let t = tempfile::tempdir().unwrap();
    let into = t.path().join("io/artifacts");
    std::fs::create_dir_all(t.path().join("io")).unwrap();
    let mut s = spec(t.path(), "mkdir -p out; echo evidence > out/run.log; false");
    s.restore = Some("rm -rf out".into());
    s.artifacts = vec!["out".into(), "absent.txt".into()];
    s.artifacts_to = Some(into.display().to_string());
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 1);
    assert!(!t.path().join("out").exists(), "restore ran");
    assert_eq!(
        std::fs::read_to_string(into.join("out/run.log")).unwrap(),
        "evidence\n"
    );
    let out = output(&evs, Stream::Stdout);
    assert!(
        out.contains(&"[runner] artifact out: copied (1 files)".to_string()),
        "{out:?}"
    );
    let err = output(&evs, Stream::Stderr);
    assert!(
        err.contains(&"[runner] artifact absent.txt: not found, nothing copied".to_string()),
        "{err:?}"
    );
}

#[test]
fn exports_are_expanded_by_the_shell_in_order() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(t.path(), "echo \"$DIR|$LAST\"");
    s.environment
        .insert("SPREAD_PATH".into(), "/project".into());
    s.exports = vec![
        ("DIR".into(), "$SPREAD_PATH/tests".into()),
        ("LAST".into(), "${DIR}/lib".into()),
    ];
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 0, "{evs:?}");
    assert_eq!(
        output(&evs, Stream::Stdout),
        ["/project/tests|/project/tests/lib"]
    );
}

#[test]
fn stdout_and_stderr_lines_keep_the_order_they_were_written_in() {
    let t = tempfile::tempdir().unwrap();
    let s = spec(
        t.path(),
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo \"out $i\"; echo \"err $i\" >&2; done",
    );
    let (code, evs) = run(t.path(), &s);
    assert_eq!(code, 0);
    let lines: Vec<String> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Output { line, .. } => Some(line.clone()),
            _ => None,
        })
        .collect();
    let want: Vec<String> = (1..=10)
        .flat_map(|i| [format!("out {i}"), format!("err {i}")])
        .collect();
    assert_eq!(lines, want);
}

#[test]
fn events_that_cannot_be_written_are_said_on_the_output() {
    let t = tempfile::tempdir().unwrap();
    let s = spec(t.path(), "echo still runs");
    let spec_path = t.path().join("suite.json");
    std::fs::write(&spec_path, serde_json::to_vec(&s).unwrap()).unwrap();
    // /dev/full: every write fails with "No space left on device".
    let out = Command::new(env!("CARGO_BIN_EXE_runner"))
        .args(["suite", "--spec"])
        .arg(&spec_path)
        .args(["--events", "/dev/full"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let said: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(runner_protocol::protocol::EVENTS_UNWRITABLE))
        .collect();
    // When it happens, and again as the last line: the engine looks in the last lines.
    let line =
        "[runner] cannot write the events (/dev/full): No space left on device (os error 28)";
    assert_eq!(said, [line, line], "{text}");
    assert_eq!(text.lines().last(), Some(line), "{text}");
    assert!(text.contains("still runs"), "{text}");
}

#[test]
fn the_output_marks_each_phase_with_its_end() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(t.path(), "echo doing; exit 3");
    s.restore = Some("echo undoing".into());
    let out = run_suite(t.path(), &s);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "[runner] == execute ==",
            "doing",
            "[runner] == execute: exit 3 ==",
            "[runner] == restore ==",
            "undoing",
            "[runner] == restore: exit 0 ==",
        ]
    );
}

#[test]
fn a_failure_names_the_failing_command_and_its_line_in_the_task_script() {
    let t = tempfile::tempdir().unwrap();
    let mut s = spec(
        t.path(),
        "echo one\nset +e; false; set -e\nif false; then :; fi\ngrep -q \"$WORD\" /dev/null\necho never",
    );
    // Exports come before the script and must not shift its line numbers.
    s.exports = vec![("WORD".into(), "multi\nline".into())];
    s.skip = vec![SkipIf {
        condition: "test -e /nonexistent".into(),
        reason: "never".into(),
    }];
    let out = run_suite(t.path(), &s);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let named: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("[runner] line "))
        .collect();
    // Only the failure that ended the script: not the one under `set +e`, not the `if`, not
    // the skip condition that answered "do not skip".
    assert_eq!(
        named,
        ["[runner] line 4: `grep -q \"$WORD\" /dev/null` exited with 1"],
        "{text}"
    );
}
