//! task.toml's variants: `[variants.NAME]` with its own environment and `requires`; each variant
//! is a node (`suite:DISTRO:SUITE:VARIANT`) that patterns, `--why` and the dump can name.

use crate::common::{copy_tree, engine, repo_root, stderr, stdout};

/// The corpus base (arch declares en_US and de_DE, cachyos en_US only) with one suite `loc`.
fn project(task: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), dir.path());
    std::fs::remove_dir_all(dir.path().join("suites")).unwrap();
    let t = dir.path().join("suites/loc");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("task.toml"), task).unwrap();
    dir
}

const TASK: &str = r#"summary = "the locale question, once per language"
execute = "test -n \"$LANG\""

[environment]
WHO = "all"

[variants.en]
environment = { LANG = "en_US.UTF-8" }

[variants.de]
environment = { LANG = "de_DE.UTF-8", WHO = "de" }
requires = { locales = ["de_DE.UTF-8"] }
"#;

#[test]
fn each_variant_is_a_node_with_its_own_requires() {
    let dir = project(TASK);
    let out = engine(dir.path(), &["list", "--why"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let suites: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("suite").map(str::trim))
        .collect();
    assert_eq!(
        suites,
        [
            "suite:arch:loc:de",
            "suite:arch:loc:en",
            "suite:cachyos:loc:en",
        ],
        "{text}"
    );
    // cachyos lacks de_DE: only the `de` variant is left out there, and --why says so.
    assert!(
        text.contains(
            "suite:cachyos:loc:de  (requires locale de_DE.UTF-8, which cachyos does not declare)"
        ),
        "{text}"
    );
}

#[test]
fn a_variants_values_go_over_the_suites() {
    let dir = project(TASK);
    let dump = engine(dir.path(), &["validate", "--dump"]);
    assert_eq!(dump.status.code(), Some(0), "{}", stderr(&dump));
    let m: serde_json::Value = serde_json::from_str(&stdout(&dump)).unwrap();
    let de = &m["suites"]["loc:de"];
    assert_eq!(de["variant"], "de");
    assert_eq!(de["environment"]["WHO"], "de");
    assert_eq!(de["environment"]["LANG"], "de_DE.UTF-8");
    assert_eq!(m["suites"]["loc:en"]["environment"]["WHO"], "all");
    assert_eq!(
        m["suites"]["loc:en"]["requires_locales"],
        serde_json::json!([])
    );
}

#[test]
fn a_variant_requiring_a_locale_no_distro_declares_is_an_error_at_the_variant() {
    let task = TASK.replace("de_DE.UTF-8\"]", "fr_FR.UTF-8\"]");
    let dir = project(&task);
    let out = engine(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("check::undeclared-locale"), "{err}");
    assert!(err.contains("suites/loc/task.toml:12:"), "{err}");
}

#[test]
fn a_bad_variant_name_is_an_error_at_its_table() {
    let dir = project("execute = \"true\"\n[variants.German]\n");
    let out = engine(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("check::variant"), "{err}");
    assert!(
        err.contains("variant `German` is not a valid name"),
        "{err}"
    );
    assert!(err.contains("suites/loc/task.toml:2:"), "{err}");
}
