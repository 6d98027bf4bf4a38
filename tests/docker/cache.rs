//! The image cache on the real daemon: `engine list --status` says what will be reused and
//! what will be made again, naming the part of the key that changed; `--rebuild` makes one
//! distro's image and provision again and nothing else.

use crate::support::project::LocalProject;
use crate::support::*;

/// `engine list --status`: each base, image and provision line, by node id.
fn status_lines(dir: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let out = engine(dir, &["list", "--status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("suite"))
        .filter_map(|l| {
            let id = l.split_whitespace().nth(1)?;
            Some((id.to_string(), l.to_string()))
        })
        .collect()
}

fn assert_line(lines: &std::collections::BTreeMap<String, String>, id: &str, want: &str) {
    let line = lines
        .get(id)
        .unwrap_or_else(|| panic!("no {id} in {lines:#?}"));
    assert!(line.contains(want), "{id}: want {want:?} in {line:?}");
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn list_status_names_the_input_that_changed() {
    let Some(_t) = DockerTest::start() else {
        return;
    };
    local_images();
    let p = LocalProject::new();
    let distros = ["arch", "cachyos", "manjaro", "endeavouros"];
    let lines = status_lines(p.path());
    for d in distros {
        for kind in ["base", "image", "provision"] {
            assert_line(&lines, &format!("{kind}:{d}"), "cached");
        }
    }

    // The Dockerfile: every image, and so every provision, is made again.
    let dockerfile = p.path().join("docker/Dockerfile");
    let original = std::fs::read_to_string(&dockerfile).unwrap();
    std::fs::write(&dockerfile, format!("{original}\n# an edit\n")).unwrap();
    let lines = status_lines(p.path());
    for d in distros {
        assert_line(&lines, &format!("base:{d}"), "cached");
        assert_line(
            &lines,
            &format!("image:{d}"),
            "to build: Dockerfile changed",
        );
        assert_line(
            &lines,
            &format!("provision:{d}"),
            "to build: image changed (",
        );
    }
    std::fs::write(&dockerfile, original).unwrap();

    // A provision input: the provisions only, naming the file.
    let version = p.path().join("product/VERSION");
    let v = std::fs::read_to_string(&version).unwrap();
    std::fs::write(&version, format!("{}.1\n", v.trim())).unwrap();
    let lines = status_lines(p.path());
    for d in distros {
        assert_line(&lines, &format!("image:{d}"), "cached");
        assert_line(
            &lines,
            &format!("provision:{d}"),
            "to build: input product/VERSION changed",
        );
    }
    std::fs::write(&version, v).unwrap();

    // A suite edit and an untracked file: nothing to make.
    std::fs::write(p.path().join("plan.svg"), "<svg/>").unwrap();
    let lines = status_lines(p.path());
    assert!(lines.values().all(|l| l.contains("cached")), "{lines:#?}");
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn rebuild_makes_one_distro_again_and_says_why() {
    let Some(t) = DockerTest::start() else {
        return;
    };
    local_images();
    let p = LocalProject::new();
    let out = engine(p.path(), &["build", "--rebuild", "arch"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let r = last_report(p.path());
    assert_eq!(status(&r, "image:arch"), "passed", "{stderr}");
    assert_eq!(status(&r, "provision:arch"), "passed", "{stderr}");
    for kind in ["image", "provision"] {
        let node = r["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == format!("{kind}:arch"))
            .unwrap();
        assert_eq!(node["why"][0], "--rebuild", "{node}");
        assert!(
            stderr.contains(&format!("{kind}:arch")) && stderr.contains("made again: --rebuild"),
            "{stderr}"
        );
    }
    for d in ["cachyos", "manjaro", "endeavouros"] {
        for kind in ["base", "image", "provision"] {
            assert_eq!(status(&r, &format!("{kind}:{d}")), "cached", "{kind}:{d}");
        }
    }
    // The replaced images are gone (none of arch's is left without a tag).
    for node in ["image:arch", "provision:arch"] {
        let filter = std::collections::HashMap::from([(
            engine::docker::labels::NODE.to_string(),
            node.to_string(),
        )]);
        let images = t.rt.block_on(t.docker.list_images(&filter)).unwrap();
        let dangling: Vec<_> = images.iter().filter(|i| i.tags.is_empty()).collect();
        assert!(
            dangling.is_empty(),
            "{node}: replaced images left: {dangling:?}"
        );
    }
    // The rebuilt image keeps its key: the next build reuses everything.
    let again = engine(p.path(), &["build"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let r2 = last_report(p.path());
    for kind in ["base", "image", "provision"] {
        assert_eq!(
            status(&r2, &format!("{kind}:arch")),
            "cached",
            "{kind}:arch"
        );
    }
    // A pattern that names no distro is a usage error, before anything runs.
    let bad = engine(p.path(), &["build", "--rebuild", "nosuch*"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("--rebuild nosuch*: it matches no distro"),
        "{}",
        text(&bad.stderr)
    );
    assert!(engine_containers(&t.rt, &t.docker).is_empty());
}

/// The local example with `distros` taking their base from `reference` (pulled by `pull`)
/// instead of the rootfs script.
fn on_registry_base(p: &LocalProject, distros: &[(&str, &str)], pull: &str) {
    for (distro, reference) in distros {
        let path = p.path().join(format!("distros/{distro}.toml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("base_rootfs") {
                    format!("base_image = \"{reference}\"\npull = \"{pull}\"")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, text).unwrap();
    }
}

/// The Debian base the local example's rootfs script makes (already imported by the test bed).
fn local_debian_base() -> String {
    let out = engine(
        &repo(),
        &[
            "graph",
            "--json",
            "-m",
            "examples/local/matrix.toml",
            "--distros",
            "arch",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "base")
        .unwrap()["cache_key"]
        .as_str()
        .unwrap()
        .to_string();
    format!("engine-base/debian:{}", &key[..16])
}

/// A node's log, for messages.
fn log_of(report: &serde_json::Value, id: &str) -> String {
    let path = report_node(report, id)["log"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    std::fs::read_to_string(&path).unwrap_or_else(|e| format!("{path}: {e}"))
}

/// Remove what the runs of `reports` built (their images carry the run's label).
fn remove_built(t: &DockerTest, reports: &[&serde_json::Value]) {
    for r in reports {
        let f = std::collections::HashMap::from([(
            "engine.run".to_string(),
            r["run_id"].as_str().unwrap().to_string(),
        )]);
        let _ = t.rt.block_on(t.docker.remove_images_by_labels(&f));
    }
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_moved_tag_rebuilds_exactly_its_distro_and_says_why() {
    use crate::support::registry::Registry;
    let Some(t) = DockerTest::start() else {
        return;
    };
    local_images();
    let registry = Registry::start();
    let debian = local_debian_base();
    let rolling =
        t.rt.block_on(registry.push(&debian, "lookalike/debian:rolling"));
    let stable =
        t.rt.block_on(registry.push(&debian, "lookalike/debian:stable"));
    let p = LocalProject::new();
    on_registry_base(
        &p,
        &[("arch", &rolling.reference), ("manjaro", &stable.reference)],
        "always",
    );
    let build = |label: &str| {
        let out = engine(p.path(), &["build", "arch", "manjaro"]);
        assert_eq!(out.status.code(), Some(0), "{label}: {}", text(&out.stderr));
        (last_report(p.path()), text(&out.stderr))
    };
    // First: both bases pulled. They are the very image the rootfs script made (same id), so
    // the images built on it are reused: a key follows the base's id, not its name.
    let (r1, _) = build("first");
    for d in ["arch", "manjaro"] {
        let id = format!("base:{d}");
        assert_eq!(status(&r1, &id), "passed", "{d}: {}", log_of(&r1, &id));
        assert!(
            log_of(&r1, &id).contains("pulled: sha256:"),
            "{}",
            log_of(&r1, &id)
        );
        // The pull's progress, layer by layer, is in the log.
        assert!(log_of(&r1, &id).contains("pull: "), "{}", log_of(&r1, &id));
        assert_eq!(status(&r1, &format!("image:{d}")), "cached");
    }

    // The rolling tag moves to a new base: arch only is made again, and it says why.
    let moved = {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!("FROM {debian}\nLABEL engine.test.moved=\"1\"\n"),
        )
        .unwrap();
        let request = engine::docker::BuildRequest {
            context_dir: dir.path().to_path_buf(),
            dockerfile: "Dockerfile".into(),
            tag: "engine-test/moved-debian:1".into(),
            ..Default::default()
        };
        t.rt.block_on(t.docker.build_image(&request, |_| {}))
            .unwrap();
        let pushed =
            t.rt.block_on(registry.push("engine-test/moved-debian:1", "lookalike/debian:rolling"));
        t.rt.block_on(crate::support::registry::remove_image(
            "engine-test/moved-debian:1",
        ));
        pushed
    };
    assert_ne!(moved.digest, rolling.digest);
    // Once the daemon has the moved tag (someone pulled it), `list --status` names the cause.
    t.rt.block_on(t.docker.pull(&rolling.reference)).unwrap();
    let lines = status_lines(p.path());
    assert_line(
        &lines,
        "image:arch",
        "to build: base image changed (sha256:",
    );
    assert_line(&lines, "image:manjaro", "cached");
    let (r2, stderr2) = build("after the move");
    // The pull finds the tag already where the registry has it (pulled above): unchanged.
    assert_eq!(
        status(&r2, "base:arch"),
        "cached",
        "{}",
        log_of(&r2, "base:arch")
    );
    assert!(
        log_of(&r2, "base:arch").contains("is unchanged"),
        "{}",
        log_of(&r2, "base:arch")
    );
    let image = report_node(&r2, "image:arch");
    assert_eq!(image["status"], "passed", "{image}");
    assert!(
        image["why"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("base image changed (sha256:")),
        "{image}"
    );
    assert!(
        stderr2.contains("made again: base image changed"),
        "{stderr2}"
    );
    assert_eq!(status(&r2, "provision:arch"), "passed");
    for kind in ["base", "image", "provision"] {
        assert_eq!(
            status(&r2, &format!("{kind}:manjaro")),
            "cached",
            "{kind}:manjaro"
        );
    }
    // Nothing moved since: everything is reused.
    let (r3, _) = build("again");
    for d in ["arch", "manjaro"] {
        for kind in ["base", "image", "provision"] {
            assert_eq!(status(&r3, &format!("{kind}:{d}")), "cached", "{kind}:{d}");
        }
    }

    // Pinned by digest: pulled by digest, named in the log, and reused afterwards.
    on_registry_base(&p, &[], "always");
    let pinned = moved.by_digest();
    let arch = p.path().join("distros/arch.toml");
    let text_of_arch = std::fs::read_to_string(&arch).unwrap();
    std::fs::write(&arch, text_of_arch.replace(&rolling.reference, &pinned)).unwrap();
    let (r4, _) = build("pinned");
    assert_eq!(
        status(&r4, "image:arch"),
        "cached",
        "{}",
        report_node(&r4, "image:arch")
    );
    let log =
        std::fs::read_to_string(report_node(&r4, "base:arch")["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains(&format!("pinned at {}", moved.digest)),
        "{log}"
    );

    // A tag the registry does not have: an infrastructure error naming it and the answer.
    std::fs::write(
        &arch,
        text_of_arch.replace(
            &rolling.reference,
            &registry.reference("lookalike/debian:nope"),
        ),
    )
    .unwrap();
    let out = engine(p.path(), &["build", "arch"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let r5 = last_report(p.path());
    let base = report_node(&r5, "base:arch");
    assert_eq!(base["infra_kind"], "pull", "{base}");
    let reason = base["reason"].as_str().unwrap();
    assert!(reason.contains("lookalike/debian:nope"), "{reason}");
    assert!(
        reason.contains("not found") || reason.contains("manifest unknown"),
        "{reason}"
    );

    remove_built(&t, &[&r1, &r2, &r3, &r4]);
    assert!(engine_containers(&t.rt, &t.docker).is_empty());
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_registry_login_comes_from_the_docker_config_and_its_password_is_never_shown() {
    use crate::support::registry::{docker_config, Registry};
    let Some(t) = DockerTest::start() else {
        return;
    };
    local_images();
    let password = "pa55~w?rd>only-here";
    let registry = Registry::start_with_login("tester", password);
    let debian = local_debian_base();
    let base = t.rt.block_on(registry.push(&debian, "private/debian:1"));
    let p = LocalProject::new();
    on_registry_base(&p, &[("arch", &base.reference)], "missing");
    let config = tempfile::tempdir().unwrap();

    // Without credentials: an infrastructure error that says where they are looked for.
    let out = engine_cmd(p.path(), &["build", "arch"])
        .env("DOCKER_CONFIG", config.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let r1 = last_report(p.path());
    let reason = report_node(&r1, "base:arch")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("docker login"), "{reason}");

    // With `docker login`'s file: pulled, built, provisioned.
    docker_config(config.path(), &registry.host(), "tester", password);
    let out = engine_cmd(p.path(), &["build", "arch"])
        .env("DOCKER_CONFIG", config.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r2 = last_report(p.path());
    assert_eq!(
        status(&r2, "base:arch"),
        "passed",
        "{}",
        log_of(&r2, "base:arch")
    );
    // The same image as the local base: what is built on it is reused.
    assert_eq!(status(&r2, "image:arch"), "cached");
    assert_eq!(status(&r2, "provision:arch"), "cached");

    // `pull = "missing"` with the image present: no pull at all.
    let present = engine_cmd(p.path(), &["build", "arch"])
        .env("DOCKER_CONFIG", config.path())
        .output()
        .unwrap();
    assert_eq!(present.status.code(), Some(0), "{}", text(&present.stderr));
    let log = log_of(&last_report(p.path()), "base:arch");
    assert!(
        log.contains("is present") && !log.contains("pulling"),
        "{log}"
    );
    // `--pull` asks the registry although the policy (`missing`) would not: the same image.
    let again = engine_cmd(p.path(), &["build", "--pull", "arch"])
        .env("DOCKER_CONFIG", config.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let r3 = last_report(p.path());
    assert!(
        log_of(&r3, "base:arch").contains("pulling"),
        "{}",
        log_of(&r3, "base:arch")
    );
    assert_eq!(status(&r3, "base:arch"), "cached");
    // The password is nowhere: output, reports, logs.
    let mut seen = vec![
        text(&out.stdout),
        text(&out.stderr),
        text(&again.stdout),
        text(&again.stderr),
    ];
    for entry in walk(&p.path().join(".engine")) {
        seen.push(String::from_utf8_lossy(&std::fs::read(entry).unwrap()).into_owned());
    }
    for (i, s) in seen.iter().enumerate() {
        assert!(!s.contains(password), "the password leaked (item {i}): {s}");
    }
    remove_built(&t, &[&r1, &r2, &r3]);
    assert!(engine_containers(&t.rt, &t.docker).is_empty());
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else if path.is_file() {
                out.push(path);
            }
        }
    }
    out
}
