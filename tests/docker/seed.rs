//! The seed's own suites, for real: oxidizr-arch as published (the fixture archive beside the
//! repository, `../shared/fixtures/`), its nine `tests/*/task.yaml` read unchanged, on the
//! pacman-based look-alikes of examples/seed (real pacman and makepkg, the product and
//! sudo-rs built from source). Every cell of the grid in examples/seed/README.md is asserted.
//!
//! It runs beside the other Docker tests (its images, caches and containers are its own).
//! Without the fixture it skips loudly; under `CI=true` it fails.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::*;

const FIXTURE: &str = "oxidizr-arch-d9480f9.tar.gz";
const DISTROS: [&str; 4] = ["arch", "cachyos", "endeavouros", "manjaro"];

/// The grid of examples/seed/README.md: per suite, the status on arch, cachyos, endeavouros,
/// manjaro ("-" where the suite's `distro-check` leaves the distro out).
const GRID: &[(&str, [&str; 4])] = &[
    ("disable-all", ["passed", "passed", "passed", "passed"]),
    ("disable-default", ["passed", "passed", "passed", "passed"]),
    ("disable-in-german", ["passed", "-", "-", "-"]),
    ("disable-partial", ["passed", "passed", "passed", "passed"]),
    ("enable-all", ["passed", "passed", "passed", "passed"]),
    ("enable-default", ["passed", "failed", "failed", "failed"]),
    (
        "enable-no-compatibility-check",
        ["passed", "failed", "failed", "failed"],
    ),
    ("enable-partial", ["passed", "failed", "failed", "failed"]),
    ("non-root", ["passed", "passed", "passed", "passed"]),
];

/// The line each failing suite writes about the product, which its failure must show.
const FAILURE_LINES: &[(&str, &str)] = &[
    ("enable-default", "uutils-coreutils should be installed"),
    ("enable-partial", "uutils-coreutils should be installed"),
    (
        "enable-no-compatibility-check",
        "Error: Unsupported distribution or release: Unsupported Arch release",
    ),
];

/// The fixture, or None after a loud SKIP (a failure under CI=true, where it is provided).
fn fixture() -> Option<PathBuf> {
    let p = repo().join("../shared/fixtures").join(FIXTURE);
    if p.is_file() {
        return Some(p);
    }
    let why = format!(
        "the seed fixture {} is missing (the seed project as published, kept beside this repository)",
        p.display()
    );
    skip_or_fail(&test_name(), &why)
}

/// Every file of the archive by its path under the top folder (`tests/x/task.yaml`).
fn archive_files(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let gz = std::fs::read(path).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut tar)
        .unwrap();
    let mut out = BTreeMap::new();
    for entry in tar::Archive::new(tar.as_slice()).entries().unwrap() {
        let mut e = entry.unwrap();
        if !e.header().entry_type().is_file() {
            continue;
        }
        let full = e.path().unwrap().to_string_lossy().into_owned();
        let rel = full
            .split_once('/')
            .map_or(full.clone(), |(_, r)| r.to_string());
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        out.insert(rel, bytes);
    }
    out
}

/// The task files the engine reads are the archive's, byte for byte, and the project holds
/// none of the fixture's code or task files.
fn assert_task_files_unchanged(fixture: &Path) {
    let files = archive_files(fixture);
    let tasks: Vec<(&String, &Vec<u8>)> = files
        .iter()
        .filter(|(p, _)| p.starts_with("tests/") && p.ends_with("/task.yaml"))
        .collect();
    assert_eq!(tasks.len(), 9, "{:?}", files.keys().collect::<Vec<_>>());
    let dump = engine(
        &repo(),
        &["validate", "-m", "examples/seed/matrix.toml", "--dump"],
    );
    assert_eq!(dump.status.code(), Some(0), "{}", text(&dump.stderr));
    let model: serde_json::Value = serde_json::from_slice(&dump.stdout).unwrap();
    let workspace = PathBuf::from(model["workspace"]["source"].as_str().unwrap());
    for (rel, bytes) in &tasks {
        let read = std::fs::read(workspace.join(rel)).unwrap();
        assert!(&read == *bytes, "{rel} differs from the archive's");
    }
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(repo())
        .output()
        .unwrap();
    for name in String::from_utf8_lossy(&listed.stdout).split('\0') {
        let Ok(content) = std::fs::read(repo().join(name)) else {
            continue;
        };
        for (rel, bytes) in &files {
            let code_or_task = rel.ends_with(".rs") || rel.ends_with("task.yaml");
            assert!(
                !(code_or_task && bytes.len() > 64 && content == *bytes),
                "{name} is a copy of the fixture's {rel}"
            );
        }
    }
}

/// Runs examples/seed (on Docker, or on the engine at `docker_host`); returns the report and
/// how long the run took. Holds the example's folder while it runs: a run writes its
/// `.engine/runs/latest`, which the caller then reads.
fn run_seed(docker_host: Option<&str>) -> (serde_json::Value, Duration) {
    let t = Instant::now();
    let mut cmd = engine_cmd(&repo(), &["run", "-m", "examples/seed/matrix.toml"]);
    if let Some(host) = docker_host {
        cmd.env("DOCKER_HOST", host);
    }
    let out = cmd.output().unwrap();
    let took = t.elapsed();
    let report = last_report(&repo().join("examples/seed"));
    assert_eq!(
        out.status.code(),
        Some(1),
        "some suites fail by the product's contract, none is an infrastructure error:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    (report, took)
}

/// The seed tests run examples/seed in place, one at a time.
fn seed_folder() -> std::sync::MutexGuard<'static, ()> {
    static FOLDER: std::sync::Mutex<()> = std::sync::Mutex::new(());
    FOLDER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn assert_grid(report: &serde_json::Value) {
    for (suite, cells) in GRID {
        for (distro, want) in DISTROS.iter().zip(cells) {
            let id = format!("suite:{distro}:{suite}");
            if *want == "-" {
                let skipped = report["skipped"].as_array().unwrap();
                assert!(
                    skipped.iter().any(|s| s["distro"] == *distro
                        && s["suite"] == *suite
                        && s["reason"].as_str().unwrap().contains("distro-check")),
                    "{id} is not applicable by its distro-check: {skipped:?}"
                );
                continue;
            }
            let node = report_node(report, &id);
            assert_eq!(node["status"], *want, "{id}: {node}");
            if *want == "failed" {
                let line = FAILURE_LINES.iter().find(|(s, _)| s == suite).unwrap().1;
                let tail = tail_lines(node);
                assert!(
                    tail.contains(&line),
                    "{id}: no `{line}` in its tail {tail:?}"
                );
                // The tail is execute's; restore's output follows in the log, not here.
                assert_eq!(tail.last(), Some(&"[runner] == execute: exit 1 =="), "{id}");
                assert!(
                    !tail.iter().any(|l| l.contains("== restore")),
                    "{id}: {tail:?}"
                );
                assert_eq!(node["reason"], "execute exited with 1", "{id}");
            }
        }
    }
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn the_seeds_own_suites_give_the_documented_grid_and_a_second_run_reuses_everything() {
    let Some(fixture) = fixture() else {
        return;
    };
    let rt = runtime();
    let Some(d) = rt.block_on(daemon()) else {
        return;
    };
    assert_task_files_unchanged(&fixture);
    let _folder = seed_folder();

    let (first, took) = run_seed(None);
    eprintln!("examples/seed: first run {took:?}");
    assert_grid(&first);
    // The AUR path went through the local paru stand-in on the distros that build it.
    for distro in ["arch", "endeavouros", "manjaro"] {
        let node = report_node(&first, &format!("provision:{distro}"));
        let log = std::fs::read_to_string(node["log"].as_str().unwrap()).unwrap_or_default();
        let cached = node["status"] == "cached";
        assert!(
            cached || log.contains("paru"),
            "provision:{distro} built no paru:\n{log}"
        );
    }

    // The look-alikes are built by BuildKit with pacman's package cache as a cache mount that
    // the four builds share: packages are downloaded by one build at most (none when the
    // mount is warm from an earlier run), not by each.
    let (mut built, mut downloaded) = (0, 0);
    for distro in DISTROS {
        let node = report_node(&first, &format!("image:{distro}"));
        if node["status"] == "cached" {
            continue;
        }
        let log = std::fs::read_to_string(node["log"].as_str().unwrap()).unwrap_or_default();
        assert!(
            log.contains("[engine] builder: BuildKit")
                && log.contains("RUN --mount=type=cache,id=engine-seed-pacman-pkg"),
            "image:{distro} was not built by BuildKit with the cache mount:\n{log}"
        );
        built += 1;
        if log.contains("glibc-2.36-1-any downloading") {
            downloaded += 1;
        }
    }
    assert!(
        downloaded <= 1,
        "{downloaded} of {built} look-alike builds downloaded pacman's packages"
    );

    let (second, took) = run_seed(None);
    eprintln!("examples/seed: second run {took:?}");
    for distro in DISTROS {
        for kind in ["base", "image", "provision"] {
            let id = format!("{kind}:{distro}");
            assert_eq!(
                report_node(&second, &id)["status"],
                "cached",
                "{id} was made again"
            );
        }
    }
    assert_grid(&second);
    assert!(took < Duration::from_secs(120), "a warm run took {took:?}");
    let left = engine_containers(&rt, &d);
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

/// The same suites on rootful Podman: the same grid, the look-alikes built by Buildah with
/// pacman's cache mount, and nothing left in Podman afterwards.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn the_seeds_own_suites_on_rootful_podman_give_the_same_grid() {
    if fixture().is_none() {
        return;
    }
    let Some(podman) = crate::support::podman::PodmanService::start(&test_name()) else {
        return;
    };
    let _folder = seed_folder();
    let (report, took) = run_seed(Some(&podman.endpoint));
    eprintln!("examples/seed on Podman: {took:?}");
    assert_grid(&report);
    for distro in DISTROS {
        let node = report_node(&report, &format!("image:{distro}"));
        if node["status"] == "cached" {
            continue;
        }
        let log = std::fs::read_to_string(node["log"].as_str().unwrap()).unwrap_or_default();
        assert!(
            log.contains("[engine] builder: Buildah (Podman's builder)")
                && log.contains("RUN --mount=type=cache,id=engine-seed-pacman-pkg"),
            "image:{distro} was not built by Buildah with the cache mount:\n{log}"
        );
    }
    let left = crate::support::podman::PodmanService::of_project(
        &["ps", "-a"],
        &repo().join("examples/seed"),
    );
    assert_eq!(left, 0, "containers left in Podman");
    let out = podman.engine(
        &repo(),
        &["clean", "--images", "-m", "examples/seed/matrix.toml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
