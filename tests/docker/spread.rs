//! spread's task files in containers on the look-alikes: the helpers (`MATCH`, `NOMATCH`) and
//! `SPREAD_*` variables a real task reads, the task's folder as the working directory, `systems`
//! with exclusions, `debug` after a failure (its output with the failure), `manual`, `samples`.

use crate::support::project::LocalProject;
use crate::support::*;

fn write(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn spread_tasks_run_unchanged_in_containers() {
    let Some(t) = DockerTest::start() else {
        return;
    };
    local_images();
    let p = LocalProject::new();
    std::fs::remove_dir_all(p.path().join("suites")).unwrap();
    write(
        p.path(),
        "suites/helpers/task.yaml",
        "summary: spread's helpers and variables\nsystems: [-cachyos, -endeavouros, -manjaro]\nexecute: |\n    echo \"system=$SPREAD_SYSTEM backend=$SPREAD_BACKEND\" | MATCH '^system=arch backend=docker$'\n    echo \"$SPREAD_TASK\" | MATCH 'suites/helpers$'\n    test \"$(basename \"$PWD\")\" = helpers\n    ls | MATCH task.yaml\n    echo abc | NOMATCH xyz\n",
    );
    write(
        p.path(),
        "suites/debugged/task.yaml",
        "summary: a failure with debug output\nsystems: [arch]\nexecute: |\n    echo state > /tmp/state\n    echo disabled | MATCH enabled\ndebug: |\n    echo \"debug sees: $(cat /tmp/state)\"\nrestore: |\n    rm -f /tmp/state\n",
    );
    write(
        p.path(),
        "suites/by-hand/task.yaml",
        "summary: only when named\nmanual: true\nexecute: |\n    true\n",
    );
    write(
        p.path(),
        "suites/not-here/task.yaml",
        "summary: skipped by a condition\nskip:\n  - reason: nothing to check on arch\n    if: test \"$SPREAD_SYSTEM\" = arch\nexecute: |\n    false\n",
    );
    write(
        p.path(),
        "suites/native-skip/task.toml",
        "summary = \"decides in the container that it does not apply\"\nexecute = '''\necho 'no such feature on this image'\nexit 77\n'''\n",
    );
    let junit = p.path().join("junit.xml");
    let out = engine(
        p.path(),
        &["run", "arch", "--junit", junit.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let r = last_report(p.path());
    assert_eq!(
        status(&r, "suite:arch:helpers"),
        "passed",
        "{}",
        text(&out.stderr)
    );
    assert_eq!(status(&r, "suite:arch:debugged"), "failed");
    let node = report_node(&r, "suite:arch:debugged");
    let tail = tail_lines(node);
    assert!(
        tail.iter()
            .any(|l| l.contains("error: pattern not found, got:")),
        "{tail:?}"
    );
    assert!(
        tail.iter().any(|l| l.contains("debug sees: state")),
        "{tail:?}"
    );
    // Skipped in the container: by a condition, and by exit 77 with its last line as the reason.
    for (id, why) in [
        ("suite:arch:not-here", "nothing to check on arch"),
        ("suite:arch:native-skip", "no such feature on this image"),
    ] {
        let n = r["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap();
        assert_eq!(n["status"], "skipped", "{n}");
        assert_eq!(n["reason"], why, "{n}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("nothing to check on arch"), "{xml}");
    // `manual` kept it out of `engine run arch`; naming it runs it.
    assert!(r["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["id"] != "suite:arch:by-hand"));
    let named = engine(p.path(), &["run", "arch:by-hand"]);
    assert_eq!(named.status.code(), Some(0), "{}", text(&named.stderr));
    assert!(engine_containers(&t.rt, &t.docker).is_empty());
}

/// The run's folder of the last run (`.engine/runs/latest`).
fn latest_run(root: &std::path::Path) -> std::path::PathBuf {
    std::fs::canonicalize(root.join(".engine/runs/latest")).unwrap()
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn variants_skips_debug_artifacts_and_warn_timeout_end_to_end() {
    let Some(t) = DockerTest::start() else {
        return;
    };
    local_images();
    let p = LocalProject::new();
    std::fs::remove_dir_all(p.path().join("suites")).unwrap();
    // spread's format: two variants from the environment keys, a value that uses an earlier
    // one and a spread variable, a skip true for one variant on one distro, debug, an artifact
    // and a warn-timeout the execute outlasts.
    write(
        p.path(),
        "suites/langs/task.yaml",
        r#"summary: the greeting, once per language
systems: [arch, cachyos]
environment:
    WORD/en: hello
    WORD/de: hallo
    OUT: /tmp/out/$SPREAD_VARIANT
skip:
    - reason: no German on this one
      if: test "$SPREAD_SYSTEM" = cachyos && test "$SPREAD_VARIANT" = de
warn-timeout: 1s
artifacts: [/tmp/out]
execute: |
    mkdir -p /tmp/out
    echo "$WORD from $SPREAD_JOB" > "$OUT.txt"
    sleep 2
    test "$SPREAD_VARIANT" = en
debug: |
    echo "debug: variant $SPREAD_VARIANT wrote $(cat "$OUT.txt")"
"#,
    );
    // task.toml: native variants, one that skips itself with exit 77, an artifact.
    write(
        p.path(),
        "suites/native/task.toml",
        r#"summary = "native variants and a runtime skip"
distros = ["arch"]
artifacts = ["/tmp/native"]
execute = '''
if [ "$CHOICE" = fr ]; then echo "no French build here"; exit 77; fi
mkdir -p /tmp/native && echo "$CHOICE" > /tmp/native/choice
'''

[variants.de]
environment = { CHOICE = "de" }

[variants.fr]
environment = { CHOICE = "fr" }
"#,
    );
    let junit = p.path().join("junit.xml");
    let out = engine(
        p.path(),
        &[
            "run",
            "arch",
            "cachyos:langs",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let r = last_report(p.path());
    let want = [
        ("suite:arch:langs:en", "passed"),
        ("suite:arch:langs:de", "failed"),
        ("suite:cachyos:langs:en", "passed"),
        ("suite:cachyos:langs:de", "skipped"),
        ("suite:arch:native:de", "passed"),
        ("suite:arch:native:fr", "skipped"),
    ];
    for (id, s) in want {
        assert_eq!(status(&r, id), s, "{id}: {}", report_node(&r, id));
    }
    assert_eq!(
        report_node(&r, "suite:cachyos:langs:de")["reason"],
        "no German on this one"
    );
    assert_eq!(
        report_node(&r, "suite:arch:native:fr")["reason"],
        "no French build here"
    );
    // The failure carries debug's output; the variable expanded in order.
    let failed = report_node(&r, "suite:arch:langs:de");
    let tail = failed["tail"].to_string();
    assert!(
        tail.contains("debug: variant de wrote hallo from docker:arch:suites/langs:de"),
        "{tail}"
    );
    // Artifacts: copied out for the failure and the passes, named by node.
    let run = latest_run(p.path());
    assert_eq!(failed["artifacts"], "artifacts/suite_arch_langs_de");
    assert_eq!(
        std::fs::read_to_string(run.join("artifacts/suite_arch_langs_de/tmp/out/de.txt")).unwrap(),
        "hallo from docker:arch:suites/langs:de\n"
    );
    assert_eq!(
        std::fs::read_to_string(run.join("artifacts/suite_arch_native_de/tmp/native/choice"))
            .unwrap(),
        "de\n"
    );
    // warn-timeout: a line in the suite's output, not a failure.
    let log = std::fs::read_to_string(run.join("logs/suite_cachyos_langs_en.log")).unwrap();
    assert!(log.contains("running late"), "{log}");
    assert!(
        log.contains("[runner] artifact /tmp/out: copied (1 files)"),
        "{log}"
    );
    // JUnit: one testcase per variant, the skip's reason, debug's output in the failure, the
    // artifacts as an attachment.
    let xml = std::fs::read_to_string(&junit).unwrap();
    for name in [
        "\"langs:en\"",
        "\"langs:de\"",
        "\"native:de\"",
        "\"native:fr\"",
    ] {
        assert!(xml.contains(&format!("name={name}")), "{name}: {xml}");
    }
    assert!(xml.contains("no German on this one"), "{xml}");
    assert!(xml.contains("debug: variant de wrote"), "{xml}");
    assert!(xml.contains("[[ATTACHMENT|"), "{xml}");
    // The grid has a row per variant.
    assert!(err.contains("langs:de"), "{err}");
    assert!(engine_containers(&t.rt, &t.docker).is_empty());
}

/// spread's `samples`: the task runs that many times, each sample in a fresh container with its
/// `SPREAD_SAMPLE` and `SPREAD_JOB`; the first sample that fails is the verdict and no later
/// sample runs.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn samples_run_the_task_again_in_fresh_containers_until_one_fails() {
    let Some(t) = DockerTest::start() else {
        return;
    };
    local_images();
    let cache = tempfile::tempdir().unwrap();
    let p = crate::support::project::Project::new(None, &[], Some(cache.path())).with_suite_cache();
    std::fs::remove_dir_all(p.path().join("suites")).unwrap();
    // Each sample notes itself in a cache the samples share, and fails if it finds what an
    // earlier sample left in its container.
    write(
        p.path(),
        "suites/thrice/task.yaml",
        "summary: sampled\nsystems: [arch]\nsamples: 3\nexecute: |\n    test ! -e /tmp/left-by-a-sample\n    touch /tmp/left-by-a-sample\n    echo \"$SPREAD_SAMPLE $SPREAD_JOB\" >> /var/cache/scratch/thrice.log\n",
    );
    // task.toml's samples: the number is in ENGINE_SAMPLE.
    write(
        p.path(),
        "suites/second-fails/task.toml",
        "distros = [\"arch\"]\nsamples = 3\nexecute = '''\ntest ! -e /tmp/left-by-a-sample\ntouch /tmp/left-by-a-sample\necho \"$ENGINE_SAMPLE\" >> /var/cache/scratch/second-fails.log\ntest \"$ENGINE_SAMPLE\" != 2\n'''\n",
    );
    let out = engine(p.path(), &["run"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let r = last_report(p.path());
    assert_eq!(status(&r, "suite:arch:thrice"), "passed");
    let failed = report_node(&r, "suite:arch:second-fails");
    assert_eq!(failed["status"], "failed", "{failed}");
    let reason = failed["reason"].as_str().unwrap();
    assert!(reason.starts_with("sample 2 of 3: "), "{reason}");
    let noted = |task: &str| {
        std::fs::read_to_string(cache.path().join(format!("scratch/arch/{task}.log")))
            .unwrap_or_else(|e| format!("{e}"))
    };
    assert_eq!(
        noted("thrice"),
        "1 docker:arch:suites/thrice#1\n2 docker:arch:suites/thrice#2\n3 docker:arch:suites/thrice#3\n"
    );
    assert_eq!(noted("second-fails"), "1\n2\n");
    let log = std::fs::read_to_string(
        p.path()
            .join(".engine/runs/latest/logs/suite_arch_thrice.log"),
    )
    .unwrap();
    assert!(log.contains("sample 3 of 3"), "{log}");
    assert!(engine_containers(&t.rt, &t.docker).is_empty());
}
