//! A workspace given as a source archive (`[workspace] archive`): unpacked once into the
//! engine's cache, suites found in it through `{workspace}/` globs, errors at their place.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{copy_tree, repo_root, stderr, stdout};

/// The corpus base whose workspace is `proj.tar.gz` and whose suites are in it.
fn project(workspace: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    copy_tree(
        &repo_root().join("engine/tests/corpus/_base"),
        &root.join("p"),
    );
    std::fs::remove_dir_all(root.join("p/suites")).unwrap();
    let m = root.join("p/matrix.toml");
    let t = std::fs::read_to_string(&m)
        .unwrap()
        .replace("suites = \"suites/*\"", "suites = \"{workspace}/tests/*\"");
    std::fs::write(&m, format!("{t}\n[workspace]\n{workspace}\n")).unwrap();
    (tmp, root)
}

/// A `.tar.gz` of a seed-like tree under one top folder: two suites and a support folder.
fn write_archive(path: &Path, execute: &str) {
    let mut b = tar::Builder::new(Vec::new());
    let files = [
        (
            "proj-1.0/tests/one/task.yaml",
            format!("summary: one\nexecute: |\n  {execute}\n"),
        ),
        (
            "proj-1.0/tests/two/task.yaml",
            "summary: two\nexecute: |\n  true\n".to_string(),
        ),
        ("proj-1.0/tests/lib/helpers.sh", "true\n".to_string()),
        ("proj-1.0/src/main.rs", "fn main() {}\n".to_string()),
    ];
    for (p, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, p, text.as_bytes()).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &b.into_inner().unwrap()).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

fn engine_with_cache(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(args)
        .current_dir(root.join("p"))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env("ENGINE_CACHE_DIR", root.join("cache"))
        .env_remove("ENGINE_MATRIX")
        .output()
        .expect("engine runs")
}

#[test]
fn suites_are_found_in_the_unpacked_archive_and_its_folder_is_the_workspace() {
    let (_tmp, root) = project("archive = \"../proj-1.0.tar.gz\"");
    write_archive(&root.join("proj-1.0.tar.gz"), "echo first");
    let out = engine_with_cache(&root, &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("suite:arch:one") && text.contains("suite:arch:two"),
        "{text}"
    );
    assert!(
        !text.contains(":lib"),
        "tests/lib is a support folder: {text}"
    );
    // The workspace is the unpacked tree (top folder stripped) in the engine's cache.
    let dump = engine_with_cache(&root, &["validate", "--dump"]);
    assert_eq!(dump.status.code(), Some(0), "{}", stderr(&dump));
    let unpacked: Vec<PathBuf> = std::fs::read_dir(root.join("cache/workspaces"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(unpacked.len(), 1, "{unpacked:?}");
    assert!(unpacked[0].join("src/main.rs").is_file());
    assert!(
        stdout(&dump).contains(&unpacked[0].display().to_string()),
        "{}",
        stdout(&dump)
    );
    // A new archive content is a new folder: the suites read are the new ones.
    write_archive(&root.join("proj-1.0.tar.gz"), "echo second");
    let dump = engine_with_cache(&root, &["validate", "--dump"]);
    assert!(stdout(&dump).contains("echo second"), "{}", stdout(&dump));
    assert_eq!(
        std::fs::read_dir(root.join("cache/workspaces"))
            .unwrap()
            .count(),
        2
    );
}

#[test]
fn a_missing_archive_is_an_error_at_its_place() {
    let (_tmp, root) = project("archive = \"../nowhere.tar.gz\"");
    let out = engine_with_cache(&root, &["validate"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("check::workspace-archive"), "{err}");
    assert!(
        err.contains("cannot read") && err.contains("nowhere.tar.gz"),
        "{err}"
    );
    assert!(
        err.contains("archive = \"../nowhere.tar.gz\""),
        "the line is shown: {err}"
    );
    // The suites glob into it is not reported again as matching nothing.
    assert!(!err.contains("check::no-suites"), "{err}");
}

#[test]
fn an_archive_with_a_source_folder_is_an_error() {
    let (_tmp, root) = project("archive = \"../proj-1.0.tar.gz\"\nsource = \".\"");
    write_archive(&root.join("proj-1.0.tar.gz"), "true");
    let out = engine_with_cache(&root, &["validate"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not both"), "{}", stderr(&out));
}
