//! spread's task.yaml as spread's projects write it: `systems` and `backends` with spread's list
//! rules, `manual`, `priority`, `details`, `debug`; keys the engine does not apply yet are
//! warnings that name them. Table-driven: each task file and the suite nodes `engine list` must
//! show for it.

use std::path::Path;

use crate::common::{copy_tree, engine, repo_root, stderr, stdout};

/// A project with four distros (arch, cachyos, endeavouros, manjaro) and one spread task.
fn project(task: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("engine/tests/corpus/_base"), dir.path());
    std::fs::remove_dir_all(dir.path().join("suites")).unwrap();
    for d in ["endeavouros", "manjaro"] {
        std::fs::write(
            dir.path().join(format!("distros/{d}.toml")),
            format!("base_image = \"{d}/base:latest\"\nlocales = [\"en_US.UTF-8\"]\n"),
        )
        .unwrap();
    }
    let t = dir.path().join("suites/t");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("task.yaml"), task).unwrap();
    dir
}

/// The suite nodes `engine list` shows (with the given selection).
fn listed(dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["list"];
    all.extend_from_slice(args);
    let out = engine(dir, &all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("suite").map(|r| r.trim().to_string()))
        .collect()
}

fn nodes(distros: &[&str]) -> Vec<String> {
    distros.iter().map(|d| format!("suite:{d}:t")).collect()
}

#[test]
fn systems_and_backends_follow_spreads_list_rules() {
    let all = ["arch", "cachyos", "endeavouros", "manjaro"];
    let cases: &[(&str, &[&str])] = &[
        ("", &all),
        ("systems: [arch, manjaro]\n", &["arch", "manjaro"]),
        ("systems: [\"*os\"]\n", &["cachyos", "endeavouros"]),
        ("systems: [-cachyos]\n", &["arch", "endeavouros", "manjaro"]),
        (
            "systems: [\"-*os\", +cachyos]\n",
            &["arch", "cachyos", "manjaro"],
        ),
        ("systems: [arch, ubuntu-24.04]\n", &["arch"]),
        (
            "distro-check: [arch, cachyos]\nsystems: [-arch]\n",
            &["cachyos"],
        ),
        ("backends: [docker, lxd]\n", &all),
        ("backends: [-lxd]\n", &all),
        ("backends: [lxd, qemu]\n", &[]),
        ("backends: [-docker]\n", &[]),
    ];
    for (keys, want) in cases {
        let dir = project(&format!("summary: s\n{keys}execute: |\n  true\n"));
        assert_eq!(listed(dir.path(), &[]), nodes(want), "{keys}");
    }
}

#[test]
fn why_names_the_key_that_left_a_pair_out() {
    let dir = project("systems: [arch]\nbackends: [docker]\nexecute: |\n  true\n");
    let out = stdout(&engine(dir.path(), &["list", "--why"]));
    assert!(
        out.contains("suite:cachyos:t  (not in the suite's `systems` list)"),
        "{out}"
    );
    let dir = project("backends: [lxd]\nexecute: |\n  true\n");
    let out = stdout(&engine(dir.path(), &["list", "--why"]));
    assert!(
        out.contains(
            "suite:arch:t  (its `backends` (lxd) leave out `docker`, the engine's backend)"
        ),
        "{out}"
    );
}

#[test]
fn a_list_mixing_plain_and_delta_entries_is_an_error_at_the_entry() {
    let dir = project("systems: [arch, -cachyos]\nexecute: |\n  true\n");
    let out = engine(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("check::spread-list"), "{err}");
    assert!(err.contains("suites/t/task.yaml:1:"), "{err}");
}

#[test]
fn an_unknown_system_is_a_warning_with_a_suggestion() {
    let dir = project("systems: [arch, manjar]\nexecute: |\n  true\n");
    let out = engine(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("names `manjar` in systems"), "{err}");
    assert!(err.contains("did you mean \"manjaro\""), "{err}");
}

#[test]
fn a_manual_task_runs_only_when_named() {
    let dir = project("manual: true\nexecute: |\n  true\n");
    assert_eq!(listed(dir.path(), &[]), Vec::<String>::new());
    assert_eq!(listed(dir.path(), &[":t*"]), Vec::<String>::new());
    assert_eq!(listed(dir.path(), &["arch:t"]), nodes(&["arch"]));
    assert_eq!(listed(dir.path(), &[":t"]).len(), 4);
    let why = stdout(&engine(dir.path(), &["list", "--why"]));
    assert!(
        why.contains("manual: runs only when a pattern names it"),
        "{why}"
    );
    // `engine run` of the whole matrix then has nothing to run, and says why (exit 4).
    let run = engine(dir.path(), &["run"]);
    assert_eq!(run.status.code(), Some(4), "{}", stderr(&run));
}

/// Every key of a spread task is applied: none is warned about, and `samples` is the suite's
/// number of runs.
#[test]
fn every_spread_key_is_applied() {
    let task = "summary: s\nenvironment:\n  A: 1\n  B/foo: 2\n  C: \"$(HOST: echo hi)\"\nskip:\n  - reason: never\n    if: \"false\"\nartifacts: [out.log]\nwarn-timeout: 1m\nsamples: 2\nexecute: |\n  true\n";
    let dir = project(task);
    let out = engine(dir.path(), &["validate", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let named: Vec<String> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap().to_string())
        .collect();
    // The `$(HOST: ...)` value is a host grant, listed as such.
    assert_eq!(
        v["host_exec"],
        serde_json::json!([{"kind": "host_value", "by": "suite t", "name": "t",
            "runs": "echo hi", "when": "once per run that selects the suite"}])
    );
    for key in [
        "skip",
        "warn-timeout",
        "artifacts",
        "environment",
        "samples",
    ] {
        assert!(
            !named.iter().any(|m| m.contains(&format!("`{key}`"))),
            "{named:?}"
        );
    }
    // `B/foo` makes the variant `foo`, the task's one job, with B among its variables.
    let dump = engine(dir.path(), &["validate", "--dump"]);
    let m: serde_json::Value = serde_json::from_str(&stdout(&dump)).unwrap();
    assert!(m["suites"].get("t").is_none(), "{}", m["suites"]);
    let env = &m["suites"]["t:foo"]["environment"];
    assert_eq!(env["A"], "1");
    assert_eq!(env["B"], "2");
    assert!(env.get("B/foo").is_none(), "{env}");
    assert_eq!(m["suites"]["t:foo"]["samples"], 2);
    // spread reads `samples: 0` as unset: one run, valid.
    let dir = project("samples: 0\nexecute: |\n  true\n");
    let dump = engine(dir.path(), &["validate", "--dump"]);
    assert_eq!(dump.status.code(), Some(0), "{}", stderr(&dump));
    let m: serde_json::Value = serde_json::from_str(&stdout(&dump)).unwrap();
    assert!(
        m["suites"]["t"].get("samples").is_none(),
        "{}",
        m["suites"]["t"]
    );
}

fn variant_nodes(distros: &[&str], variants: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = distros
        .iter()
        .flat_map(|d| variants.iter().map(move |v| format!("suite:{d}:t:{v}")))
        .collect();
    out.sort();
    out
}

#[test]
fn variants_come_from_environment_keys_and_the_variants_list() {
    let all = ["arch", "cachyos", "endeavouros", "manjaro"];
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "environment:
  L/en: C
  L/de: de_DE
",
            &all,
            &["de", "en"],
        ),
        (
            "environment:
  A: 1
  L/en,de: x
  M/fr: y
",
            &all,
            &["de", "en", "fr"],
        ),
        (
            "environment:
  L/en: C
  L/de: de_DE
variants: [-de]
",
            &all,
            &["en"],
        ),
        (
            "environment:
  L/en: C
variants: [+extra]
",
            &all,
            &["en", "extra"],
        ),
        (
            "environment:
  L/en: C
  L/de: x
  L/fr: y
variants: [fr]
",
            &all,
            &["fr"],
        ),
        (
            "systems: [-cachyos, -manjaro]
environment: {L/en: C, L/de: x}
",
            &["arch", "endeavouros"],
            &["de", "en"],
        ),
        (
            "environment:
  L/en: C
variants: [-en]
",
            &[],
            &["en"],
        ),
    ];
    for (keys, distros, variants) in cases {
        let dir = project(&format!("summary: s\n{keys}execute: |\n  true\n"));
        assert_eq!(
            listed(dir.path(), &[]),
            variant_nodes(distros, variants),
            "{keys}"
        );
    }
}

#[test]
fn patterns_name_a_suite_with_all_its_variants_or_one_variant() {
    let dir = project("environment:\n  L/en: C\n  L/de: de_DE\nexecute: |\n  true\n");
    assert_eq!(
        listed(dir.path(), &["arch:t"]),
        variant_nodes(&["arch"], &["de", "en"])
    );
    assert_eq!(
        listed(dir.path(), &["arch:t:de"]),
        variant_nodes(&["arch"], &["de"])
    );
    assert_eq!(listed(dir.path(), &[":t:en"]).len(), 4);
    assert_eq!(
        listed(dir.path(), &["arch", "--exclude", ":t:de"]),
        variant_nodes(&["arch"], &["en"])
    );
    // A misspelt variant is no match, with the closest name.
    let out = engine(dir.path(), &["list", "arch:t:dee"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`arch:t:de`"), "{}", stderr(&out));
}

#[test]
fn each_variant_gets_its_values_in_the_order_written() {
    let task = "environment:\n  BASE: /srv\n  DIR/a: $BASE/a\n  DIR/b: $BASE/b\n  LAST: $DIR/x\nexecute: |\n  true\n";
    let dir = project(task);
    let dump = engine(dir.path(), &["validate", "--dump"]);
    assert_eq!(dump.status.code(), Some(0), "{}", stderr(&dump));
    let m: serde_json::Value = serde_json::from_str(&stdout(&dump)).unwrap();
    let b = &m["suites"]["t:b"];
    assert_eq!(b["variant"], "b");
    assert_eq!(b["environment"]["DIR"], "$BASE/b");
    // Exported in the order written, so that LAST can use DIR and DIR can use BASE.
    assert_eq!(
        b["environment_order"],
        serde_json::json!(["BASE", "DIR", "LAST"])
    );
}

#[test]
fn bad_variant_keys_and_lists_are_errors_at_their_place() {
    let cases = [
        (
            "environment:\n  A: 1\n  L/: x\n",
            "task.yaml:3:",
            "is not `NAME/VARIANT`",
        ),
        (
            "environment:\n  L/De: x\n",
            "task.yaml:2:",
            "variant `De` is not a valid name",
        ),
        (
            "environment:\n  L/en: x\nvariants: [-fr]\n",
            "task.yaml:3:",
            "removes variant `fr`",
        ),
        (
            "environment:\n  L/en: x\nvariants: [-en, de]\n",
            "task.yaml:3:",
            "mixes plain entries",
        ),
    ];
    for (keys, place, message) in cases {
        let dir = project(&format!("{keys}execute: |\n  true\n"));
        let out = engine(dir.path(), &["validate"]);
        assert_eq!(out.status.code(), Some(2), "{keys}");
        let err = stderr(&out);
        assert!(err.contains("check::variant"), "{keys}: {err}");
        assert!(err.contains(place), "{keys}: {err}");
        assert!(err.contains(message), "{keys}: {err}");
    }
}

#[test]
fn details_priority_and_debug_are_kept() {
    let task = "summary: s\ndetails: |\n  Long prose.\npriority: 50\nwarn-timeout: 90s\ndebug: |\n  journalctl -n 20\nexecute: |\n  true\n";
    let dir = project(task);
    let out = engine(dir.path(), &["validate", "--dump"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let t = &m["suites"]["t"];
    assert_eq!(t["details"], "Long prose.\n");
    assert_eq!(t["priority"], 50);
    assert_eq!(t["warn_timeout"]["secs"], 90, "{t}");
    assert_eq!(t["debug"], "journalctl -n 20\n");
    assert_eq!(t["format"], "spread");
    // `engine list --long` shows the summary and the details under the suite's file.
    let long = stdout(&engine(dir.path(), &["list", "--long"]));
    assert!(
        long.contains("\nt (suites/t/task.yaml)\n    s\n    Long prose.\n"),
        "{long}"
    );
}

/// One real-world-sized spread task: comments, an anchor and its alias, a merge key, folded
/// and literal blocks, variants, long prepare/execute/restore blocks.
fn big_task(i: usize) -> String {
    let mut t = format!(
        "# Task {i}: checks one thing of the product, as a spread project writes it.\n\
         summary: check number {i} of the product\n\
         details: >\n  A folded paragraph that runs over\n  several lines, about task {i}.\n\
         systems: [\"-cachyos\"]\n\
         priority: {p}\n\
         kill-timeout: 10m\n\
         warn-timeout: 5m\n\
         environment:\n  COMMON: &common /srv/{i}\n  OTHER: *common\n  LANG/en: C.UTF-8\n  LANG/de: de_DE.UTF-8\n  # a comment inside the map\n  LEVEL: \"{i}\"\n\
         skip:\n  - reason: nothing on aarch64\n    if: test \"$(uname -m)\" = aarch64\n\
         artifacts: [out.log]\n\
         prepare: |\n",
        p = i % 7
    );
    for k in 0..40 {
        t.push_str(&format!("    # step {k} of the preparation\n    echo \"prepare {k}: $COMMON\" >> /tmp/prep.log\n"));
    }
    t.push_str("execute: |\n");
    for k in 0..80 {
        t.push_str(&format!(
            "    test -d \"$COMMON\" || mkdir -p \"$COMMON\"   # line {k}\n    echo {k} | MATCH '^{k}$'\n"
        ));
    }
    t.push_str("restore: |\n    rm -rf \"$COMMON\" /tmp/prep.log\ndebug: |\n    cat /tmp/prep.log || true\n");
    t
}

#[test]
fn hundreds_of_real_world_sized_tasks_load_in_under_a_second() {
    let dir = project("execute: |\n  true\n");
    std::fs::remove_dir_all(dir.path().join("suites")).unwrap();
    let n = 400;
    for i in 0..n {
        let d = dir.path().join(format!("suites/task-{i:03}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("task.yaml"), big_task(i)).unwrap();
    }
    // A schema error deep in one file is reported at its place, as in a task.toml.
    let bad = dir.path().join("suites/task-123/task.yaml");
    let text = std::fs::read_to_string(&bad).unwrap();
    std::fs::write(&bad, text.replace("priority: 4\n", "priority: high\n")).unwrap();
    let start = std::time::Instant::now();
    let out = engine(dir.path(), &["validate"]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("suites/task-123/task.yaml:7:11"), "{err}");
    std::fs::write(&bad, text).unwrap();
    // The best of three: other tests of this binary share the machine's cores meanwhile.
    let mut best = std::time::Duration::MAX;
    for _ in 0..3 {
        let start = std::time::Instant::now();
        let out = engine(dir.path(), &["list"]);
        best = best.min(start.elapsed());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        // 400 tasks x 2 variants x 3 distros (not cachyos).
        let nodes = stdout(&out)
            .lines()
            .filter(|l| l.starts_with("suite"))
            .count();
        assert_eq!(nodes, n * 2 * 3);
    }
    eprintln!("{n} tasks: validate with an error {took:?}, list (best of 3) {best:?}");
    assert!(
        best < std::time::Duration::from_secs(1),
        "list took {best:?}"
    );
}
