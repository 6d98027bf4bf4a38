//! `engine validate --lint` with the real shellcheck: the errexit pitfall (`! cmd` on a line that
//! is not the last, SC2251) found and underlined at its line and column in a task.toml and a
//! task.yaml; `--lint=error` makes findings errors; a missing shellcheck says how to get one.

use std::path::Path;

use crate::common::{copy_tree, repo_root, stderr};

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), dir.path());
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "suites/never-fails/task.toml",
        "summary = \"an assertion that can never fail\"\nexecute = \"\"\"\necho start\n! test -L /usr/bin/date\necho end\n\"\"\"\n",
    );
    write(
        "suites/never-fails-yaml/task.yaml",
        "summary: the same in spread's format\nexecute: |\n    echo start\n    if true; then\n        ! test -L /usr/bin/date\n        echo inside\n    fi\n    echo end\n",
    );
    dir
}

fn validate(dir: &Path, args: &[&str], shellcheck: Option<&str>) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_engine"));
    c.arg("validate").args(args).current_dir(dir);
    c.env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env_remove("ENGINE_MATRIX");
    match shellcheck {
        Some(p) => c.env("ENGINE_SHELLCHECK", p),
        None => c.env_remove("ENGINE_SHELLCHECK"),
    };
    c.output().unwrap()
}

/// shellcheck is a test dependency (scripts/install-test-deps.sh); without it, a loud skip (a
/// failure under CI=true).
fn have_shellcheck() -> bool {
    let ok = std::process::Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "shellcheck is required under CI (scripts/install-test-deps.sh installs it)"
        );
        eprintln!("\n=== SKIP lint tests: no shellcheck on PATH ===\n");
    }
    ok
}

#[test]
fn the_errexit_pitfall_is_underlined_in_toml_and_yaml() {
    if !have_shellcheck() {
        return;
    }
    let dir = project();
    let out = validate(dir.path(), &["--lint"], None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "warnings do not fail: {err}");
    for (place, line) in [
        (
            "suites/never-fails/task.toml:4:1",
            " 4 │ ! test -L /usr/bin/date",
        ),
        (
            "suites/never-fails-yaml/task.yaml:5:9",
            " 5 │         ! test -L /usr/bin/date",
        ),
    ] {
        let at = err
            .find(place)
            .unwrap_or_else(|| panic!("no finding at {place}:\n{err}"));
        let block = &err[at..];
        assert!(block.contains(line), "{place}:\n{err}");
    }
    assert_eq!(err.matches("SC2251 (info").count(), 2, "{err}");
    // The suites without the pitfall have no finding.
    assert!(!err.contains("suite smoke,"), "{err}");

    let denied = validate(dir.path(), &["--lint=error"], None);
    assert_eq!(denied.status.code(), Some(2), "{}", stderr(&denied));
    assert!(
        stderr(&denied).contains("the matrix is invalid (2 problems)"),
        "{}",
        stderr(&denied)
    );

    // The fix shellcheck suggests removes the findings.
    let p = dir.path().join("suites/never-fails/task.toml");
    let fixed = std::fs::read_to_string(&p)
        .unwrap()
        .replace("! test -L /usr/bin/date", "test -L /usr/bin/date && exit 1");
    std::fs::write(&p, fixed).unwrap();
    let out = validate(dir.path(), &["--lint"], None);
    assert_eq!(
        stderr(&out).matches("SC2251 (info").count(),
        1,
        "one finding left (YAML): {}",
        stderr(&out)
    );
}

#[test]
fn without_shellcheck_lint_says_how_to_get_it() {
    let dir = project();
    let out = validate(dir.path(), &["--lint"], Some("/nonexistent/shellcheck"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("`/nonexistent/shellcheck` cannot be run"),
        "{err}"
    );
    assert!(err.contains("apt-get install shellcheck"), "{err}");
    // Without --lint, nothing runs shellcheck.
    let plain = validate(dir.path(), &[], Some("/nonexistent/shellcheck"));
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
}

#[test]
fn the_repositorys_own_suites_and_steps_lint_clean() {
    if !have_shellcheck() {
        return;
    }
    for matrix in ["matrix.toml", "examples/local/matrix.toml"] {
        let out = validate(&repo_root(), &["--lint=error", "-m", matrix], None);
        assert_eq!(out.status.code(), Some(0), "{matrix}: {}", stderr(&out));
    }
}
