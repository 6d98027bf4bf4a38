//! The seed project's repository as it is: its `tests/` tree (suite folders with the seed's
//! task.yaml, support folders such as `tests/lib`, stray files) and the seed's task.yaml rules.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{copy_tree, engine, repo_root, stderr, stdout};

/// A project from the corpus base whose suites are `tests/*` instead of `suites/*`.
fn project_with_tests_glob(suites: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), &root);
    let m = root.join("matrix.toml");
    let t = std::fs::read_to_string(&m)
        .unwrap()
        .replace("suites = \"suites/*\"", &format!("suites = {suites}"));
    std::fs::write(&m, t).unwrap();
    (tmp, root)
}

fn write(root: &Path, file: &str, text: &str) {
    let p = root.join(file);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn seed_task(distros: &[&str]) -> String {
    let mut t = String::from("summary: a seed suite\ndistro-check:\n");
    for d in distros {
        t.push_str(&format!("  - {d}\n"));
    }
    t.push_str("execute: |\n  set -euo pipefail\n  true\nrestore: |\n  true\n");
    t
}

/// A real-style tree: suites with the seed's task.yaml, `tests/lib` with support files, and
/// stray files at `tests/`.
fn real_style_tree(root: &Path) {
    write(
        root,
        "tests/enable-default/task.yaml",
        &seed_task(&["arch", "cachyos"]),
    );
    write(root, "tests/disable-all/task.yaml", &seed_task(&["arch"]));
    write(
        root,
        "tests/lib/cloud-config.yaml",
        "#cloud-config\nusers: [spread]\n",
    );
    write(root, "tests/lib/rust-coreutils-bins.txt", "ls\ncat\n");
    write(root, "tests/README.md", "# The suites\n");
    write(root, "tests/cli_tests.rs", "// cargo's own tests\n");
}

#[test]
fn a_real_style_tree_validates_unchanged_and_names_its_support_folder_once() {
    let (_tmp, root) = project_with_tests_glob("\"tests/*\"");
    real_style_tree(&root);
    let out = engine(&root, &["validate"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("tests/lib: no task.toml or task.yaml, not a suite")
            .count(),
        1,
        "{err}"
    );
    assert!(stdout(&out).contains("2 suites"), "{}", stdout(&out));
    // In JSON the support folder is a note, not an error.
    let json = engine(&root, &["validate", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["valid"], true);
    let notes: Vec<&serde_json::Value> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "check::support-folder")
        .collect();
    assert_eq!(notes.len(), 1, "{v}");
    assert_eq!(notes[0]["severity"], "note");
}

#[test]
fn a_bang_glob_leaves_a_folder_out_and_a_glob_of_support_folders_only_is_an_error() {
    let (_tmp, root) = project_with_tests_glob("[\"tests/*\", \"!tests/lib\"]");
    real_style_tree(&root);
    let out = engine(&root, &["validate"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("tests/lib"), "left out, yet named: {err}");

    let (_tmp, root) = project_with_tests_glob("[\"tests/*\", \"support/*\"]");
    real_style_tree(&root);
    write(&root, "support/lib/notes.txt", "no suite here\n");
    let out = engine(&root, &["validate", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let d = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "check::no-suites")
        .unwrap_or_else(|| panic!("no check::no-suites in {v}"));
    assert!(d["message"].as_str().unwrap().contains("support/*"), "{d}");
    assert_eq!(d["line"], 2, "underlined at the second glob: {d}");
}

#[test]
fn an_empty_distro_check_means_every_distro() {
    let (_tmp, root) = project_with_tests_glob("\"tests/*\"");
    write(
        &root,
        "tests/everywhere/task.yaml",
        "summary: all\ndistro-check: []\nexecute: |\n  true\n",
    );
    write(
        &root,
        "tests/absent/task.yaml",
        "summary: all\nexecute: |\n  true\n",
    );
    let out = engine(&root, &["list"]);
    let listed = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for id in [
        "suite:arch:everywhere",
        "suite:cachyos:everywhere",
        "suite:arch:absent",
        "suite:cachyos:absent",
    ] {
        assert!(listed.contains(id), "{id} missing from:\n{listed}");
    }
}

#[test]
fn a_distro_check_entry_the_matrix_lacks_is_a_warning_with_the_closest_name() {
    let (_tmp, root) = project_with_tests_glob("\"tests/*\"");
    write(
        &root,
        "tests/t/task.yaml",
        &seed_task(&["arch", "manjaro", "cachyoss"]),
    );
    let out = engine(&root, &["validate", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let warnings: Vec<&serde_json::Value> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "check::unknown-distro")
        .collect();
    assert_eq!(warnings.len(), 2, "{v}");
    assert!(warnings.iter().all(|w| w["severity"] == "warning"), "{v}");
    let cachyoss = warnings
        .iter()
        .find(|w| w["message"].as_str().unwrap().contains("cachyoss"))
        .unwrap();
    assert!(
        cachyoss["help"]
            .as_str()
            .unwrap()
            .contains("did you mean \"cachyos\""),
        "{cachyoss}"
    );
    assert_eq!(cachyoss["file"], "tests/t/task.yaml");
    assert_eq!(cachyoss["line"], 5, "{cachyoss}");
    // The suite runs where the matrix has its distros, and the skip reason names the seed's key.
    let list = engine(&root, &["list", "--why"]);
    let text = stdout(&list);
    assert!(text.contains("suite:arch:t"), "{text}");
    assert!(text.contains("distro-check"), "{text}");
}

/// `engine validate --format json` in `root`: the exit code and the report.
fn validate_json(root: &Path) -> (Option<i32>, serde_json::Value) {
    let out = engine(root, &["validate", "--format", "json"]);
    let v = serde_json::from_str(&stdout(&out)).unwrap();
    (out.status.code(), v)
}

/// The first diagnostic with `code`: (severity, file, line).
fn first(v: &serde_json::Value, code: &str) -> (String, String, u64) {
    let d = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {v}"));
    let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
    (s("severity"), s("file"), d["line"].as_u64().unwrap_or(0))
}

#[test]
fn unknown_keys_warn_in_task_yaml_and_fail_in_task_toml() {
    let (_tmp, root) = project_with_tests_glob("\"tests/*\"");
    let yaml = "summary: y\nworkers: 2\nexecute: |\n  true\n";
    write(&root, "tests/y/task.yaml", yaml);
    let (code, v) = validate_json(&root);
    assert_eq!(code, Some(0), "{v}");
    let want = ("warning".to_string(), "tests/y/task.yaml".to_string(), 2);
    assert_eq!(first(&v, "schema::unknown-key"), want);

    std::fs::remove_dir_all(root.join("tests/y")).unwrap();
    let toml = "summary = \"t\"\nworkers = 2\nexecute = \"true\"\n";
    write(&root, "tests/t/task.toml", toml);
    let (code, v) = validate_json(&root);
    assert_eq!(code, Some(2), "{v}");
    let want = ("error".to_string(), "tests/t/task.toml".to_string(), 2);
    assert_eq!(first(&v, "schema::unknown-key"), want);
}

/// The seed project's own `tests/` tree, from `../shared/fixtures` (next to the repository, as
/// in CI): nine suites and `tests/lib` validate unchanged against a two-distro matrix.
#[test]
fn the_seeds_own_test_tree_validates_unchanged() {
    let fixtures = repo_root().join("../shared/fixtures");
    let Some(archive) = std::fs::read_dir(&fixtures).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
    }) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but the seed fixture is missing from {}",
            fixtures.display()
        );
        eprintln!(
            "\n=== SKIP: no seed fixture in {} ===\n",
            fixtures.display()
        );
        return;
    };
    let (_tmp, root) = project_with_tests_glob("\"tests/*\"");
    let unpacked = tempfile::tempdir().unwrap();
    let ok = Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(unpacked.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let seed_tests = std::fs::read_dir(unpacked.path())
        .unwrap()
        .flatten()
        .map(|e| e.path().join("tests"))
        .find(|p| p.is_dir())
        .expect("the archive holds <project>/tests");
    copy_tree(&seed_tests, &root.join("tests"));
    let out = engine(&root, &["validate", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["summary"]["suites"], 9, "{v}");
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == "check::support-folder")
            .count(),
        1,
        "{codes:?}"
    );
}
