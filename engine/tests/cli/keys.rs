//! Cache keys on the root matrix (in a copy of its files): what changes a key and what does not.
//! Images are keyed by what their build can read, provisions by their steps and input files.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{copy_tree, engine, repo_root, stdout};

/// `node id -> cache key` of every image and provision node.
fn keys(dir: &Path) -> BTreeMap<String, String> {
    let out = engine(dir, &["graph", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::common::stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "image" || n["kind"] == "provision")
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_string(),
                n["cache_key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The root matrix's files, with a stand-in of the product (`Cargo.toml`, `src/`: the
/// provision step's inputs) and a `.gitignore` as a checkout has.
fn root_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    for sub in ["distros", "suites", "docker", "schema"] {
        copy_tree(&root.join(sub), &dir.path().join(sub));
    }
    std::fs::copy(root.join("matrix.toml"), dir.path().join("matrix.toml")).unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    dir
}

/// The nodes whose keys differ between two snapshots.
fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    a.iter()
        .filter(|(id, k)| b.get(*id) != Some(k))
        .map(|(id, _)| id.clone())
        .collect()
}

fn all_of(kind: &str, keys: &BTreeMap<String, String>) -> Vec<String> {
    keys.keys()
        .filter(|id| id.starts_with(&format!("{kind}:")))
        .cloned()
        .collect()
}

#[test]
fn editing_a_suite_or_adding_an_untracked_file_changes_no_image_or_provision_key() {
    let dir = root_copy();
    let before = keys(dir.path());
    assert_eq!(before.len(), 8, "{before:?}");
    let suite = std::fs::read_dir(dir.path().join("suites"))
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let task = std::fs::read_dir(&suite)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut text = std::fs::read_to_string(&task).unwrap();
    text.push_str("\n# an edit\n");
    std::fs::write(&task, text).unwrap();
    std::fs::write(dir.path().join("plan.svg"), "<svg/>").unwrap();
    std::fs::write(
        dir.path().join("docker/NOTES.txt"),
        "untracked, read by no COPY",
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "# edited").unwrap();
    assert_eq!(changed(&before, &keys(dir.path())), Vec::<String>::new());
}

#[test]
fn editing_the_dockerfile_changes_every_image_and_provision_key() {
    let dir = root_copy();
    let before = keys(dir.path());
    let path = dir.path().join("docker/Dockerfile");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\nRUN true\n");
    std::fs::write(&path, text).unwrap();
    let after = keys(dir.path());
    assert_eq!(
        changed(&before, &after),
        before.keys().cloned().collect::<Vec<_>>()
    );
}

#[test]
fn editing_a_provision_input_changes_only_provision_keys() {
    let dir = root_copy();
    let before = keys(dir.path());
    std::fs::write(
        dir.path().join("src/main.rs"),
        "fn main() { println!(); }\n",
    )
    .unwrap();
    let after = keys(dir.path());
    assert_eq!(changed(&before, &after), all_of("provision", &before));
    // A new file among the inputs too.
    std::fs::write(dir.path().join("src/lib.rs"), "\n").unwrap();
    assert_eq!(
        changed(&after, &keys(dir.path())),
        all_of("provision", &before)
    );
}

#[test]
fn a_file_the_dockerfile_copies_changes_the_image_keys() {
    let dir = root_copy();
    std::fs::write(dir.path().join("docker/extra.sh"), "echo 1\n").unwrap();
    let path = dir.path().join("docker/Dockerfile");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\nCOPY extra.sh /usr/local/bin/\n");
    std::fs::write(&path, text).unwrap();
    let before = keys(dir.path());
    std::fs::write(dir.path().join("docker/extra.sh"), "echo 2\n").unwrap();
    let after = keys(dir.path());
    assert_eq!(
        changed(&before, &after),
        before.keys().cloned().collect::<Vec<_>>()
    );
    // Its neighbour, which no COPY reaches, still changes nothing.
    std::fs::write(dir.path().join("docker/other.sh"), "echo 3\n").unwrap();
    assert_eq!(changed(&after, &keys(dir.path())), Vec::<String>::new());
}

/// Provision keys follow the cache mounts provisioning sees: a mount given to suites only, or
/// a change of which suites get a mount, rebuilds nothing; a mount provisioning gets does.
#[test]
fn only_the_cache_mounts_provisioning_sees_change_provision_keys() {
    let dir = root_copy();
    let matrix = dir.path().join("matrix.toml");
    let text = std::fs::read_to_string(&matrix).unwrap();
    let line =
        "cargo-git      = { source = \"cargo/git/{distro}\", target = \"/root/.cargo/git\" }";
    assert!(text.contains(line), "{text}");
    let before = keys(dir.path());
    let edit = |to: &str| {
        std::fs::write(&matrix, text.replace(line, &format!("{line}\n{to}"))).unwrap();
        keys(dir.path())
    };
    let suites_only =
        edit(r#"npm = { source = "npm/{distro}", target = "/root/.npm", phases = ["suite"] }"#);
    assert_eq!(changed(&before, &suites_only), Vec::<String>::new());
    std::fs::write(
        &matrix,
        text.replace(line, &line.replace(" }", ", phases = [\"provision\"] }")),
    )
    .unwrap();
    assert_eq!(changed(&before, &keys(dir.path())), Vec::<String>::new());
    let provisioning = edit(r#"npm = { source = "npm/{distro}", target = "/root/.npm" }"#);
    assert_eq!(
        changed(&before, &provisioning),
        all_of("provision", &before)
    );
}
