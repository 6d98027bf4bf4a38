//! Host execution is a grant: `--no-host-exec` refuses a rootfs script (an infrastructure error
//! naming it and the flag) but reuses an existing base without running anything on the host;
//! the script gets a clean environment (no `pass_env` secret) and is killed, with its process
//! group, past its timeout; spread's `$(HOST: ...)` values are evaluated once on the host.

use std::path::Path;

use crate::support::*;

const TASK: &str = "execute = \"echo in the container\"\n";

/// A busybox project (base_rootfs settings `rootfs_extra`) whose rootfs script starts a
/// background child, writes its pid to the returned file, and waits for it.
fn sleeping_project(root: &Path, rootfs_extra: &str) -> std::path::PathBuf {
    let pidfile = root.join("child.pid");
    let before = format!(
        "# nonce {}\nsleep 300 &\necho $! > {}\nwait",
        test_name(),
        pidfile.display()
    );
    busybox::write_project(root, &before, rootfs_extra, "", TASK);
    pidfile
}

/// Remove the images a project's runs made (its base included), by the project's label.
fn remove_images(t: &DockerTest, root: &Path) {
    let out = engine(root, &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(engine_containers(&t.rt, &t.docker).is_empty());
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn no_host_exec_refuses_a_missing_base_and_reuses_a_present_one() {
    let Some(t) = DockerTest::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let marker = root.join("script-ran");
    // The nonce makes this project's base key new: no base image exists for it yet.
    let before = format!(
        "# nonce {}\ntouch {}\nenv >&2",
        test_name(),
        marker.display()
    );
    busybox::write_project(
        root,
        &before,
        "pass_env = [\"ENGINE_TEST_GIVEN\"]",
        "pass_env = [\"ENGINE_TEST_SECRET\"]",
        TASK,
    );
    let secret = "s3cret-value-of-the-host";
    let run = |args: &[&str]| {
        engine_cmd(root, args)
            .env("ENGINE_TEST_SECRET", secret)
            .env("ENGINE_TEST_GIVEN", "given-to-the-script")
            .output()
            .unwrap()
    };
    // No base, no host execution: exit 3, naming the script and the flag; nothing ran.
    let out = run(&["run", "--no-host-exec"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("host execution refused (--no-host-exec): distro tiny runs `rootfs.sh`"),
        "{err}"
    );
    let base = report_node(&last_report(root), "base:tiny").to_string();
    assert!(base.contains("rootfs.sh"), "{base}");
    assert!(base.contains("--no-host-exec"), "{base}");
    assert!(!marker.exists(), "the script ran despite --no-host-exec");
    // The same through the environment variable CI sets.
    let out = engine_cmd(root, &["run"])
        .env("ENGINE_NO_HOST_EXEC", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(!marker.exists());

    // Built where host execution is trusted: the grant is printed, the script ran once, with a
    // clean environment: the variable named for it, no pass_env secret.
    let out = run(&["build"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("grant: host: distro tiny runs `rootfs.sh`"),
        "{err}"
    );
    assert!(marker.exists());
    let log = std::fs::read_to_string(
        std::fs::canonicalize(root.join(".engine/runs/latest"))
            .unwrap()
            .join("logs/base_tiny.log"),
    )
    .unwrap();
    assert!(
        log.contains("ENGINE_TEST_GIVEN=given-to-the-script"),
        "{log}"
    );
    assert!(log.contains("ENGINE_ROOTFS_OUT="), "{log}");
    assert!(
        !log.contains(secret),
        "the secret reached the script:\n{log}"
    );
    assert!(!log.contains("ENGINE_TEST_SECRET"), "{log}");

    // With the base present, --no-host-exec passes and runs nothing on the host.
    std::fs::remove_file(&marker).unwrap();
    let out = run(&["run", "--no-host-exec"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!marker.exists(), "the script ran although its base exists");
    remove_images(&t, root);
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_rootfs_script_past_its_timeout_is_killed_with_its_children() {
    let Some(t) = DockerTest::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let pidfile = sleeping_project(root, "timeout = \"2s\"");
    let start = std::time::Instant::now();
    let out = engine(root, &["run"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    let r = last_report(root);
    let base = report_node(&r, "base:tiny");
    assert_eq!(base["status"], "infra", "{base}");
    assert_eq!(base["infra_kind"], "base", "{base}");
    assert!(
        base.to_string()
            .contains("ran past its timeout (2s) and was killed"),
        "{base}"
    );
    // The script's background child went with its process group.
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(gone(&pid), "the script's child {pid} still runs");
    assert!(engine_containers(&t.rt, &t.docker).is_empty());
}

/// Whether process `pid` is gone (or a zombie waiting for its parent).
fn gone(pid: &str) -> bool {
    std::thread::sleep(std::time::Duration::from_millis(300));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    stat.is_empty() || stat.contains(" Z ")
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn ctrl_c_kills_a_running_rootfs_script_with_its_children() {
    let Some(_t) = DockerTest::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let pidfile = sleeping_project(root, "");
    let mut child = engine_cmd(root, &["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let waited = std::time::Instant::now();
    while !pidfile.is_file() || std::fs::read_to_string(&pidfile).unwrap().trim().is_empty() {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(60),
            "the script never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    assert!(gone(&pid), "the script's child {pid} outlived Ctrl-C");
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn host_values_are_evaluated_once_on_the_host_or_refused() {
    let Some(t) = DockerTest::start() else {
        return;
    };
    local_images();
    let p = project::LocalProject::new();
    std::fs::remove_dir_all(p.path().join("suites")).unwrap();
    let counter = p.path().join("evaluations");
    let task = format!(
        "summary: a value from the host\nsystems: [arch]\nenvironment:\n    FROM_HOST: \"$(HOST: echo x >> {c}; echo host-$(echo value))\"\n    WORD/a: one\n    WORD/b: two\nexecute: |\n    echo \"$FROM_HOST $WORD\"\n    test \"$FROM_HOST\" = host-value\n",
        c = counter.display()
    );
    let dir = p.path().join("suites/hosted");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("task.yaml"), task).unwrap();
    let out = engine(p.path(), &["run", "arch", "-v"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("grant: host: suite hosted runs `echo x >>"),
        "{err}"
    );
    assert!(err.contains("host-value one"), "{err}");
    assert!(err.contains("host-value two"), "{err}");
    // Once per run, though two variants use it.
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), "x\n");
    // Refused: the suites that need it fail as infrastructure, naming the command and the flag.
    let out = engine(p.path(), &["run", "arch", "--no-host-exec"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let r = last_report(p.path());
    let n = report_node(&r, "suite:arch:hosted:a");
    assert_eq!(n["infra_kind"], "host", "{n}");
    assert!(n.to_string().contains("refused by --no-host-exec"), "{n}");
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), "x\n");
    assert!(engine_containers(&t.rt, &t.docker).is_empty());
}
