//! Reports of real runs on the real Docker daemon: the plain lines and the summary of the local
//! example (insta snapshots), its JUnit XML read back by an independent consumer (xmllint and
//! Python's junitparser), its JSON report against the committed schema, the JSON Lines event
//! stream, GitHub Actions output, a partial JUnit file after Ctrl-C, and `engine shell` through
//! a pseudo-terminal.
//!
//! Without a daemon these tests skip loudly; under CI=true they fail. They leave no container
//! behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::project::LocalProject;
use crate::support::*;

/// One run of the local example, shared by the tests that read its outputs (a run takes about
/// 20 s; `-j 1` makes the order of the plain lines deterministic).
struct LocalRun {
    project: LocalProject,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    junit: PathBuf,
    report: PathBuf,
    html: PathBuf,
    took: Duration,
}

fn local_run() -> &'static LocalRun {
    static RUN: OnceLock<LocalRun> = OnceLock::new();
    RUN.get_or_init(|| {
        local_images();
        let project = LocalProject::new();
        let out_dir = project.path().join("out");
        let junit = out_dir.join("junit.xml");
        let report = out_dir.join("report.json");
        let html = out_dir.join("report.html");
        let t = Instant::now();
        let out = engine(
            project.path(),
            &[
                "run",
                "-j",
                "1",
                "--junit",
                junit.to_str().unwrap(),
                "--report",
                report.to_str().unwrap(),
                "--html",
                html.to_str().unwrap(),
            ],
        );
        LocalRun {
            code: out.status.code(),
            stdout: text(&out.stdout),
            stderr: text(&out.stderr),
            junit,
            report,
            html,
            took: t.elapsed(),
            project,
        }
    })
}

/// Regex-escape a literal path for an insta filter.
fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

/// What changes from run to run: times, durations, run ids, the temporary folder, the daemon.
fn filters(project: &Path) -> Vec<(String, String)> {
    let mut f = vec![
        (
            escape(&project.canonicalize().unwrap().display().to_string()),
            "[project]".to_string(),
        ),
        (
            escape(&project.display().to_string()),
            "[project]".to_string(),
        ),
        (escape(&repo().display().to_string()), "[repo]".to_string()),
        (r"\d{8}-\d{6}-[0-9a-f]{4}".to_string(), "[run]".to_string()),
        (
            r"(?m)^\d{2}:\d{2}:\d{2} ".to_string(),
            "[time] ".to_string(),
        ),
        (r"\(\d+\.\d+s\)".to_string(), "([secs])".to_string()),
        (
            r"nodes on [^;]+;".to_string(),
            "nodes on [docker];".to_string(),
        ),
        // Host grants name the engine's user.
        (r"(?m)\(as [^)]+\)$".to_string(), "(as [user])".to_string()),
    ];
    f.dedup();
    f
}

/// No container of any run made in `project` is left. (By run id, not every managed container:
/// other engines may be using the same daemon at the same time.)
fn assert_no_containers_left(
    rt: &tokio::runtime::Runtime,
    d: &engine::docker::DockerClient,
    project: &Path,
) {
    let runs = std::fs::read_dir(project.join(".engine/runs")).expect("the project made runs");
    let mut seen = 0;
    for run in runs.flatten() {
        let id = run.file_name().to_string_lossy().into_owned();
        assert_eq!(
            containers_of_run(rt, d, &id),
            0,
            "containers of run {id} left behind"
        );
        seen += 1;
    }
    assert!(seen > 0, "no run folder in {}", project.display());
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn plain_output_and_summary_of_the_local_example() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let run = local_run();
    assert_eq!(run.code, Some(3), "{}\n{}", run.stdout, run.stderr);
    eprintln!("examples/local with -j 1: {:?}", run.took);
    // Not a terminal: plain lines, and nothing that moves a cursor or colours text.
    assert!(
        !run.stderr.chars().any(|c| c.is_control() && c != '\n'),
        "control characters in:\n{}",
        run.stderr
    );
    let settings = {
        let mut s = insta::Settings::clone_current();
        for (from, to) in filters(run.project.path()) {
            s.add_filter(&from, to);
        }
        s.set_prepend_module_to_snapshot(true);
        // Next to this file (insta would put a file outside the crate under engine/tests/).
        s.set_snapshot_path(repo().join("tests/docker/snapshots"));
        s
    };
    settings.bind(|| {
        insta::assert_snapshot!("local_plain_stderr", run.stderr);
        insta::assert_snapshot!("local_summary_stdout", run.stdout);
    });
    assert_no_containers_left(&rt, &d, run.project.path());
}

/// The counts of a JUnit file as Python's junitparser reads it, from every test case.
fn junitparser_counts(path: &Path) -> serde_json::Value {
    let script = r#"
import json, sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
out = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "suites": [], "cases": {}}
for suite in xml:
    out["suites"].append(suite.name)
    for case in suite:
        out["tests"] += 1
        kind = type(case.result[0]).__name__.lower() if case.result else "passed"
        if kind in ("failure", "error", "skipped"):
            out[{"failure": "failures", "error": "errors", "skipped": "skipped"}[kind]] += 1
        ty = case.result[0].type if case.result else None
        out["cases"][case.classname + ":" + case.name] = kind + ("/" + ty if ty else "")
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "junitparser could not read {} (missing? run scripts/install-test-deps.sh):\n{}",
        path.display(),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn xmllint(path: &Path) {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg(path)
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils, or scripts/install-test-deps.sh)");
    assert!(
        out.status.success(),
        "{} is not well-formed XML:\n{}",
        path.display(),
        text(&out.stderr)
    );
}

/// `suites: 13 passed, 1 failed, ...` of the summary, as numbers by word.
fn summary_counts(stdout: &str) -> std::collections::HashMap<String, u64> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("suites: "))
        .expect("a counts line");
    let suites = line
        .trim_start_matches("suites: ")
        .split(';')
        .next()
        .unwrap();
    suites
        .split(", ")
        .map(|part| {
            let (n, word) = part.split_once(' ').unwrap();
            (word.to_string(), n.parse().unwrap())
        })
        .collect()
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn junit_of_the_local_example_reads_back_with_the_summary_counts() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let run = local_run();
    xmllint(&run.junit);
    let j = junitparser_counts(&run.junit);
    // As the summary counts them.
    let s = summary_counts(&run.stdout);
    let total: u64 = s.values().sum();
    assert_eq!(j["tests"], total, "{j}\n{}", run.stdout);
    assert_eq!(j["failures"], s["failed"] + s["timed out"], "{j}");
    assert_eq!(j["errors"], s["infra"], "{j}");
    assert_eq!(
        j["skipped"],
        s["skipped"] + s["cancelled"] + s["not applicable"],
        "{j}"
    );
    // As the JSON report has them.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run.report).unwrap()).unwrap();
    let suites: Vec<&serde_json::Value> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "suite")
        .collect();
    let with = |st: &[&str]| {
        suites
            .iter()
            .filter(|n| st.contains(&n["status"].as_str().unwrap()))
            .count() as u64
    };
    let na = report["skipped"].as_array().unwrap().len() as u64;
    assert_eq!(j["tests"], suites.len() as u64 + na);
    assert_eq!(j["failures"], with(&["failed", "timed_out"]));
    assert_eq!(j["errors"], with(&["infra", "dependency_failed"]));
    assert_eq!(j["skipped"], with(&["skipped", "xfail", "cancelled"]) + na);
    // The documented verdicts, cell by cell.
    assert_eq!(
        j["suites"],
        serde_json::json!(["arch", "cachyos", "endeavouros", "manjaro"])
    );
    let cases = &j["cases"];
    assert_eq!(cases["arch:must-fail"], "failure/failure");
    assert_eq!(cases["arch:times-out"], "failure/timeout");
    // The error type says which part failed: the declared locale is missing.
    assert_eq!(cases["cachyos:disable-in-german"], "error/locale");
    assert_eq!(cases["endeavouros:disable-in-german"], "skipped/skipped");
    assert_eq!(cases["manjaro:disable-in-german"], "skipped/not-applicable");
    assert_eq!(cases["arch:enable-default"], "passed");
    // The failure text is the tail of the step that failed, with the command that failed and
    // its line; restore's output (which follows in the log) is not part of it.
    let xml = std::fs::read_to_string(&run.junit).unwrap();
    assert!(xml.contains("enabled /usr/bin/ls"), "{xml}");
    assert!(
        xml.contains("[runner] line 4: `test ! -L /usr/bin/ls` exited with 1"),
        "{xml}"
    );
    assert!(!xml.contains("restored /usr/bin/ls"), "{xml}");
    let log = std::fs::read_to_string(
        run.project
            .path()
            .join(".engine/runs/latest/logs/suite_arch_must-fail.log"),
    )
    .unwrap();
    let marks: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("[runner] == "))
        .collect();
    assert_eq!(
        marks,
        [
            "[runner] == execute ==",
            "[runner] == execute: exit 1 ==",
            "[runner] == restore ==",
            "[runner] == restore: exit 0 =="
        ],
        "{log}"
    );
    assert!(log.contains("restored /usr/bin/ls"), "{log}");
    assert!(xml.contains("file=\"suites/must-fail/task.toml\""), "{xml}");
    assert_no_containers_left(&rt, &d, run.project.path());
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn json_report_of_the_local_example_matches_the_committed_schema() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let run = local_run();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run.report).unwrap()).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // The copy in the run's folder is the same report.
    let in_run = run
        .project
        .path()
        .join(".engine/runs")
        .join(report["run_id"].as_str().unwrap())
        .join("report.json");
    assert_eq!(
        std::fs::read_to_string(in_run).unwrap(),
        std::fs::read_to_string(&run.report).unwrap()
    );
    // And the schema is not vacuous: a report with a made-up status fails it.
    let mut broken = report.clone();
    broken["nodes"][0]["status"] = "exploded".into();
    assert!(!validator.is_valid(&broken));
    assert_no_containers_left(&rt, &d, run.project.path());
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn message_format_json_streams_events_on_stdout_and_people_read_stderr() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let p = LocalProject::new();
    let out = engine(
        p.path(),
        &[
            "run",
            "--message-format",
            "json",
            "arch:must-fail",
            "arch:enable-default",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    let last = events.last().unwrap();
    assert_eq!(last["exit_code"], 1);
    assert_eq!(last["counts"]["failed"], 1);
    assert_eq!(last["counts"]["passed"], 1);
    let finished = |id: &str| {
        events
            .iter()
            .find(|e| e["event"] == "node_finished" && e["node"] == id)
            .unwrap_or_else(|| panic!("no node_finished for {id}: {stdout}"))
    };
    assert_eq!(finished("suite:arch:must-fail")["status"], "failed");
    assert_eq!(
        finished("suite:arch:must-fail")["reason"],
        "execute exited with 1"
    );
    assert_eq!(finished("suite:arch:enable-default")["status"], "passed");
    assert_eq!(finished("provision:arch")["status"], "cached");
    // Every node that finished had started first, and its output came in between.
    for (i, e) in events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["event"] == "node_finished")
    {
        let started = events[..i]
            .iter()
            .position(|s| s["event"] == "node_started" && s["node"] == e["node"]);
        assert!(started.is_some(), "{} finished without starting", e["node"]);
    }
    let output: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "output" && e["node"] == "suite:arch:must-fail")
        .collect();
    assert!(
        output.iter().any(|e| e["line"] == "restored /usr/bin/ls"),
        "{stdout}"
    );
    // People get the summary on stderr.
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("must-fail ") && l.ends_with("FAIL")),
        "{stderr}"
    );
    assert!(stderr.contains("some suites failed (exit 1)"), "{stderr}");
    assert_no_containers_left(&rt, &d, p.path());
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn github_actions_get_groups_annotations_and_a_step_summary() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let p = LocalProject::new();
    let summary = p.path().join("step-summary.md");
    std::fs::write(&summary, "earlier\n").unwrap();
    let out = engine_cmd(
        p.path(),
        &[
            "run",
            "arch:must-fail",
            "arch:enable-default",
            "cachyos:disable-in-german",
        ],
    )
    .env("GITHUB_ACTIONS", "true")
    .env("GITHUB_STEP_SUMMARY", &summary)
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    // The failed node's output is folded.
    let group = stderr
        .find("::group::failed suite:arch:must-fail")
        .unwrap_or_else(|| panic!("{stderr}"));
    let end = stderr[group..].find("::endgroup::").unwrap();
    assert!(
        stderr[group..group + end].contains("    | enabled /usr/bin/ls"),
        "{stderr}"
    );
    // Annotations point at the suite's task file; the infra error too.
    assert!(
        stdout.lines().any(|l| l.starts_with("::error file=suites/must-fail/task.toml,line=1,title=suite%3Aarch%3Amust-fail failed::failed: execute exited with 1%0A")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("::error file=suites/disable-in-german/task.toml,line=1,title=suite%3Acachyos%3Adisable-in-german infra error::")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("enable-default infra")
            && !stdout.contains("title=suite%3Aarch%3Aenable-default"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("earlier\n### engine run `"), "{md}");
    assert!(md.contains("| suite | arch | cachyos |"), "{md}");
    assert!(md.contains("| must-fail | **FAIL** |"), "{md}");
    assert!(
        md.contains("- **failed** `suite:arch:must-fail`: execute exited with 1"),
        "{md}"
    );
    assert_no_containers_left(&rt, &d, p.path());
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn an_interrupted_run_still_writes_its_junit_file() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let p = LocalProject::new();
    let junit = p.path().join("junit.xml");
    // Replace the example's suites by one that sleeps and one that passes at once.
    std::fs::remove_dir_all(p.path().join("suites")).unwrap();
    for (name, task) in [
        ("quick", "distros = [\"arch\"]\nexecute = \"true\"\n"),
        ("sleeper", "distros = [\"arch\"]\nexecute = \"sleep 300\"\n"),
    ] {
        std::fs::create_dir_all(p.path().join("suites").join(name)).unwrap();
        std::fs::write(p.path().join("suites").join(name).join("task.toml"), task).unwrap();
    }
    let mut child = engine_cmd(
        p.path(),
        &["run", "-j", "1", "--junit", junit.to_str().unwrap()],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let go = line.contains("start     suite:arch:sleeper");
        seen.push(line);
        if go {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains("sleeper")),
        "the sleeper never started: {seen:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let exit = child.wait().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(exit.code(), Some(130), "{rest:?}");
    xmllint(&junit);
    let j = junitparser_counts(&junit);
    assert_eq!(j["cases"]["arch:quick"], "passed", "{j}");
    assert_eq!(j["cases"]["arch:sleeper"], "skipped/cancelled", "{j}");
    assert!(std::fs::read_to_string(&junit)
        .unwrap()
        .contains("<property name=\"interrupted\" value=\"true\"/>"));
    assert_no_containers_left(&rt, &d, p.path());
}

/// A command running under a pseudo-terminal (util-linux `script`), so that the engine sees a
/// terminal on stdin, stdout and stderr.
struct Pty {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Pty {
    fn spawn(dir: &Path, cmd: &str) -> Pty {
        Pty::spawn_coloured(dir, cmd, false)
    }

    /// With `colour`, no NO_COLOR: the engine's `auto` colours, as on a user's terminal.
    fn spawn_coloured(dir: &Path, cmd: &str, colour: bool) -> Pty {
        let mut command = Command::new("script");
        if colour {
            command.env_remove("NO_COLOR");
        } else {
            command.env("NO_COLOR", "1");
        }
        let mut child = command
            .args(["-qfec", cmd, "/dev/null"])
            .current_dir(dir)
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .env("TERM", "xterm")
            .env_remove("ENGINE_RUNNER")
            .env_remove("ENGINE_MATRIX")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script (util-linux) runs");
        let mut stdout = child.stdout.take().unwrap();
        let (tx, chunks) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Pty {
            child,
            stdin,
            chunks,
            seen: Vec::new(),
        }
    }

    fn type_in(&mut self, keys: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(keys.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Everything read so far, once `done` holds for it or `limit` passed.
    fn read_until(&mut self, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        while !done(&text(&self.seen)) && Instant::now() < deadline {
            match self.chunks.recv_timeout(Duration::from_millis(200)) {
                Ok(chunk) => self.seen.extend(chunk),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        text(&self.seen)
    }

    /// Close stdin (only now: an early end of input would end a shell before it read) and wait.
    fn finish(mut self) -> (Option<i32>, String) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        let rest = self.read_until(Duration::from_secs(5), |_| false);
        (status.code(), rest)
    }
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn on_a_terminal_the_run_shows_progress_bars_then_the_summary() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let p = LocalProject::new();
    let cmd = format!(
        "stty cols 120 rows 40; {} run arch:enable-default arch:must-fail",
        engine_bin().display()
    );
    let mut pty = Pty::spawn(p.path(), &cmd);
    pty.read_until(Duration::from_secs(120), |s| s.contains("report: "));
    let (code, seen) = pty.finish();
    assert_eq!(code, Some(1), "{seen}");
    // The overall bar with its counts, redrawn in place (escape sequences: a terminal display).
    assert!(seen.contains("/5 nodes"), "{seen}");
    assert!(seen.contains("1 ok, 1 failed"), "{seen}");
    assert!(seen.contains("\u{1b}[2K"), "{seen}");
    // Finished nodes scroll above the bars, with the failure's output; then the summary.
    assert!(
        seen.contains("passed    suite:arch:enable-default"),
        "{seen}"
    );
    assert!(seen.contains("    | enabled /usr/bin/ls"), "{seen}");
    assert!(seen.contains("some suites failed (exit 1)"), "{seen}");
    // NO_COLOR: the bars move the cursor, but no colour at all (SGR codes `ESC[...m`).
    let sgr = |s: &str| {
        s.match_indices("\u{1b}[")
            .filter(|(at, _)| {
                let rest = &s[at + 2..];
                let end = rest.find(|c: char| !(c.is_ascii_digit() || c == ';'));
                end.is_some_and(|e| rest[e..].starts_with('m'))
            })
            .count()
    };
    assert_eq!(sgr(&seen), 0, "{seen:?}");
    // Colours on (a terminal, no NO_COLOR): the grid's verdicts are painted.
    let mut pty = Pty::spawn_coloured(p.path(), &cmd, true);
    pty.read_until(Duration::from_secs(120), |s| s.contains("report: "));
    let (code, seen) = pty.finish();
    assert_eq!(code, Some(1), "{seen}");
    assert!(seen.contains("\u{1b}[1;31mFAIL\u{1b}[0m"), "{seen:?}");
    assert!(seen.contains("\u{1b}[32mok\u{1b}[0m"), "{seen:?}");
    assert_no_containers_left(&rt, &d, p.path());
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn engine_shell_opens_an_interactive_shell_in_the_provisioned_image() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let p = LocalProject::new();
    let cmd = format!(
        "{} shell arch -m {}/matrix.toml",
        engine_bin().display(),
        p.path().display()
    );
    let mut pty = Pty::spawn(p.path(), &cmd);
    // Typed before the container exists: it must still reach the shell.
    pty.type_in("cat /etc/os-release; echo \"cwd=$(pwd) distro=$ENGINE_DISTRO\"\n");
    let seen = pty.read_until(Duration::from_secs(120), |s| s.contains("distro=arch"));
    assert!(
        seen.lines().any(|l| l.trim_end() == "ID=arch"),
        "no ID=arch in:\n{seen}"
    );
    assert!(seen.contains("cwd=/workspace distro=arch"), "{seen}");
    // While the shell is open its container exists, labelled like every other.
    let mut f = std::collections::HashMap::new();
    f.insert("engine.node".to_string(), "shell:arch".to_string());
    let open = rt.block_on(d.list_containers(&f)).unwrap();
    let runs: Vec<String> = std::fs::read_dir(p.path().join(".engine/runs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        open.iter().any(
            |c| c.labels.get("engine.run").is_some_and(|r| runs.contains(r))
                && c.labels.contains_key("engine.pid")
        ),
        "no shell:arch container of this project's run while the shell is open: {open:?}"
    );
    pty.type_in("exit 7\n");
    let (code, seen) = pty.finish();
    assert_eq!(
        code,
        Some(7),
        "the shell's exit code is the command's:\n{seen}"
    );
    // A shell session is not a run: `latest` (none yet in this project) is not made to point
    // at its folder, whose logs say how the image chain was prepared.
    let runs = p.path().join(".engine/runs");
    assert!(
        !runs.join("latest").exists(),
        "latest points at a shell session"
    );
    let session = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .next()
        .expect("a session folder");
    assert!(
        session
            .path()
            .join("logs")
            .read_dir()
            .unwrap()
            .next()
            .is_some(),
        "an empty run folder"
    );
    assert_no_containers_left(&rt, &d, p.path());
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn engine_shell_with_a_suite_has_its_environment() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let p = LocalProject::new();
    let task = p.path().join("suites/enable-default/task.toml");
    let t = std::fs::read_to_string(&task).unwrap();
    // One more variable in the suite's environment (the images' cache keys do not depend on suites).
    let declared = "environment = { LANG = \"C.UTF-8\" }";
    assert!(t.contains(declared), "{t}");
    std::fs::write(
        &task,
        t.replace(
            declared,
            "environment = { LANG = \"C.UTF-8\", SHELL_PROBE = \"from-the-suite\" }",
        ),
    )
    .unwrap();
    let cmd = format!(
        "{} shell arch enable-default -m {}/matrix.toml",
        engine_bin().display(),
        p.path().display()
    );
    let mut pty = Pty::spawn(p.path(), &cmd);
    pty.type_in("echo \"probe=$SHELL_PROBE suite=$ENGINE_SUITE\"; exit\n");
    pty.read_until(Duration::from_secs(120), |s| {
        s.contains("probe=from-the-suite suite=enable-default")
    });
    let (code, seen) = pty.finish();
    assert!(
        seen.contains("probe=from-the-suite suite=enable-default"),
        "{seen}"
    );
    assert_eq!(code, Some(0), "{seen}");
    assert_no_containers_left(&rt, &d, p.path());
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn engine_shell_names_an_unknown_distro() {
    let p = LocalProject::new();
    let out = engine(p.path(), &["shell", "arhc"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("arch"), "{}", text(&out.stderr));
}

/// The grid and the suite counts of a summary (the image counts and the problem lines, whose
/// log paths name runs, left out).
fn grid_of(summary: &str) -> String {
    let mut out = String::new();
    for line in summary.lines() {
        if let Some(counts) = line.strip_prefix("suites: ") {
            out.push_str(counts.split("; images").next().unwrap_or(counts));
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The local example as three shards (`engine run --shard K/3 --report ...` each), merged by
/// `engine report merge`: the grid, the counts, the JUnit counts and the exit code of the one
/// unsharded run. Without one shard's report its cells are "not run" (infra, kind `shard`),
/// never passed, and the exit is 3.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn three_shards_merged_give_the_result_of_one_run() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let run = local_run();
    let p = run.project.path();
    let shard = |k: u32| p.join(format!("out/shard-{k}.json"));
    for k in 1..=3 {
        let report = shard(k);
        let out = engine(
            p,
            &[
                "run",
                "-j",
                "1",
                "--shard",
                &format!("{k}/3"),
                "--report",
                report.to_str().unwrap(),
            ],
        );
        assert!(
            matches!(out.status.code(), Some(0 | 1 | 3)),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let merged_junit = p.join("out/merged.xml");
    let merged_report = p.join("out/merged.json");
    let mut args: Vec<String> = vec!["report".into(), "merge".into()];
    args.extend((1..=3).map(|k| shard(k).display().to_string()));
    args.extend([
        "--junit".into(),
        merged_junit.display().to_string(),
        "--report".into(),
        merged_report.display().to_string(),
    ]);
    let out = engine(p, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), run.code, "{said}{}", text(&out.stderr));
    assert_eq!(grid_of(&said), grid_of(&run.stdout), "{said}");
    assert!(said.contains("3 reports merged"), "{said}");
    assert_eq!(
        junitparser_counts(&merged_junit),
        junitparser_counts(&run.junit)
    );
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged_report).unwrap()).unwrap();
    assert_eq!(merged["exit_code"], run.code.unwrap());

    // Shard 2's report lost: its suites are not run, and say why.
    let second: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shard(2)).unwrap()).unwrap();
    let lost = second["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "suite")
        .count();
    assert!(lost > 0, "shard 2 ran no suite");
    let without = p.join("out/without-2.json");
    let out = engine(
        p,
        &[
            "report",
            "merge",
            shard(1).to_str().unwrap(),
            shard(3).to_str().unwrap(),
            "--report",
            without.to_str().unwrap(),
        ],
    );
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("not run: no report of shard 2/3"), "{said}");
    let without: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&without).unwrap()).unwrap();
    let not_run = without["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["infra_kind"] == "shard")
        .count();
    assert_eq!(not_run, lost);
    assert_no_containers_left(&rt, &d, p);
}

/// `--rerun-failed` on the local example's report runs exactly its failed, timed-out and
/// infrastructure cells again, their images and provisions reused, nothing else.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn rerun_failed_runs_exactly_what_did_not_pass() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let run = local_run();
    let p = run.project.path();
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run.report).unwrap()).unwrap();
    let suites_with = |r: &serde_json::Value, statuses: &[&str]| -> Vec<String> {
        let mut ids: Vec<String> = r["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "suite")
            .filter(|n| statuses.contains(&n["status"].as_str().unwrap()))
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let again = suites_with(&first, &["failed", "timed_out", "infra"]);
    assert_eq!(
        again,
        [
            "suite:arch:must-fail",
            "suite:arch:times-out",
            "suite:cachyos:disable-in-german"
        ]
    );
    let rerun = p.join("out/rerun.json");
    let out = engine(
        p,
        &[
            "run",
            "--rerun-failed",
            run.report.to_str().unwrap(),
            "--report",
            rerun.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let second: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rerun).unwrap()).unwrap();
    let all = suites_with(
        &second,
        &[
            "passed",
            "failed",
            "timed_out",
            "infra",
            "skipped",
            "flaky",
            "cancelled",
            "dependency_failed",
        ],
    );
    assert_eq!(all, again, "exactly the cells that did not pass");
    for n in second["nodes"].as_array().unwrap() {
        if n["kind"] != "suite" {
            assert_eq!(n["status"], "cached", "{n}");
            assert!(
                ["arch", "cachyos"].contains(&n["distro"].as_str().unwrap()),
                "{n}"
            );
        }
    }
    assert_no_containers_left(&rt, &d, p);
}

/// Headless Chromium (Debian's `chromium`) on `page`, with `extra` arguments. Every http(s)
/// request it makes goes to a "proxy" on a loopback port of ours, which answers nothing and
/// returns the requests' first lines, less Chromium's own background calls to Google's
/// update, time and account services: what is left came from the page.
fn chromium(page: &Path, extra: &[&str]) -> (String, Vec<String>) {
    use std::net::TcpListener;
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let port = proxy.local_addr().unwrap().port();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            &format!("--proxy-server=http://127.0.0.1:{port}"),
            "--proxy-bypass-list=<-loopback>",
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("chromium ({e}): scripts/install-test-deps.sh installs it"));
    assert!(
        out.status.success(),
        "chromium failed:\n{}",
        text(&out.stderr)
    );
    let mut requests = Vec::new();
    while let Ok((mut conn, _)) = proxy.accept() {
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
        let mut head = [0u8; 512];
        let n = conn.read(&mut head).unwrap_or(0);
        let line = String::from_utf8_lossy(&head[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let chromiums_own = ["google.com", "googleapis.com", "gstatic.com", "gvt1.com"]
            .iter()
            .any(|host| {
                line.split_whitespace().nth(1).is_some_and(|target| {
                    let host_port = target
                        .trim_start_matches("http://")
                        .trim_start_matches("https://")
                        .split('/')
                        .next()
                        .unwrap_or("");
                    let name = host_port.split(':').next().unwrap_or("");
                    name == *host || name.ends_with(&format!(".{host}"))
                })
            });
        if !chromiums_own {
            requests.push(line);
        }
    }
    (text(&out.stdout), requests)
}

/// The HTML page of the local example's run, in a real browser: every cell of the report is
/// in the DOM with its verdict, the page fetches nothing, and a phone-sized screenshot is kept
/// as a test artifact (`target/test-artifacts/local-report.png`).
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn the_html_report_renders_in_headless_chromium_with_every_cell() {
    let Some(DockerTest { .. }) = DockerTest::start() else {
        return;
    };
    let run = local_run();
    assert!(run.html.is_file(), "no {}", run.html.display());
    let (dom, requests) = chromium(&run.html, &["--dump-dom"]);
    assert_eq!(requests, Vec::<String>::new(), "the page made requests");
    assert!(dom.contains("<table id=\"grid\">"), "{dom}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run.report).unwrap()).unwrap();
    let mut cells = 0;
    for n in report["nodes"].as_array().unwrap() {
        let suite = match (n["kind"].as_str(), n["suite"].as_str()) {
            (Some("suite"), Some(s)) => s.to_string(),
            (Some("provision"), _) => "(provision)".to_string(),
            _ => continue,
        };
        let cell = format!(
            "data-distro=\"{}\" data-suite=\"{suite}\" data-status=\"{}\"",
            n["distro"].as_str().unwrap(),
            n["status"].as_str().unwrap()
        );
        assert!(dom.contains(&cell), "no cell {cell} in the DOM");
        cells += 1;
    }
    for s in report["skipped"].as_array().unwrap() {
        let cell = format!(
            "data-distro=\"{}\" data-suite=\"{}\" data-status=\"not_applicable\"",
            s["distro"].as_str().unwrap(),
            s["suite"].as_str().unwrap()
        );
        // A skip by policy is a node; only pairs that never ran are not applicable.
        if !report["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["distro"] == s["distro"] && n["suite"] == s["suite"])
        {
            assert!(dom.contains(&cell), "no cell {cell} in the DOM");
        }
    }
    assert!(cells >= 20, "{cells} cells");
    // The failed suite's tail is in its cell, and in the always-open list below the grid.
    assert!(dom.contains("id=\"suite:arch:must-fail\""), "{dom}");
    let artifacts = repo().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png = artifacts.join("local-report.png");
    let _ = std::fs::remove_file(&png);
    let (_, requests) = chromium(
        &run.html,
        &[
            "--window-size=412,915",
            &format!("--screenshot={}", png.display()),
        ],
    );
    assert_eq!(requests, Vec::<String>::new(), "the page made requests");
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{} bytes",
        bytes.len()
    );
}
