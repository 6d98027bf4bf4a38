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
