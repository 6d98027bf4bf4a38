//! Podman as the engine behind the same API (#19, in progress): a project runs end to end on
//! Podman and a second run reuses every image; the engine knows it is Podman, `engine doctor`
//! names it, and an image Podman stores under a qualified name
//! (`localhost/<name>`, `docker.io/<name>`) is recognised as the one a short name means
//! (Podman 4.3's compatible API resolves short names itself; the test keeps it so).

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
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    busybox::write_project(root, "", "", "", "execute = \"echo hello-from-podman\"\n");
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
    let project = format!(
        "label=engine.project={}",
        engine::docker::labels::project_id(root)
    );
    let left = |what: &str| {
        let out = Command::new("podman")
            .args([what, "-q", "--filter", &project])
            .output()
            .unwrap();
        text(&out.stdout).lines().count()
    };
    assert_eq!(left("ps"), 0, "containers left in Podman");
    let out = Command::new("podman")
        .args(["ps", "-a", "-q", "--filter", &project])
        .output()
        .unwrap();
    assert_eq!(
        text(&out.stdout).lines().count(),
        0,
        "stopped containers left in Podman"
    );
    assert_eq!(
        left("images"),
        3,
        "base, image and provisioned image, nothing else"
    );
    let out = podman.engine(root, &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(left("images"), 0, "{}", text(&out.stdout));
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
    for row in [
        "(provision)               ok       ok           ok       ok",
        "aur-helper                ok       ok           ok       ok",
        "disable-in-german         ok    INFRA         skip        -",
        "enable-default            ok       ok           ok       ok",
        "legacy-enable-disable     ok       ok           ok       ok",
        "must-fail               FAIL        -            -        -",
        "times-out               TIME        -            -        -",
    ] {
        assert!(said.lines().any(|l| l == row), "no `{row}` in:\n{said}");
    }
    let (said, second) = run();
    for distro in ["arch", "cachyos", "endeavouros", "manjaro"] {
        for kind in ["base", "image", "provision"] {
            let id = format!("{kind}:{distro}");
            assert_eq!(
                report_node(&second, &id)["status"],
                "cached",
                "{id}: {said}"
            );
        }
    }
    let project = format!(
        "label=engine.project={}",
        engine::docker::labels::project_id(p.path())
    );
    let out = Command::new("podman")
        .args(["ps", "-a", "-q", "--filter", &project])
        .output()
        .unwrap();
    assert_eq!(
        text(&out.stdout).lines().count(),
        0,
        "containers left in Podman"
    );
    let out = podman.engine(p.path(), &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
