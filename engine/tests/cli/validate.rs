//! `engine validate` and `engine schema` on the repository's own files.

use crate::common::{copy_tree, engine, repo_root, stderr, stdout, validate_codes};

#[test]
fn root_matrix_is_valid_with_a_summary_line() {
    let out = engine(&repo_root(), &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(
        line.starts_with("matrix.toml is valid: 4 distros, 9 suites, 5 cache mounts"),
        "{line}"
    );
}

#[test]
fn nickel_matrix_gives_the_identical_model() {
    let root = repo_root();
    let toml = engine(&root, &["validate", "--dump"]);
    let ncl = engine(
        &root,
        &["validate", "--dump", "-m", "examples/nickel/matrix.ncl"],
    );
    assert_eq!(toml.status.code(), Some(0), "{}", stderr(&toml));
    assert_eq!(ncl.status.code(), Some(0), "{}", stderr(&ncl));
    let mut a: serde_json::Value = serde_json::from_str(&stdout(&toml)).unwrap();
    let mut b: serde_json::Value = serde_json::from_str(&stdout(&ncl)).unwrap();
    // The folder holding the matrix file differs by construction; everything it resolves must not.
    a.as_object_mut().unwrap().remove("root");
    b.as_object_mut().unwrap().remove("root");
    assert_eq!(a, b);
    assert_eq!(a["distros"].as_object().unwrap().len(), 4);
}

#[test]
fn three_independent_defects_in_one_file_are_all_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), &root);
    std::fs::write(
        root.join("matrix.toml"),
        r#"
[engine]
concurency = 4
timeout = "soon"
[image]
dockerfile = "docker/Dockerfile"
[caches.mounts]
pacman = { source = "pacman/{distor}", target = "/var/cache/pacman" }
"#,
    )
    .unwrap();
    let out = engine(&root, &["validate", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let codes: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    for want in [
        "schema::unknown-key",
        "check::bad-duration",
        "check::unknown-placeholder",
    ] {
        assert!(codes.contains(&want), "{want} missing from {codes:?}");
    }
    let human = engine(&root, &["validate"]);
    assert!(
        stderr(&human).contains("the matrix is invalid (3 problems)"),
        "{}",
        stderr(&human)
    );
}

#[test]
fn missing_matrix_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = engine(tmp.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cannot read matrix `matrix.toml`"), "{err}");
    assert!(err.contains("pass -m PATH"), "{err}");
}

#[test]
fn a_matrix_that_is_not_utf8_is_reported_at_its_first_bad_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), &root);
    let mut text = std::fs::read(root.join("matrix.toml")).unwrap();
    // A Latin-1 comment on line 2: `# caf\xe9`, the bad byte at column 6.
    let first = text.iter().position(|b| *b == b'\n').unwrap() + 1;
    text.splice(first..first, b"# caf\xe9 au lait\n".iter().copied());
    std::fs::write(root.join("matrix.toml"), &text).unwrap();
    let out = engine(&root, &["validate"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("byte 0xe9 at line 2, column 6"),
        "no position in: {err}"
    );
    assert!(err.contains("matrix.toml:2:6"), "no underline in: {err}");
    let json = engine(&root, &["validate", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "load::not-utf8");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(2), Some(6))
    );
}

#[test]
fn json_diagnostics_carry_file_line_column_and_help() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), &root);
    std::fs::write(
        root.join("distros/cachyos.toml"),
        "base_image = \"x\"\npull = \"allways\"\n",
    )
    .unwrap();
    let out = engine(&root, &["validate", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["valid"], false);
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "schema::bad-value");
    assert_eq!(d["file"], "distros/cachyos.toml");
    assert_eq!(d["line"], 2);
    assert_eq!(d["column"], 8);
    assert_eq!(d["help"], "did you mean \"always\"?");
}

#[test]
fn committed_schemas_match_the_types() {
    let out = engine(&repo_root(), &["schema", "--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "schema/ drifted from the Rust types: run `cargo run -p engine -- schema --write`\n{}",
        stderr(&out)
    );
}

#[test]
fn schema_check_detects_drift() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("schema"), tmp.path());
    std::fs::write(tmp.path().join("distro.schema.json"), "{}\n").unwrap();
    let out = engine(tmp.path(), &["schema", "--check", "--dir", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("distro.schema.json"));
}

/// The Nickel contracts are checked like the JSON Schemas: a change of a type that is not
/// regenerated into schema/engine.ncl fails `schema --check`, and `--format nickel` prints it.
#[test]
fn schema_check_covers_the_nickel_contracts() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("schema"), tmp.path());
    let committed = std::fs::read_to_string(tmp.path().join("engine.ncl")).unwrap();
    std::fs::write(
        tmp.path().join("engine.ncl"),
        committed.replace("concurrency | std.number.Nat", "concurrency | Number"),
    )
    .unwrap();
    let out = engine(tmp.path(), &["schema", "--check", "--dir", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("engine.ncl"), "{}", stderr(&out));
    let printed = engine(&repo_root(), &["schema", "--format", "nickel"]);
    assert_eq!(stdout(&printed), committed);
    assert!(committed.contains("concurrency | std.number.Nat"));
}

/// A Nickel matrix can keep each distro in a file of its own, as TOML's `distros/*.toml`, and
/// apply the engine's contracts to it: the same model as the TOML project.
#[test]
fn a_nickel_matrix_imports_per_distro_files_with_the_engines_contracts() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), &root);
    copy_tree(&repo_root().join("schema"), &root.join("schema"));
    let toml = engine(&root, &["validate", "--dump"]);
    assert_eq!(toml.status.code(), Some(0), "{}", stderr(&toml));
    std::fs::create_dir_all(root.join("ncl")).unwrap();
    std::fs::write(
        root.join("ncl/arch.ncl"),
        r#"let engine = import "../schema/engine.ncl" in
{
  base_image = "archlinux:base-devel",
  locales = ["en_US.UTF-8", "de_DE.UTF-8"],
  on_missing_locale = 'generate,
  aur_helper = { policy = "install", package = "paru-bin", source = "https://example.invalid/paru-bin.git" },
} | engine.Distro
"#,
    )
    .unwrap();
    std::fs::write(
        root.join("ncl/cachyos.ncl"),
        r#"let engine = import "../schema/engine.ncl" in
{ base_image = "cachyos/cachyos:latest", locales = ["en_US.UTF-8"], aur_helper.policy = "require" }
| engine.Distro
"#,
    )
    .unwrap();
    std::fs::write(
        root.join("matrix.ncl"),
        r#"let engine = import "schema/engine.ncl" in
{
  distros = {
    arch = import "ncl/arch.ncl",
    cachyos = import "ncl/cachyos.ncl",
  },
  suites = "suites/*",
  engine = { concurrency = 2, timeout = "10m" },
  image = { dockerfile = "docker/Dockerfile" },
  caches = {
    root = ".cache/engine",
    mounts = {
      pacman = { source = "pacman/{distro}", target = "/var/cache/pacman" },
      aur-build = { source = "aur-build/{distro}", target = "/home/builder/build", exclusive = true },
    },
  },
  provision = { users = ["builder"], steps = [{ name = "build", run = "true" }] },
} | engine.Matrix
"#,
    )
    .unwrap();
    let ncl = engine(&root, &["validate", "--dump", "-m", "matrix.ncl"]);
    assert_eq!(ncl.status.code(), Some(0), "{}", stderr(&ncl));
    let mut a: serde_json::Value = serde_json::from_str(&stdout(&toml)).unwrap();
    let mut b: serde_json::Value = serde_json::from_str(&stdout(&ncl)).unwrap();
    for v in [&mut a, &mut b] {
        v.as_object_mut().unwrap().remove("root");
    }
    assert_eq!(a["distros"], b["distros"]);
    assert_eq!(a["suites"], b["suites"]);

    // The embedded Nickel (nickel-lang-core 0.18) panics on a TOML file imported under a
    // contract: a diagnostic with the way around it, exit 2, not a crash.
    std::fs::copy(
        root.join("distros/cachyos.toml"),
        root.join("ncl/cachyos.toml"),
    )
    .unwrap();
    let text = std::fs::read_to_string(root.join("matrix.ncl")).unwrap();
    std::fs::write(
        root.join("matrix.ncl"),
        text.replace("ncl/cachyos.ncl", "ncl/cachyos.toml"),
    )
    .unwrap();
    let out = engine(&root, &["validate", "-m", "matrix.ncl"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the Nickel evaluator failed inside"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// Editors show descriptions on hover: every property of every schema must have one.
#[test]
fn every_property_has_a_description() {
    fn walk(v: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        if let Some(obj) = v.as_object() {
            if let Some(props) = obj.get("properties").and_then(|p| p.as_object()) {
                for (k, p) in props {
                    if p.get("description").is_none() {
                        missing.push(format!("{path}/{k}"));
                    }
                }
            }
            for (k, child) in obj {
                walk(child, &format!("{path}/{k}"), missing);
            }
        } else if let Some(items) = v.as_array() {
            for (i, child) in items.iter().enumerate() {
                walk(child, &format!("{path}/{i}"), missing);
            }
        }
    }
    for file in ["matrix", "distro", "suite", "suite-yaml", "report"] {
        let text = std::fs::read_to_string(repo_root().join(format!("schema/{file}.schema.json")))
            .unwrap();
        let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut missing = Vec::new();
        walk(&schema, file, &mut missing);
        assert!(
            missing.is_empty(),
            "properties without description: {missing:?}"
        );
    }
}

/// Under `bash -e`, a line `! cmd` that is not the last one never fails the script (errexit
/// ignores negated pipelines): every such assertion in the repository's suites says
/// `|| exit 1`, so that it can fail.
#[test]
fn no_suite_assertion_is_a_bare_negation() {
    let root = repo_root();
    let mut files = Vec::new();
    for dir in ["suites", "examples/local/suites"] {
        for suite in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            for name in ["task.toml", "task.yaml"] {
                let f = suite.path().join(name);
                if f.is_file() {
                    files.push(f);
                }
            }
        }
    }
    assert!(files.len() > 10, "suites not found: {files:?}");
    let mut bare = Vec::new();
    for f in &files {
        for (i, line) in std::fs::read_to_string(f).unwrap().lines().enumerate() {
            let l = line.trim_start();
            if l.starts_with("! ") && !l.contains("||") {
                bare.push(format!("{}:{}: {line}", f.display(), i + 1));
            }
        }
    }
    assert!(
        bare.is_empty(),
        "assertions that cannot fail:\n{}",
        bare.join("\n")
    );
}

/// The AUR build folder is a setting: validate warns when no provisioning cache mount keeps it
/// (then every provisioning clones afresh), and a folder below a mount is covered.
#[test]
fn an_aur_build_folder_on_no_cache_mount_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), &root);
    let codes = validate_codes;
    let warning = (
        "check::aur-build-uncached".to_string(),
        "warning".to_string(),
    );
    assert!(!codes(&root).contains(&warning), "the base mounts it");
    let arch = root.join("distros/arch.toml");
    let a = std::fs::read_to_string(&arch).unwrap();
    std::fs::write(
        &arch,
        a.replace(
            "[aur_helper]",
            "[aur_helper]\nbuild_dir = \"/home/builder/build/paru\"",
        ),
    )
    .unwrap();
    assert!(!codes(&root).contains(&warning), "below the mount: covered");
    std::fs::write(
        &arch,
        a.replace("[aur_helper]", "[aur_helper]\nbuild_dir = \"/srv/aur\""),
    )
    .unwrap();
    assert!(codes(&root).contains(&warning), "{:?}", codes(&root));
}

/// pacman's cache written by containers side by side is a warning: suites sharing it, or every
/// distro's provisioning when the source has no {distro}. Provisioning only, exclusive,
/// read-only, a folder beside the cache, one node at a time, or one distro: no warning.
#[test]
fn a_pacman_cache_shared_by_concurrent_containers_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), &root);
    let matrix = root.join("matrix.toml");
    let base = std::fs::read_to_string(&matrix).unwrap();
    let line = r#"pacman = { source = "pacman/{distro}", target = "/var/cache/pacman", phases = ["provision"] }"#;
    assert!(base.contains(line), "{base}");
    let warned = |mount: &str, concurrency: &str| -> bool {
        let text = base
            .replace(line, &format!("pacman = {mount}"))
            .replace("concurrency = 2", concurrency);
        std::fs::write(&matrix, text).unwrap();
        let warning = (
            "check::shared-pacman-cache".to_string(),
            "warning".to_string(),
        );
        validate_codes(&root).contains(&warning)
    };
    let cases = [
        (
            r#"{ source = "pacman/{distro}", target = "/var/cache/pacman" }"#,
            "concurrency = 2",
            true,
        ),
        (
            r#"{ source = "p/{distro}", target = "/var/cache/pacman/pkg/" }"#,
            "concurrency = 2",
            true,
        ),
        (
            r#"{ source = "p/{distro}", target = "/var/cache" }"#,
            "",
            true,
        ),
        (
            r#"{ source = "pacman", target = "/var/cache/pacman", phases = ["provision"] }"#,
            "concurrency = 2",
            true,
        ),
        (
            r#"{ source = "pacman/{distro}", target = "/var/cache/pacman", phases = ["provision"] }"#,
            "concurrency = 2",
            false,
        ),
        (
            r#"{ source = "pacman/{distro}", target = "/var/cache/pacman", exclusive = true }"#,
            "concurrency = 2",
            false,
        ),
        (
            r#"{ source = "pacman/{distro}", target = "/var/cache/pacman", read_only = true }"#,
            "concurrency = 2",
            false,
        ),
        (
            r#"{ source = "pacman/{distro}", target = "/var/cache/pacman-sync" }"#,
            "concurrency = 2",
            false,
        ),
        (
            r#"{ source = "pacman/{distro}", target = "/var/cache/pacman" }"#,
            "concurrency = 1",
            false,
        ),
    ];
    for (mount, concurrency, expected) in cases {
        assert_eq!(
            warned(mount, concurrency),
            expected,
            "{mount} with {concurrency:?}"
        );
    }
    // One distro: a source without {distro} is shared by nobody.
    let one_for_all =
        r#"{ source = "pacman", target = "/var/cache/pacman", phases = ["provision"] }"#;
    std::fs::remove_file(root.join("distros/cachyos.toml")).unwrap();
    assert!(!warned(one_for_all, "concurrency = 2"));
}

/// Every diagnostic code, with what it means: the list users and tools rely on.
#[test]
fn every_diagnostic_code_is_listed() {
    let out = engine(&repo_root(), &["validate", "--list-codes"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("diagnostic_codes", stdout(&out));
}

/// As cargo finds Cargo.toml: from a subfolder, the nearest matrix above is used.
#[test]
fn the_matrix_is_found_from_a_subfolder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), &root);
    let out = engine(&root.join("suites/smoke"), &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.starts_with(&format!("{} is valid", root.join("matrix.toml").display())),
        "{said}"
    );
}
