//! Podman as the engine behind the same API (#19, in progress): the engine knows it is Podman,
//! `engine doctor` names it, and an image Podman stores under a qualified name
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
    let out = engine_cmd(&repo(), &["doctor", "-m", "examples/local/matrix.toml"])
        .env("DOCKER_HOST", &podman.endpoint)
        .output()
        .unwrap();
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
