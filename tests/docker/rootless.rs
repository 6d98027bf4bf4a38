//! Rootless engines (#19): the local example run by a non-root user with subordinate ID
//! ranges, the engine and the container engine both run as that user, with the user's own
//! storage, caches and project folder (support/rootless.rs). On rootless Podman, and on
//! rootless Docker (dockerd under rootlesskit, from Debian's docker.io).

use std::path::PathBuf;
use std::process::Command;

use crate::support::project::{self, Project};
use crate::support::rootless::Rootless;
use crate::support::*;

/// The local example on rootless Podman, as a non-root user with subordinate ID ranges: the
/// engine and Podman both run as that user, with the user's own storage and caches. The grid
/// is the documented one, a second run reuses every image, a limit that cannot apply is said,
/// and the caches follow the ownership rule the README gives: what container root writes is
/// the user's, what a container's user n writes belongs to the subordinate ID start + n - 1.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn the_local_example_runs_on_rootless_podman_as_a_user_with_subordinate_ids() {
    let test = "the_local_example_runs_on_rootless_podman_as_a_user_with_subordinate_ids";
    let Some(podman) = Rootless::podman(test) else {
        return;
    };
    let Some((p, caches)) = local_example_for(&podman, test) else {
        return;
    };

    let cgroup_v1 = podman.cgroup_v1();
    let run = || {
        let out = podman.engine(p.path(), &["run"]);
        let said = text(&out.stdout);
        let warned = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{said}{warned}");
        (said, warned, last_report(p.path()))
    };
    let (said, warned, _) = run();
    project::assert_documented_grid(&said, p.path());
    assert!(
        warned.contains(&format!(
            "nodes on Podman Engine {} ({})",
            crate::support::podman::PodmanService::version(),
            podman.endpoint
        )),
        "{warned}"
    );
    let limits = "memory, cpus and pids limits are not applied: a rootless engine on cgroup v1";
    assert_eq!(warned.contains(limits), cgroup_v1, "{warned}");
    let build_log =
        std::fs::read_to_string(p.path().join(".engine/runs/latest/logs/image_arch.log")).unwrap();
    assert!(
        build_log.contains("[engine] builder: Buildah (Podman's builder)"),
        "{build_log}"
    );
    let out = podman.engine(p.path(), &["doctor"]);
    let doctor = text(&out.stdout);
    assert!(
        doctor.contains(&format!(
            "Podman Engine {} (rootless)",
            crate::support::podman::PodmanService::version()
        )),
        "{doctor}"
    );
    assert!(
        doctor.contains("builder      Buildah (Podman's builder)"),
        "{doctor}"
    );
    assert_eq!(
        doctor.contains("warn  limits       a rootless engine on cgroup v1"),
        cgroup_v1,
        "{doctor}"
    );

    let (said, _, second) = run();
    project::assert_every_image_reused(&second, &said);
    let out = podman.cli(&["ps", "-a", "-q"]);
    assert_eq!(text(&out.stdout).trim(), "", "containers left in Podman");

    // The ownership rule. pacman's cache is written by container root: the user's. The
    // AUR build folder is the builder's (uid 1000 in the image).
    use std::os::unix::fs::MetadataExt;
    let owner = |path: &str| std::fs::metadata(caches.join(path)).unwrap().uid();
    assert_eq!(owner("pacman/arch"), podman.user.uid);
    assert_eq!(owner("aur-build/arch"), podman.user.subuid_start + 1000 - 1);
    let builds = caches.join("aur-build/arch");
    let out = podman
        .command("rm")
        .arg("-rf")
        .arg(&builds)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the user removed subordinate-ID files"
    );
    let out = podman.cli(&["unshare", "rm", "-rf", &builds.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!builds.exists());

    let out = podman.engine(p.path(), &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let project = project::project_filter(p.path());
    let out = podman.cli(&["images", "-q", "--filter", &project]);
    assert_eq!(text(&out.stdout).trim(), "", "images left after clean");

    // Stopping the service leaves no process of it (rootless Podman runs itself again inside
    // its user namespace: that second process is the service).
    assert_stops_leaving_no_process(podman);
}

/// The local example on rootless Docker, as the same user: the documented grid, the engine
/// found rootless (`name=rootless` in the daemon's security options), a limit that cannot
/// apply said, and no container left.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn the_local_example_runs_on_rootless_docker_as_a_user_with_subordinate_ids() {
    let test = "the_local_example_runs_on_rootless_docker_as_a_user_with_subordinate_ids";
    let Some(docker) = Rootless::docker(test) else {
        return;
    };
    let Some((p, _caches)) = local_example_for(&docker, test) else {
        return;
    };
    let cgroup_v1 = docker.cgroup_v1();
    let out = docker.engine(p.path(), &["run"]);
    let (said, warned) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{said}{warned}");
    project::assert_documented_grid(&said, p.path());
    assert!(
        warned.contains("nodes on Docker Engine")
            && warned.contains(&format!("({})", docker.endpoint)),
        "{warned}"
    );
    let limits = "memory, cpus and pids limits are not applied: a rootless engine on cgroup v1";
    assert_eq!(warned.contains(limits), cgroup_v1, "{warned}");
    let out = docker.engine(p.path(), &["doctor"]);
    let doctor = text(&out.stdout);
    assert!(doctor.contains("(rootless), API"), "{doctor}");
    assert!(doctor.contains("builder      BuildKit"), "{doctor}");
    let out = docker.cli(&["ps", "-a", "-q"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "", "containers left");
    let out = docker.engine(p.path(), &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    assert_stops_leaving_no_process(docker);
}

/// Stopping the engine leaves no process of it: rootless Podman runs itself again inside its
/// user namespace (that second process is the service), rootless Docker runs dockerd and
/// containerd under rootlesskit.
fn assert_stops_leaving_no_process(engine: Rootless) {
    let dir = engine.dir.clone();
    drop(engine);
    let left = Command::new("pgrep").arg("-f").arg(&dir).output().unwrap();
    assert_eq!(
        text(&left.stdout).trim(),
        "",
        "processes left: {}",
        dir.display()
    );
}

/// The local example in a folder the user owns, its caches too, and the base rootfs it needs.
/// The example's base comes from debootstrap, which needs root: a rootless user makes it once
/// with sudo. Here the root-made tar (built now, or found in the machine cache) goes to the
/// user's engine cache, where the script finds it.
fn local_example_for(engine: &Rootless, test: &str) -> Option<(Project, PathBuf)> {
    let script = repo().join("docker/bootstrap/debian.sh");
    let out = Command::new(&script).output().unwrap();
    if !out.status.success() {
        return skip_or_fail(
            test,
            &format!("the example's base rootfs: {}", text(&out.stderr).trim()),
        );
    }
    let tar = PathBuf::from(text(&out.stdout).lines().last().unwrap_or("").trim());
    let rootfs = engine.dir.join("cache/rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::copy(&tar, rootfs.join(tar.file_name().unwrap())).unwrap();
    let caches = engine.dir.join("caches");
    std::fs::create_dir_all(&caches).unwrap();
    engine.give(&engine.dir.join("cache"));
    engine.give(&caches);
    let p = Project::new(None, &[], Some(&caches));
    engine.give(p.path());
    Some((p, caches))
}
