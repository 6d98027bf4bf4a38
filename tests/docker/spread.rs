//! spread's task files in containers on the look-alikes: the helpers (`MATCH`, `NOMATCH`) and
//! `SPREAD_*` variables a real task reads, the task's folder as the working directory, `systems`
//! with exclusions, `debug` after a failure (its output with the failure), `manual`.

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
    let tail: Vec<&str> = node["tail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
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
