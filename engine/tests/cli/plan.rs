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

#[test]
fn github_matrix_shards_cover_every_suite_once() {
    let out = engine(
        &repo_root(),
        &["plan", "--format", "github-matrix", "--shards", "3"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let jobs = v["include"].as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[1]["command"], "engine run --shard 2/3");
    let total: u64 = jobs.iter().map(|j| j["suites"].as_u64().unwrap()).sum();
    assert_eq!(total, 36);
    // Each shard's own listing agrees with the matrix it was given.
    let mut seen = std::collections::HashSet::new();
    for k in 1..=3 {
        let list = stdout(&engine(
            &repo_root(),
            &["list", "--shard", &format!("{k}/3")],
        ));
        let suites: Vec<&str> = list
            .lines()
            .filter(|l| l.starts_with("suite"))
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(suites.len() as u64, jobs[k - 1]["suites"].as_u64().unwrap());
        for s in suites {
            assert!(seen.insert(s.to_string()), "{s} in two shards");
        }
    }
    assert_eq!(seen.len(), 36);
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
