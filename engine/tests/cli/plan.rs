//! `engine graph`, `engine list` and `engine plan` on the repository's root matrix.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{engine, repo_root, stderr, stdout};

/// Cache keys change with every edit of the repository (the root matrix's build context is the
/// repository): snapshots show where they are, not their value.
fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut l = line.to_string();
        for word in line.split(|c: char| !c.is_ascii_hexdigit()) {
            if word.len() == 12 {
                l = l.replace(word, "[KEY]");
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[test]
fn graph_dot_snapshot() {
    let out = engine(&repo_root(), &["graph", "--dot"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("graph_dot_root", redact_keys(&stdout(&out)));
}

#[test]
fn graph_dot_is_stable_between_calls() {
    let a = stdout(&engine(&repo_root(), &["graph"]));
    let b = stdout(&engine(&repo_root(), &["graph", "--dot"]));
    assert_eq!(a, b);
}

#[test]
fn list_snapshot() {
    let out = engine(&repo_root(), &["list", "--why"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("list_root", redact_keys(&stdout(&out)));
}

#[test]
fn dot_renders_with_graphviz() {
    let dot = stdout(&engine(&repo_root(), &["graph", "--dot"]));
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("graphviz `dot` is required under CI (.ci/run installs it): {e}")
        }
        Err(e) => {
            eprintln!("SKIP dot_renders_with_graphviz: graphviz `dot` not found ({e}); apt-get install graphviz");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = String::from_utf8_lossy(&out.stdout);
    assert!(
        svg.contains("<svg") && svg.contains("suite:arch:disable&#45;in&#45;german"),
        "unexpected SVG"
    );
}

#[test]
fn list_one_pair_selects_exactly_its_chain() {
    let out = engine(&repo_root(), &["list", "arch:disable-in-german"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ids: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "base:arch",
            "image:arch",
            "provision:arch",
            "suite:arch:disable-in-german"
        ]
    );
}

#[test]
fn list_of_an_unknown_name_exits_2_with_a_suggestion() {
    let out = engine(&repo_root(), &["list", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`nosuch` matches nothing"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("known distros: arch, cachyos, endeavouros, manjaro"));
    let out = engine(&repo_root(), &["list", "cachyso"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `cachyos`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn graph_json_lists_nodes_with_deps_and_keys() {
    let out = engine(&repo_root(), &["graph", "--json", "--distros", "arch"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3 + 9);
    assert_eq!(nodes[1]["id"], "image:arch");
    assert_eq!(nodes[1]["deps"][0], "base:arch");
    assert_eq!(nodes[1]["cache_key"].as_str().unwrap().len(), 64);
}

/// The shards of the root matrix (4 distros, 36 suites) as `engine plan` gives them and as
/// each job's own `engine list --shard` sees them: disjoint, covering, and image-affine: with 2
/// shards each builds the images of exactly two distros, with 4 of exactly one, with 3 each
/// distro's image is built by one shard only, with 8 each shard builds one.
#[test]
fn github_matrix_shards_cover_every_suite_once_and_keep_distros_together() {
    for (count, distros_each) in [(2u64, Some(2usize)), (3, None), (4, Some(1)), (8, Some(1))] {
        let n = count.to_string();
        let out = engine(
            &repo_root(),
            &["plan", "--format", "github-matrix", "--shards", &n],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let jobs = v["include"].as_array().unwrap();
        assert_eq!(jobs.len() as u64, count);
        assert_eq!(jobs[1]["command"], format!("engine run --shard 2/{count}"));
        let total: u64 = jobs.iter().map(|j| j["suites"].as_u64().unwrap()).sum();
        assert_eq!(total, 36);
        let mut seen = std::collections::HashSet::new();
        let mut built = Vec::new();
        for k in 1..=count {
            let list = stdout(&engine(
                &repo_root(),
                &["list", "--shard", &format!("{k}/{count}")],
            ));
            let ids = |kind: &str| -> Vec<String> {
                list.lines()
                    .filter(|l| l.starts_with(kind))
                    .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
                    .collect()
            };
            let suites = ids("suite");
            let job = &jobs[(k - 1) as usize];
            assert_eq!(suites.len() as u64, job["suites"].as_u64().unwrap());
            for s in suites {
                assert!(seen.insert(s.clone()), "{s} in two shards");
            }
            // The distros the plan names are those whose images the shard's run builds.
            let images: Vec<String> = ids("image")
                .iter()
                .map(|i| i.trim_start_matches("image:").to_string())
                .collect();
            let named: Vec<String> = job["distros"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_string())
                .collect();
            assert_eq!(images, named, "shard {k}/{count}");
            if let Some(each) = distros_each {
                assert_eq!(named.len(), each, "shard {k}/{count} builds {named:?}");
            }
            built.extend(named);
        }
        assert_eq!(seen.len(), 36);
        if count <= 4 {
            built.sort();
            assert_eq!(
                built,
                ["arch", "cachyos", "endeavouros", "manjaro"],
                "each image once"
            );
        }
    }
}

/// More shards than a GitHub Actions matrix may have jobs: capped at 256, with a note.
#[test]
fn the_job_count_is_capped_at_githubs_limit() {
    let out = engine(&repo_root(), &["plan", "--shards", "1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1000 shards capped at 256"),
        "{}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let jobs = v["include"].as_array().unwrap();
    assert_eq!(jobs.len(), 256);
    assert_eq!(jobs[255]["shard"], "256/256");
    let total: u64 = jobs.iter().map(|j| j["suites"].as_u64().unwrap()).sum();
    assert_eq!(total, 36);
}

/// With an earlier report's timings, the shards are balanced by time, each job's command
/// carries the same `--timings` (so that every job computes the same partition), and the plan
/// says what each shard is expected to take.
#[test]
fn shards_balanced_by_timings_carry_them_to_each_job() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    // arch's suites are slow (60 s each), the others' fast (1 s).
    let list = stdout(&engine(&repo_root(), &["list"]));
    let nodes: Vec<serde_json::Value> = list
        .lines()
        .filter(|l| l.starts_with("suite"))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .map(|id| {
            let ms = if id.starts_with("suite:arch:") {
                60_000
            } else {
                1_000
            };
            serde_json::json!({ "id": id, "duration_ms": ms })
        })
        .collect();
    assert_eq!(nodes.len(), 36);
    std::fs::write(&report, serde_json::json!({ "nodes": nodes }).to_string()).unwrap();
    let timings = report.display().to_string();
    let out = engine(
        &repo_root(),
        &["plan", "--shards", "2", "--timings", &timings],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let jobs = v["include"].as_array().unwrap();
    assert_eq!(
        jobs[0]["command"],
        format!("engine run --shard 1/2 --timings '{timings}'")
    );
    let text = engine(
        &repo_root(),
        &[
            "plan",
            "--format",
            "text",
            "--shards",
            "2",
            "--timings",
            &timings,
        ],
    );
    let text = stdout(&text);
    assert!(text.contains("shard 1/2"), "{text}");
    assert!(text.contains("builds"), "{text}");
    // Whole distros, and the slow one alone.
    let alone = jobs
        .iter()
        .find(|j| j["distros"] == serde_json::json!(["arch"]))
        .unwrap_or_else(|| panic!("arch is not alone: {jobs:?}"));
    assert!(alone["expected_seconds"].as_u64().unwrap() > 0);
}

/// A selection that leaves no suite to run is not green: exit 4 before any container, naming
/// the pairs that do not apply and why; `--allow-empty` opts out. (No daemon is needed: the
/// check comes before connecting, and DOCKER_HOST points nowhere to prove it.)
#[test]
fn a_run_of_nothing_fails_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    crate::common::copy_tree(&repo_root().join("engine/tests/corpus/_base"), &base);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["run", "cachyos:legacy"])
        .current_dir(&base)
        .env("NO_COLOR", "1")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("no suite to run"), "{err}");
    assert!(
        err.contains("cachyos:legacy: not in the suite's `distro-check` list"),
        "{err}"
    );
    assert!(err.contains("--allow-empty"), "{err}");
    assert!(!base.join(".engine").exists(), "nothing may be written");
    // With --allow-empty the run goes on (here to the missing daemon: exit 3).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["run", "cachyos:legacy", "--allow-empty"])
        .current_dir(&base)
        .env("NO_COLOR", "1")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

/// `--rerun-failed REPORT` selects exactly the suites the report says did not pass (failed,
/// timed out, infrastructure, not run because of one, cancelled), with what they need; with
/// `--shard` it slices that; a report with none is "no suite to run" (exit 4), an unreadable
/// one exit 2.
#[test]
fn rerun_failed_selects_what_did_not_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let node = |id: &str, status: &str| {
        let kind = id.split(':').next().unwrap();
        serde_json::json!({ "id": id, "kind": kind, "status": status })
    };
    let nodes = [
        node("image:arch", "passed"),
        node("suite:arch:enable-default", "passed"),
        node("suite:arch:disable-all", "failed"),
        node("suite:manjaro:enable-default", "timed_out"),
        node("suite:manjaro:disable-all", "flaky"),
        node("suite:cachyos:enable-default", "infra"),
        node("suite:cachyos:disable-all", "dependency_failed"),
        node("suite:endeavouros:enable-default", "cancelled"),
        node("suite:endeavouros:disable-all", "xfail"),
    ];
    std::fs::write(&report, serde_json::json!({ "nodes": nodes }).to_string()).unwrap();
    let r = report.display().to_string();
    let listed = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["list", "--rerun-failed", &r];
        args.extend_from_slice(extra);
        let out = engine(&repo_root(), &args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
            .collect()
    };
    let all = listed(&[]);
    let suites: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("suite:"))
        .collect();
    assert_eq!(
        suites,
        [
            "suite:arch:disable-all",
            "suite:cachyos:disable-all",
            "suite:cachyos:enable-default",
            "suite:endeavouros:enable-default",
            "suite:manjaro:enable-default",
        ],
        "{all:?}"
    );
    for chain in [
        "base:arch",
        "image:arch",
        "provision:arch",
        "provision:manjaro",
    ] {
        assert!(all.iter().any(|l| l == chain), "no {chain} in {all:?}");
    }
    // Shards of the re-run cover it once.
    let mut seen: Vec<String> = (1..=2)
        .flat_map(|k| listed(&["--shard", &format!("{k}/2")]))
        .filter(|l| l.starts_with("suite:"))
        .collect();
    seen.sort();
    assert_eq!(seen.len(), 5, "{seen:?}");
    seen.dedup();
    assert_eq!(seen.len(), 5, "{seen:?}");
    // The plan's jobs carry the flag.
    let plan = stdout(&engine(
        &repo_root(),
        &["plan", "--shards", "2", "--rerun-failed", &r],
    ));
    assert!(plan.contains(&format!("--rerun-failed '{r}'")), "{plan}");

    // Nothing failed: no suite to run, before any daemon is asked.
    let green = tmp.path().join("green.json");
    std::fs::write(
        &green,
        serde_json::json!({ "nodes": [node("suite:arch:enable-default", "passed")] }).to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["run", "--rerun-failed", green.to_str().unwrap()])
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("no suite that failed"), "{err}");
    assert!(
        err.contains("--allow-empty to make that a success"),
        "{err}"
    );
    // Not a report.
    let out = engine(&repo_root(), &["list", "--rerun-failed", "Cargo.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("for --rerun-failed"),
        "{}",
        stderr(&out)
    );
}
