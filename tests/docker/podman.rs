//! Podman as the engine behind the same API (#19). Rootful: a project and the local example run
//! end to end and a second run reuses every image; Ctrl-C leaves nothing; a memory limit holds
//! and is named; `engine doctor` names Podman; an image Podman stores under a qualified name
//! (`localhost/<name>`, `docker.io/<name>`) is recognised as the one a short name means; a
//! build whose `RUN` Podman kills from outside is built again.
//! Rootless Podman is in rootless.rs.

use std::process::Command;

use crate::support::podman::PodmanService;
use crate::support::*;
use engine::docker::DockerClient;

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn doctor_names_podman_and_its_version() {
    let test = "doctor_names_podman_and_its_version";
    let Some(podman) = PodmanService::start(test) else {
        return;
    };
    let out = podman.engine(&repo(), &["doctor", "-m", "examples/local/matrix.toml"]);
    let said = text(&out.stdout);
    let want = format!(
        "ok    docker       {}: Podman Engine {}",
        podman.endpoint,
        PodmanService::version()
    );
    assert!(
        said.contains(&want),
        "no `{want}` in:\n{said}{}",
        text(&out.stderr)
    );
    // Podman before 4.6 kills a RUN step now and then; doctor says so, and what the engine does.
    let warned = said.contains("containers/podman#17918");
    assert_eq!(
        warned,
        engine::docker::podman::kills_run_steps(&PodmanService::version()),
        "{said}"
    );
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn an_image_podman_stores_under_a_qualified_name_is_found_by_its_short_name() {
    let test = "an_image_podman_stores_under_a_qualified_name_is_found_by_its_short_name";
    let Some(podman) = PodmanService::start(test) else {
        return;
    };
    // A one-file image, imported by podman itself under `localhost/...`.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root/bin")).unwrap();
    std::fs::copy("/bin/busybox", dir.path().join("root/bin/busybox")).unwrap();
    let tar = dir.path().join("rootfs.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(dir.path().join("root"))
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let tag = format!("k{}", std::process::id());
    for registry in ["localhost", "docker.io"] {
        check_qualified(&podman, &tar, registry, &tag);
    }
}

fn check_qualified(podman: &PodmanService, tar: &std::path::Path, registry: &str, tag: &str) {
    let qualified = format!("{registry}/engine-test/qualified:{tag}");
    let out = Command::new("podman")
        .arg("import")
        .arg(tar)
        .arg(&qualified)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();

    let rt = runtime();
    let client = rt
        .block_on(DockerClient::connect_to(&podman.endpoint))
        .unwrap();
    assert!(client.is_podman());
    let short = format!("engine-test/qualified:{tag}");
    let found = rt.block_on(client.image_identity(&short)).unwrap();
    let _ = Command::new("podman")
        .args(["rmi", "-f", &qualified])
        .output();
    let found = found.unwrap_or_else(|| panic!("{short} is not found as {qualified}"));
    assert!(
        found
            .id
            .trim_start_matches("sha256:")
            .starts_with(id.trim_start_matches("sha256:")),
        "{} is not {id}",
        found.id
    );
    // Still absent when nothing has either name.
    assert!(!rt
        .block_on(client.image_exists("engine-test/never-made:1"))
        .unwrap());
}

/// A busybox project (base imported from a rootfs script, image built, provisioned and
/// committed, a suite in a fresh container) on rootful Podman: it passes, a second run reuses
/// the base, the image and the provisioned image, no container is left, and `engine clean
/// --images` removes what it made.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_project_runs_on_podman_and_a_second_run_reuses_every_image() {
    let test = "a_project_runs_on_podman_and_a_second_run_reuses_every_image";
    let Some(podman) = PodmanService::start(test) else {
        return;
    };
    let dir = busybox_project("execute = \"echo hello-from-podman\"\n");
    let root = dir.path();
    let run = || {
        let out = podman.engine(root, &["run", "-v"]);
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{said}");
        (said, last_report(root))
    };
    let (said, first) = run();
    assert!(said.contains("hello-from-podman"), "{said}");
    for node in ["base:tiny", "image:tiny", "provision:tiny"] {
        assert_eq!(
            report_node(&first, node)["status"],
            "passed",
            "{node}: {said}"
        );
    }
    let (said, second) = run();
    for node in ["base:tiny", "image:tiny", "provision:tiny"] {
        assert_eq!(
            report_node(&second, node)["status"],
            "cached",
            "{node}: {said}"
        );
    }
    assert_eq!(report_node(&second, "suite:tiny:task")["status"], "passed");
    let left = |args: &[&str]| PodmanService::of_project(args, root);
    assert_eq!(left(&["ps"]), 0, "containers left in Podman");
    assert_eq!(left(&["ps", "-a"]), 0, "stopped containers left in Podman");
    assert_eq!(
        left(&["images"]),
        3,
        "base, image and provisioned image, nothing else"
    );
    let out = podman.engine(root, &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(left(&["images"]), 0, "{}", text(&out.stdout));
}

/// The local example on rootful Podman: the documented grid and exit code 3 (as on Docker),
/// then a second run that reuses every base, image and provisioned image; nothing is left.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn the_local_example_on_podman_gives_the_documented_grid_then_reuses_everything() {
    let test = "the_local_example_on_podman_gives_the_documented_grid_then_reuses_everything";
    let Some(podman) = PodmanService::start(test) else {
        return;
    };
    let p = crate::support::project::Project::new(None, &[], None);
    let run = || {
        let out = podman.engine(p.path(), &["run"]);
        let said = text(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{said}{}", text(&out.stderr));
        (said, last_report(p.path()))
    };
    let (said, _) = run();
    project::assert_documented_grid(&said, p.path());
    let (said, second) = run();
    project::assert_every_image_reused(&second, &said);
    assert_eq!(
        PodmanService::of_project(&["ps", "-a"], p.path()),
        0,
        "containers left in Podman"
    );
    let out = podman.engine(p.path(), &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// Ctrl-C on a run against Podman: exit 130 within seconds, the suite cancelled, and no
/// container of the project left in Podman.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn ctrl_c_on_podman_stops_the_run_and_leaves_no_container() {
    use std::io::{BufRead, BufReader};
    let test = "ctrl_c_on_podman_stops_the_run_and_leaves_no_container";
    let Some(podman) = PodmanService::start(test) else {
        return;
    };
    let dir = busybox_project("timeout = \"10m\"\nexecute = \"sleep 300\"\n");
    let root = dir.path();
    let running = || PodmanService::of_project(&["ps", "-a"], root);
    let mut child = engine_cmd(root, &["run"])
        .env("DOCKER_HOST", &podman.endpoint)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("start     suite:tiny:task"));
    assert!(started, "the suite never started");
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(running(), 1, "the suite's container should be running");
    let t = std::time::Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let exit = child.wait().unwrap();
    let took = t.elapsed();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(exit.code(), Some(130), "{rest:?}");
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    assert_eq!(running(), 0, "containers left in Podman: {rest:?}");
    let report = last_report(root);
    assert_eq!(report["interrupted"], true);
    assert_eq!(status(&report, "suite:tiny:task"), "cancelled");
    let out = podman.engine(root, &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// A memory limit on rootful Podman (cgroupfs, v1 here) holds: a suite that needs far more is
/// killed for memory and reported as `resource_limit`, not as a failure or an outside kill.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_memory_limit_holds_on_rootful_podman() {
    let test = "a_memory_limit_holds_on_rootful_podman";
    let Some(podman) = PodmanService::start(test) else {
        return;
    };
    let dir = busybox_project("container = { memory = \"32m\" }\nexecute = '''\nx=$(head -c 268435456 /dev/zero | tr '\\0' a); echo ${#x}\n'''\n");
    let root = dir.path();
    let out = podman.engine(root, &["run"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{said}");
    let report = last_report(root);
    let node = report_node(&report, "suite:tiny:task");
    assert_eq!(node["status"], "infra", "{node}");
    assert_eq!(node["infra_kind"], "resource_limit", "{node}");
    // Podman does not flag the container (its first process, the runner, lives on): the
    // runner's count of OOM kills in the container's cgroup names the limit.
    assert!(
        node["reason"]
            .as_str()
            .is_some_and(|r| r.contains("killed for memory") && r.contains("32 MiB")),
        "{node}"
    );
    assert!(!said.contains("268435456"), "the suite survived: {said}");
    let out = podman.engine(root, &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// Podman before 4.6 now and then kills a build's `RUN` from outside
/// (containers/podman#17918: `while running runtime: signal: killed`). Here the test kills
/// Buildah's runtime process for the step itself, once: the engine builds the image again, the
/// run passes, the log says why, and no build container is left behind.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_podman_build_whose_run_step_is_killed_from_outside_is_built_again() {
    use std::time::{Duration, Instant};
    let test = "a_podman_build_whose_run_step_is_killed_from_outside_is_built_again";
    let Some(podman) = PodmanService::start(test) else {
        return;
    };
    let dir = busybox_project("execute = \"true\"\n");
    let root = dir.path();
    // A step of this test's own (its folder's name in it), so that neither the image nor
    // Buildah's layer cache of an earlier run of the test is reused.
    let nonce = root.file_name().unwrap().to_string_lossy().to_string();
    std::fs::write(
        root.join("Dockerfile"),
        format!(
            "ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nRUN echo step-begins {nonce} && sleep 3 && echo step-ends\n"
        ),
    )
    .unwrap();
    let build_containers = || {
        let out = Command::new("podman")
            .args([
                "ps",
                "-a",
                "--external",
                "--format",
                "{{.ID}} {{.Image}} {{.Names}} {{.Status}}",
            ])
            .output()
            .unwrap();
        text(&out.stdout)
    };
    let before = build_containers();
    let child = engine_cmd(root, &["build", "-v"])
        .env("DOCKER_HOST", &podman.endpoint)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The step's runtime runs in `buildah-oci-runtime`, a child of the service.
    let t = Instant::now();
    let step = loop {
        let out = Command::new("pgrep")
            .args(["-P", &podman.pid().to_string(), "-f", "buildah-oci-runtime"])
            .output()
            .unwrap();
        if let Some(pid) = text(&out.stdout).lines().next() {
            break pid.trim().to_string();
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the RUN step never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    let kill = Command::new("kill")
        .args(["-KILL", &step])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    let report = last_report(root);
    assert_eq!(status(&report, "image:tiny"), "passed", "{said}");
    assert_eq!(status(&report, "provision:tiny"), "passed", "{said}");
    let log = root
        .join(".engine/runs")
        .join(report["run_id"].as_str().unwrap())
        .join("logs/image_tiny.log");
    let log = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(
        log.contains("while running runtime: signal: killed"),
        "the first attempt was not killed: {log}"
    );
    assert!(
        log.contains("containers/podman#17918") && log.contains("building again (attempt 2 of 3)"),
        "{log}"
    );
    // The step ran to its end once: in the second attempt.
    let ends = log.lines().filter(|l| l.trim() == "step-ends").count();
    assert_eq!(ends, 1, "{log}");
    assert_eq!(
        build_containers(),
        before,
        "a build container was left behind"
    );
    let out = podman.engine(root, &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// A busybox project in a temporary folder whose suite `task` has the task file `task`.
fn busybox_project(task: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    busybox::write_project(dir.path(), "", "", "", task);
    dir
}
