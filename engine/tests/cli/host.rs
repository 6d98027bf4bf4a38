//! Host execution is a declared grant: `engine validate` lists what the matrix runs on the host
//! (human and JSON), a rootfs script must lie in the project, and the script's own settings
//! (`timeout`, `pass_env`) are checked.

use crate::common::{copy_tree, engine, repo_root, stderr, stdout};

#[test]
fn validate_lists_the_rootfs_scripts_of_the_local_example() {
    let root = repo_root();
    let out = engine(&root, &["validate", "-m", "examples/local/matrix.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("runs on the host, as "), "{text}");
    // One line per script, naming the distros that run it.
    let line = "  distros arch, cachyos, endeavouros, manjaro run `docker/bootstrap/debian.sh`, when its base image is missing";
    assert!(text.contains(line), "no `{line}` in:\n{text}");
    let json = engine(
        &root,
        &[
            "validate",
            "-m",
            "examples/local/matrix.toml",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let grants = v["host_exec"].as_array().unwrap();
    assert_eq!(grants.len(), 4, "{grants:?}");
    assert_eq!(grants[0]["kind"], "rootfs_script");
    assert_eq!(grants[0]["name"], "arch");
    assert_eq!(grants[0]["runs"], "docker/bootstrap/debian.sh");
    // The root matrix pulls its bases: nothing runs on the host.
    let plain = engine(&root, &["validate", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&plain)).unwrap();
    assert_eq!(v["host_exec"], serde_json::json!([]));
}

/// The corpus base with one distro file replaced.
fn project_with_distro(distro: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), dir.path());
    std::fs::write(dir.path().join("distros/cachyos.toml"), distro).unwrap();
    dir
}

#[test]
fn a_rootfs_script_outside_the_project_is_an_error_at_its_place() {
    let dir = project_with_distro(
        "locales = [\"en_US.UTF-8\"]\nbase_rootfs = { script = \"/bin/true\" }\n[aur_helper]\npolicy = \"none\"\n",
    );
    let out = engine(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("check::host-path"), "{err}");
    assert!(err.contains("distros/cachyos.toml:2:"), "{err}");
    assert!(
        err.contains("scripts run on the host stay inside the project"),
        "{err}"
    );
    // Allowed by name, it is valid (and listed).
    let m = dir.path().join("matrix.toml");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, format!("allow_host_paths = [\"/bin\"]\n{text}")).unwrap();
    let out = engine(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed = stdout(&out);
    assert!(listed.contains("distro cachyos runs `/"), "{listed}");
    assert!(listed.contains("bin/true`"), "{listed}");
}

#[test]
fn a_bad_script_timeout_or_variable_name_is_an_error_at_its_place() {
    for (key, value, message) in [
        ("timeout", "\"soon\"", "soon"),
        (
            "pass_env",
            "[\"NOT-A-NAME\"]",
            "`NOT-A-NAME` is not a variable name",
        ),
    ] {
        let dir = project_with_distro(&format!(
            "locales = [\"en_US.UTF-8\"]\nbase_rootfs = {{ script = \"make.sh\", {key} = {value} }}\n[aur_helper]\npolicy = \"none\"\n"
        ));
        std::fs::write(dir.path().join("distros/make.sh"), "#!/bin/sh\n").unwrap();
        let out = engine(dir.path(), &["validate"]);
        assert_eq!(out.status.code(), Some(2), "{key}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("distros/cachyos.toml:2:"), "{key}: {err}");
        assert!(err.contains(message), "{key}: {err}");
    }
}

/// `node id -> cache key` of the base nodes and the image/provision keys that follow them.
fn base_keys(dir: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let out = engine(dir, &["graph", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| {
            Some((
                n["id"].as_str()?.to_string(),
                n["cache_key"].as_str()?.to_string(),
            ))
        })
        .collect()
}

#[test]
fn a_rootfs_scripts_inputs_are_part_of_its_key_and_must_exist() {
    let dir = project_with_distro(
        "locales = [\"en_US.UTF-8\"]\nbase_rootfs = { script = \"../docker/mk.sh\", inputs = [\"../docker/helpers/*.sh\"] }\n[aur_helper]\npolicy = \"none\"\n",
    );
    let d = dir.path();
    std::fs::create_dir_all(d.join("docker/helpers")).unwrap();
    std::fs::write(d.join("docker/mk.sh"), "#!/bin/sh\n").unwrap();
    std::fs::write(d.join("docker/helpers/a.sh"), "one\n").unwrap();
    std::fs::write(d.join("docker/unrelated.txt"), "x\n").unwrap();
    let before = base_keys(d);
    assert!(before.contains_key("base:cachyos"), "{before:?}");
    // Not an input: no key moves.
    std::fs::write(d.join("docker/unrelated.txt"), "y\n").unwrap();
    assert_eq!(base_keys(d), before);
    // An input edited: cachyos's base, image and provision are made again, arch's are not.
    std::fs::write(d.join("docker/helpers/a.sh"), "two\n").unwrap();
    let after = base_keys(d);
    let moved: Vec<&String> = before
        .keys()
        .filter(|id| after.get(*id) != before.get(*id))
        .collect();
    assert_eq!(
        moved,
        ["base:cachyos", "image:cachyos", "provision:cachyos"],
        "{after:?}"
    );
    // A glob that matches nothing is an error at its place.
    std::fs::remove_file(d.join("docker/helpers/a.sh")).unwrap();
    let out = engine(d, &["validate"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no file matches `../docker/helpers/*.sh`") && err.contains("matches no file"),
        "{err}"
    );
}

#[test]
fn a_rootfs_base_keeps_its_key_in_another_clone_with_a_symlinked_input() {
    // Two checkouts side by side, each with `shared/` beside it: the first a folder, the second
    // a symlink to it (as CI links the fixtures). The inputs are named as the globs write them.
    let tmp = tempfile::tempdir().unwrap();
    let distro = "locales = [\"en_US.UTF-8\"]\nbase_rootfs = { script = \"../docker/mk.sh\", inputs = [\"../../shared/*.tar.gz\"] }\n[aur_helper]\npolicy = \"none\"\n";
    let first = tmp.path().join("a/project");
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), &first);
    std::fs::write(first.join("distros/cachyos.toml"), distro).unwrap();
    std::fs::create_dir_all(first.join("docker")).unwrap();
    std::fs::write(first.join("docker/mk.sh"), "#!/bin/sh\n").unwrap();
    std::fs::create_dir_all(tmp.path().join("a/shared")).unwrap();
    std::fs::write(tmp.path().join("a/shared/src.tar.gz"), "archive").unwrap();
    let second = tmp.path().join("b/elsewhere/project");
    copy_tree(&first, &second);
    std::os::unix::fs::symlink(
        tmp.path().join("a/shared"),
        tmp.path().join("b/elsewhere/shared"),
    )
    .unwrap();
    let (k1, k2) = (base_keys(&first), base_keys(&second));
    assert_eq!(k1["base:cachyos"], k2["base:cachyos"]);
    std::fs::write(tmp.path().join("a/shared/src.tar.gz"), "another archive").unwrap();
    assert_ne!(base_keys(&second)["base:cachyos"], k2["base:cachyos"]);
}
