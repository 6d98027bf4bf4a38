//! End to end on the real Docker daemon: the offline test bed, `engine run`, caching, isolation,
//! exclusive mounts, Ctrl-C, a container killed from outside, the runner inside the look-alikes.
//!
//! These tests build what they need (the Debian base via docker/bootstrap/debian.sh, once per
//! machine) and leave no container behind. Without a daemon they skip loudly; under CI=true
//! they fail.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::project::Project;
use crate::support::*;
use engine::docker::{Bind, ContainerSpec, RunOptions};

/// Remove the images a run built (its nonce images), keeping the shared base.
fn remove_run_images(
    rt: &tokio::runtime::Runtime,
    d: &engine::docker::DockerClient,
    report: &serde_json::Value,
) {
    let mut f = HashMap::new();
    f.insert(
        "engine.run".to_string(),
        report["run_id"].as_str().unwrap().to_string(),
    );
    let _ = rt.block_on(d.remove_images_by_labels(&f));
}

fn assert_no_containers_left(rt: &tokio::runtime::Runtime, d: &engine::docker::DockerClient) {
    let left = engine_containers(rt, d);
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn lookalikes_report_their_ids_helpers_and_locales() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let images = local_images();
    // (distro, ID, ID_LIKE, helper, has de_DE definition)
    let want = [
        ("arch", "arch", "", "", true),
        ("cachyos", "cachyos", "arch", "paru", false),
        ("manjaro", "manjaro", "arch", "yay", true),
        ("endeavouros", "endeavouros", "arch", "", false),
    ];
    for (distro, id, like, helper, de) in want {
        let image = &images[distro];
        let mut lines = Vec::new();
        let spec = ContainerSpec {
            image: image.clone(),
            cmd: vec![
                "sh".into(),
                "-c".into(),
                ". /etc/os-release; echo \"ID=$ID\"; echo \"LIKE=${ID_LIKE:-}\"; for h in paru yay; do command -v $h >/dev/null && echo \"HELPER=$h\"; done; test -e /usr/share/i18n/locales/de_DE && echo DE=yes || echo DE=no; /engine/bin/runner probe".into(),
            ],
            entrypoint: Some(vec![]),
            binds: vec![Bind { host: runner_bin(), container: "/engine/bin/runner".into(), read_only: true }],
            ..Default::default()
        };
        let out = rt
            .block_on(d.run_to_completion(&spec, RunOptions::default(), |l| lines.push(l.line)))
            .unwrap();
        assert!(out.succeeded(), "{distro}: {lines:?}");
        let has = |l: &str| lines.iter().any(|x| x == l);
        assert!(has(&format!("ID={id}")), "{distro}: {lines:?}");
        assert!(has(&format!("LIKE={like}")), "{distro}: {lines:?}");
        let helpers: Vec<&String> = lines.iter().filter(|l| l.starts_with("HELPER=")).collect();
        if helper.is_empty() {
            assert!(helpers.is_empty(), "{distro}: {helpers:?}");
        } else {
            assert_eq!(helpers, [&format!("HELPER={helper}")], "{distro}");
        }
        assert!(
            has(if de { "DE=yes" } else { "DE=no" }),
            "{distro}: {lines:?}"
        );
        // The runner's own probe, inside the image, agrees.
        let probe_line = lines
            .iter()
            .find(|l| l.contains("\"type\":\"probe\""))
            .expect("probe event");
        let probe: serde_json::Value = serde_json::from_str(probe_line).unwrap();
        assert_eq!(probe["probe"]["os"]["normalized"], distro);
        let found: Vec<&str> = probe["probe"]["aur_helpers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            found,
            if helper.is_empty() {
                vec![]
            } else {
                vec![helper]
            },
            "{distro}"
        );
        let definable = probe["probe"]["locales"]["definable"].as_array().unwrap();
        assert_eq!(definable.iter().any(|l| l == "de_DE"), de, "{distro}");
        assert_eq!(probe["probe"]["package_manager"], "pacman", "{distro}");
    }
    assert_no_containers_left(&rt, &d);
}

/// The documented verdict of examples/local, then a second run that reuses every image.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn local_example_verdicts_then_everything_cached() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images(); // the shared base exists; the nonce below forces fresh images and provisioning
    let nonce = format!("{}", std::process::id());
    let p = Project::new(Some(&nonce), &[], None);

    let t0 = Instant::now();
    let first = engine(p.path(), &["run"]);
    let cold = t0.elapsed();
    assert_eq!(
        first.status.code(),
        Some(3),
        "{}\n{}",
        text(&first.stdout),
        text(&first.stderr)
    );
    let r1 = last_report(p.path());
    // `latest` points at this run.
    let latest = p.path().join(".engine/runs/latest");
    assert_eq!(
        std::fs::read_link(&latest).unwrap().to_string_lossy(),
        r1["run_id"].as_str().unwrap()
    );
    let expect = [
        ("suite:arch:enable-default", "passed"),
        ("suite:arch:disable-in-german", "passed"),
        ("suite:arch:aur-helper", "passed"),
        ("suite:arch:legacy-enable-disable", "passed"),
        ("suite:arch:must-fail", "failed"),
        ("suite:arch:times-out", "timed_out"),
        ("suite:cachyos:enable-default", "passed"),
        ("suite:cachyos:disable-in-german", "infra"),
        ("suite:cachyos:aur-helper", "passed"),
        ("suite:manjaro:aur-helper", "passed"),
        ("suite:manjaro:enable-default", "passed"),
        ("suite:endeavouros:disable-in-german", "skipped"),
        ("suite:endeavouros:aur-helper", "passed"),
    ];
    for (id, want) in expect {
        assert_eq!(status(&r1, id), want, "{id}: {}", report_node(&r1, id));
    }
    assert_eq!(
        report_node(&r1, "suite:cachyos:disable-in-german")["infra_kind"],
        "locale"
    );
    assert!(
        report_node(&r1, "suite:cachyos:disable-in-german")["diagnostic"]
            .as_str()
            .unwrap()
            .contains("de_DE.UTF-8")
    );
    assert!(r1["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["id"] != "suite:manjaro:disable-in-german"));
    for distro in ["arch", "cachyos", "manjaro", "endeavouros"] {
        assert_eq!(status(&r1, &format!("image:{distro}")), "passed");
        assert_eq!(status(&r1, &format!("provision:{distro}")), "passed");
    }
    // The AUR policies: detection where a helper is preinstalled, install elsewhere.
    let run_dir = p
        .path()
        .join(".engine/runs")
        .join(r1["run_id"].as_str().unwrap());
    let aur_action = |distro: &str| -> String {
        let ev =
            std::fs::read_to_string(run_dir.join(format!("io/provision_{distro}/events.jsonl")))
                .unwrap();
        ev.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|e| e["type"] == "aur_helper")
            .map(|e| e["action"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(aur_action("cachyos"), "detected");
    assert_eq!(aur_action("manjaro"), "detected");
    assert!(["installed", "updated"].contains(&aur_action("arch").as_str()));
    // `generate` made de_DE usable on arch.
    let arch = r1["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "provision:arch")
        .unwrap();
    let key = arch["cache_key"].as_str().unwrap();
    let mut lines = Vec::new();
    let spec = ContainerSpec {
        image: format!("engine-provisioned/arch:{}", &key[..16]),
        cmd: vec!["locale".into(), "-a".into()],
        entrypoint: Some(vec![]),
        ..Default::default()
    };
    rt.block_on(d.run_to_completion(&spec, RunOptions::default(), |l| lines.push(l.line)))
        .unwrap();
    assert!(lines.iter().any(|l| l == "de_DE.utf8"), "{lines:?}");

    let t1 = Instant::now();
    let second = engine(p.path(), &["run"]);
    let warm = t1.elapsed();
    assert_eq!(second.status.code(), Some(3));
    let r2 = last_report(p.path());
    for distro in ["arch", "cachyos", "manjaro", "endeavouros"] {
        for kind in ["base", "image", "provision"] {
            assert_eq!(
                status(&r2, &format!("{kind}:{distro}")),
                "cached",
                "{kind}:{distro} was not reused"
            );
        }
    }
    eprintln!(
        "examples/local: first run {cold:?}, second run {warm:?} ({:.2}x)",
        warm.as_secs_f64() / cold.as_secs_f64()
    );
    assert!(
        warm * 2 < cold,
        "second run {warm:?} is not under half of the first {cold:?}"
    );
    remove_run_images(&rt, &d, &r1);
    assert_no_containers_left(&rt, &d);
}

/// With the AUR build folder exclusive for suites too, the suites of a distro never overlap,
/// even with free job slots (the resource is held from start to end of each node).
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn an_exclusive_mount_is_never_held_by_two_running_nodes() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let task = "distros = [\"arch\", \"manjaro\"]\nexecute = \"sleep 1; ls /home/builder/build >/dev/null\"\n";
    let p = Project::new(None, &[("s1", task), ("s2", task), ("s3", task)], None);
    let m = p.path().join("matrix.toml");
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace(", phases = [\"provision\"]", "");
    std::fs::write(&m, text).unwrap();
    let out = engine(p.path(), &["run", "-j", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out.stderr));
    let r = last_report(p.path());
    let nodes = r["nodes"].as_array().unwrap();
    let mut overlaps_across_distros = false;
    for distro in ["arch", "manjaro"] {
        let mut spans: Vec<(u64, u64, &str)> = nodes
            .iter()
            .filter(|n| n["distro"] == distro && (n["kind"] == "provision" || n["kind"] == "suite"))
            .filter_map(|n| {
                Some((
                    n["started"].as_u64()?,
                    n["finished"].as_u64()?,
                    n["id"].as_str()?,
                ))
            })
            .collect();
        assert_eq!(spans.len(), 4, "{distro}: {spans:?}");
        spans.sort();
        for w in spans.windows(2) {
            assert!(
                w[0].1 <= w[1].0,
                "{} and {} overlap on aur-build/{distro}",
                w[0].2,
                w[1].2
            );
        }
        // Other distros' folders are other resources: they may run at the same time.
        let other = if distro == "arch" { "manjaro" } else { "arch" };
        overlaps_across_distros |= nodes
            .iter()
            .filter(|n| n["distro"] == other && n["kind"] == "suite")
            .any(|o| {
                spans.iter().any(|(s, e, _)| {
                    o["started"].as_u64().unwrap() < *e && *s < o["finished"].as_u64().unwrap()
                })
            });
    }
    assert!(
        overlaps_across_distros,
        "suites of different distros never ran in parallel"
    );
    assert_no_containers_left(&rt, &d);
}

fn text_of(b: &[u8]) -> String {
    text(b)
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn two_suites_cannot_see_each_others_files() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let writer = r#"
distros = ["arch"]
execute = '''
echo secret > /root/marker; echo secret > /tmp/marker; echo secret > /var/tmp/marker
# The workspace is mounted read-only: a suite cannot leave files there either.
! touch /workspace/marker 2>/dev/null
'''
"#;
    let reader = r#"
distros = ["arch"]
execute = '''
test ! -e /root/marker && test ! -e /tmp/marker && test ! -e /var/tmp/marker && test ! -e /workspace/marker
'''
"#;
    let p = Project::new(None, &[("a-writer", writer), ("b-reader", reader)], None);
    let out = engine(p.path(), &["run", "-j", "1"]);
    let r = last_report(p.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let started = |id: &str| report_node(&r, id)["started"].as_u64().unwrap();
    assert!(
        started("suite:arch:a-writer") < started("suite:arch:b-reader"),
        "the writer must run first"
    );
    assert_eq!(status(&r, "suite:arch:b-reader"), "passed");
    assert_no_containers_left(&rt, &d);
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn sigint_mid_run_exits_130_quickly_and_leaves_no_container() {
    interrupt_mid_run("INT");
}

/// A closed terminal or a dropped SSH session (SIGHUP) stops a run as Ctrl-C does: exit 130,
/// containers removed, the partial report and JUnit file written.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn sighup_mid_run_is_an_interruption_too() {
    interrupt_mid_run("HUP");
}

/// Two suites running, then `signal` to the engine.
fn interrupt_mid_run(signal: &str) {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let sleeper = "distros = [\"arch\", \"manjaro\"]\ntimeout = \"10m\"\nexecute = \"sleep 300\"\n";
    let p = Project::new(None, &[("sleeper", sleeper)], None);
    let junit = p.path().join("junit.xml");
    let mut child = engine_cmd(p.path(), &["run", "--junit", junit.to_str().unwrap()])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut run_id = String::new();
    let mut lines = BufReader::new(stderr).lines();
    let mut started = 0;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split(" run ").nth(1) {
            run_id = rest.split(':').next().unwrap().to_string();
        }
        if line.contains("start     suite:") {
            started += 1;
            if started == 2 {
                break;
            }
        }
    }
    assert_eq!(started, 2, "the suites never started");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        containers_of_run(&rt, &d, &run_id),
        2,
        "two suite containers should be running"
    );
    let t = Instant::now();
    let kill = std::process::Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let exit = child.wait().unwrap();
    let took = t.elapsed();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(exit.code(), Some(130), "{rest:?}");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    assert_eq!(
        containers_of_run(&rt, &d, &run_id),
        0,
        "containers of the run are left"
    );
    let r = last_report(p.path());
    assert_eq!(r["interrupted"], true);
    assert_eq!(status(&r, "suite:arch:sleeper"), "cancelled");
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    assert!(xml.contains("<testsuites"), "no partial JUnit file: {xml}");
    eprintln!("SIG{signal} to exit: {took:?}");
    assert_no_containers_left(&rt, &d);
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_container_killed_from_outside_is_an_infra_error_for_that_node_only() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let victim = "distros = [\"arch\"]\nexecute = \"sleep 60\"\n";
    let bystander = "distros = [\"arch\"]\nexecute = \"sleep 4; true\"\n";
    let p = Project::new(None, &[("victim", victim), ("bystander", bystander)], None);
    let mut child = engine_cmd(p.path(), &["run", "-j", "4"])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Find the victim's container by its label and kill it through the API.
    let mut f = HashMap::new();
    f.insert("engine.node".to_string(), "suite:arch:victim".to_string());
    let deadline = Instant::now() + Duration::from_secs(120);
    let id = loop {
        let found = rt.block_on(d.list_containers(&f)).unwrap();
        if let Some(c) = found.first() {
            break c.id.clone();
        }
        assert!(Instant::now() < deadline, "the victim never started");
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(1));
    assert!(rt.block_on(d.kill(&id, None)).unwrap());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(3));
    let r = last_report(p.path());
    let v = report_node(&r, "suite:arch:victim");
    assert_eq!(v["status"], "infra", "{v}");
    assert_eq!(v["infra_kind"], "killed", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("killed from outside"),
        "{v}"
    );
    assert_eq!(status(&r, "suite:arch:bystander"), "passed");
    assert_no_containers_left(&rt, &d);
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn aur_install_clones_then_pulls_over_the_same_cache_folder() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let cache = tempfile::tempdir().unwrap();
    let mut actions = Vec::new();
    let mut reports = Vec::new();
    for round in 0..2 {
        // A new nonce each round: a new image, so provisioning really runs again.
        let nonce = format!("aur-{}-{round}", std::process::id());
        let p = Project::new(Some(&nonce), &[], Some(cache.path()));
        let out = engine(p.path(), &["build", "arch"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let r = last_report(p.path());
        let run_dir = p
            .path()
            .join(".engine/runs")
            .join(r["run_id"].as_str().unwrap());
        let ev = std::fs::read_to_string(run_dir.join("io/provision_arch/events.jsonl")).unwrap();
        let action = ev
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|e| e["type"] == "aur_helper")
            .map(|e| e["action"].as_str().unwrap().to_string())
            .unwrap();
        actions.push(action);
        reports.push(r);
    }
    assert_eq!(actions, ["installed", "updated"]);
    assert!(cache.path().join("aur-build/arch/paru-bin/.git").is_dir());
    for r in &reports {
        remove_run_images(&rt, &d, r);
    }
    assert_no_containers_left(&rt, &d);
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn engine_clean_removes_leftovers_of_dead_runs_only() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let images = local_images();
    let mut labels = engine::docker::labels::for_node("crashed-run", "suite:arch:x");
    labels.insert("engine.pid".into(), "999999".into());
    let spec = ContainerSpec {
        image: images["arch"].clone(),
        cmd: vec!["sleep".into(), "300".into()],
        entrypoint: Some(vec![]),
        labels,
        ..Default::default()
    };
    let id = rt.block_on(d.create(&spec)).unwrap();
    let out = engine(&repo(), &["clean", "--run", "crashed-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("removed 1 container"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(containers_of_run(&rt, &d, "crashed-run"), 0);
    let _ = rt.block_on(d.remove(&id, true));
}

#[test]
// No daemon needed: part of the fast tier.
fn unreachable_daemon_is_exit_3_naming_the_endpoint() {
    let out = engine_cmd(
        &repo(),
        &[
            "run",
            "-m",
            "examples/local/matrix.toml",
            "arch:enable-default",
        ],
    )
    .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("/nonexistent/docker.sock"), "{err}");
}

/// A suite cannot mount, change kernel settings, or see host files outside its mounts; a matrix
/// that would mount the host's root is refused before any container exists.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_suite_cannot_reach_the_host() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let secret_file =
        std::env::temp_dir().join(format!("engine-e2e-host-secret-{}", std::process::id()));
    std::fs::write(&secret_file, "host-only").unwrap();
    let probe = format!(
        // `! cmd` fails a script under `set -e` only on its last line: each check says so itself.
        "distros = [\"arch\"]\nexecute = '''\nif mount -t tmpfs none /mnt 2>/dev/null; then echo mounted; exit 1; fi\nif echo /bin/true > /proc/sys/kernel/modprobe 2>/dev/null; then echo sysctl; exit 1; fi\nif test -e {secret}; then echo host file seen; exit 1; fi\n'''\n",
        secret = secret_file.display()
    );
    let p = Project::new(None, &[("escape", &probe)], None);
    let out = engine(p.path(), &["run"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        status(&last_report(p.path()), "suite:arch:escape"),
        "passed"
    );
    // Asking for the host's root as the workspace is refused at validation: exit 2, no container.
    let m = p.path().join("matrix.toml");
    let t = std::fs::read_to_string(&m)
        .unwrap()
        .replace("source = \".\"", "source = \"/\"");
    std::fs::write(&m, t).unwrap();
    let out = engine(p.path(), &["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("docker-socket"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_file(&secret_file);
    assert_no_containers_left(&rt, &d);
}

/// A secret passed with pass_env and echoed by a suite never appears in clear in any file of
/// the run, nor in the report.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn pass_env_secrets_are_masked_everywhere() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let secret = format!("s3cr3t-{}-{nanos}", std::process::id());
    let task = "distros = [\"arch\"]\npass_env = [\"E2E_SECRET\"]\nexecute = '''\necho \"token is $E2E_SECRET\"; echo \"$E2E_SECRET\" >&2; env | grep E2E; false\n'''\n";
    let p = Project::new(None, &[("leaky", task)], None);
    let report_path = p.path().join("out-report.json");
    let junit_path = p.path().join("out-junit.xml");
    let out = engine_cmd(
        p.path(),
        &[
            "run",
            "--report",
            report_path.to_str().unwrap(),
            "--junit",
            junit_path.to_str().unwrap(),
        ],
    )
    .env("E2E_SECRET", &secret)
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains(&secret) && !text(&out.stderr).contains(&secret),
        "secret on the terminal"
    );
    assert!(junit_path.is_file() && report_path.is_file());
    let mut files = vec![report_path, junit_path];
    let mut stack = vec![p.path().join(".engine")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                stack.push(e.path());
            } else if !kind.is_symlink() {
                // (`runs/latest` links to a run folder that is walked anyway.)
                files.push(e.path());
            }
        }
    }
    let mut saw_mask = false;
    for f in &files {
        let content = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        assert!(
            !content.contains(&secret),
            "the secret is in clear in {}",
            f.display()
        );
        saw_mask |= content.contains("token is ***");
    }
    assert!(
        saw_mask,
        "the masked line should be in the logs ({} files)",
        files.len()
    );
    assert_no_containers_left(&rt, &d);
}

/// A suite past its memory limit is reported as killed for memory (infra); a fork bomb under a
/// pids limit ends without affecting the other suites of the run.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn memory_and_pids_limits_contain_a_runaway_suite() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let hog = "distros = [\"arch\"]\ncontainer = { memory = \"64m\" }\nexecute = '''\nx=$(head -c 300000000 /dev/zero | tr '\\0' a); echo ${#x}\n'''\n";
    let bomb = "distros = [\"arch\"]\ntimeout = \"20s\"\ncontainer = { pids = 64 }\nexecute = '''\nfor i in $(seq 500); do sleep 30 & done; wait\n'''\n";
    let calm = "distros = [\"arch\"]\nexecute = \"sleep 3; echo fine\"\n";
    let p = Project::new(None, &[("hog", hog), ("bomb", bomb), ("calm", calm)], None);
    let t = Instant::now();
    let out = engine(p.path(), &["run", "-j", "4"]);
    assert!(
        t.elapsed() < Duration::from_secs(120),
        "took {:?}",
        t.elapsed()
    );
    let r = last_report(p.path());
    let hog = report_node(&r, "suite:arch:hog");
    assert_eq!(hog["status"], "infra", "{hog}");
    assert_eq!(hog["infra_kind"], "resource_limit", "{hog}");
    assert!(hog["reason"].as_str().unwrap().contains("memory"), "{hog}");
    assert_ne!(status(&r, "suite:arch:bomb"), "passed");
    assert_eq!(
        status(&r, "suite:arch:calm"),
        "passed",
        "{}",
        text(&out.stderr)
    );
    assert_no_containers_left(&rt, &d);
}

/// A suite that fails, then passes on its retry, is flaky; `--keep-containers` keeps a failed
/// suite's container as an image and `engine shell --kept` enters it.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn retries_report_flaky_and_failed_containers_can_be_kept() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    // A cache mount is shared by the attempts: the first leaves a mark and fails.
    let mark = format!("/var/cache/scratch/flaky-{}", std::process::id());
    let flaky = format!("distros = [\"arch\"]\nretries = 2\nexecute = \"if test -e {mark}; then rm {mark}; else touch {mark}; false; fi\"\n");
    let broken = "distros = [\"arch\"]\nexecute = \"echo broken; echo left by the failed run > /var/tmp/broken-was-here; false\"\n";
    let p = Project::new(None, &[("flaky", &flaky), ("broken", broken)], None).with_suite_cache();
    let out = engine(p.path(), &["run", "--keep-containers"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let r = last_report(p.path());
    let f = report_node(&r, "suite:arch:flaky");
    assert_eq!(f["status"], "flaky", "{f}");
    assert_eq!(f["attempts"], 2, "{f}");
    assert_eq!(status(&r, "suite:arch:broken"), "failed");
    let run = r["run_id"].as_str().unwrap().to_string();
    let log = std::fs::read_to_string(
        report_node(&r, "suite:arch:broken")["log"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    // The failed suite's container is kept as an image of its filesystem, and no container
    // stays (restarting one would run the suite again).
    let image = format!("engine-kept/arch-broken:{run}");
    let broken = report_node(&r, "suite:arch:broken");
    assert_eq!(broken["kept"], image.as_str(), "{broken}");
    assert!(report_node(&r, "suite:arch:flaky")["kept"].is_null());
    let hint = format!("kept: engine shell arch broken --kept {run}");
    assert!(text(&out.stdout).contains(&hint), "{}", text(&out.stdout));
    assert!(log.contains(&format!("kept as image {image}")), "{log}");
    assert_eq!(containers_of_run(&rt, &d, &run), 0);
    // The printed command opens a shell in what the suite left, without running it again:
    // the file the failed execute wrote is there, and no suite output appears.
    let mut shell = engine_cmd(p.path(), &["shell", "arch", "broken", "--kept", &run]);
    shell.stdin(std::process::Stdio::piped());
    shell.stdout(std::process::Stdio::piped());
    shell.stderr(std::process::Stdio::piped());
    let mut child = shell.spawn().unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"cat /var/tmp/broken-was-here; echo \"in $PWD\"; exit 5\n")
        .unwrap();
    let entered = child.wait_with_output().unwrap();
    let said = text(&entered.stdout);
    assert_eq!(
        entered.status.code(),
        Some(5),
        "{said}{}",
        text(&entered.stderr)
    );
    assert!(said.contains("left by the failed run"), "{said}");
    assert!(said.contains("in /workspace"), "{said}");
    assert!(
        !said.contains("broken\n") && !said.contains("== execute"),
        "the suite ran again: {said}"
    );
    // A run that kept nothing is told apart.
    let none = engine(
        p.path(),
        &["shell", "arch", "broken", "--kept", "no-such-run"],
    );
    assert_eq!(none.status.code(), Some(2), "{}", text(&none.stderr));
    assert!(
        text(&none.stderr).contains("kept no container"),
        "{}",
        text(&none.stderr)
    );
    let cleaned = engine(p.path(), &["clean", "--images", "--run", &run]);
    assert_eq!(cleaned.status.code(), Some(0), "{}", text(&cleaned.stderr));
    assert!(
        rt.block_on(d.image_labels(&image)).unwrap().is_none(),
        "{image} not cleaned"
    );
    assert_no_containers_left(&rt, &d);
}

/// The runner is one static file: it provisions and runs a suite in an image that has no C
/// library at all (a busybox-only root file system imported from the busybox-static package).
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_suite_runs_in_an_image_without_any_c_library() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // busybox-static and its applets as symlinks: no C library, no dynamic loader.
    busybox::write_project(
        root,
        "",
        "",
        "",
        r#"execute = '''
echo "hello from $(busybox | head -n 1 | cut -d' ' -f1)"
if ls /lib*/ld-* /lib/*/libc.so* /usr/lib/*/libc.so* >/dev/null 2>&1; then echo "a C library is here"; exit 1; fi
test -x /engine/bin/runner
'''
"#,
    );
    let runner = runner_bin();
    let bytes = std::fs::read(&runner).unwrap();
    assert_eq!(
        engine::runner_binary::elf_is_static(&bytes),
        Some(true),
        "{}",
        runner.display()
    );
    let out = engine(root, &["run", "-v"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}\n{err}", text(&out.stdout));
    let report = last_report(root);
    assert_eq!(status(&report, "suite:tiny:task"), "passed");
    assert!(err.contains("hello from BusyBox"), "{err}");
    let mut f = HashMap::new();
    f.insert(
        "engine.run".to_string(),
        report["run_id"].as_str().unwrap().to_string(),
    );
    let _ = rt.block_on(d.remove_images_by_labels(&f));
    assert_no_containers_left(&rt, &d);
}

/// `engine doctor` on this machine: a run can go (exit 0), and each check has its line; with the
/// daemon's socket gone, exit 3 and the socket is named.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn doctor_says_a_run_can_go_or_names_what_is_missing() {
    let Some(_daemon) = DockerTest::start() else {
        return;
    };
    let out = engine(&repo(), &["doctor", "-m", "examples/local/matrix.toml"]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}\n{}", text(&out.stderr));
    for line in [
        "ok    matrix",
        "ok    docker       unix://",
        "ok    socket",
        "ok    builder      BuildKit",
        "ok    locality     the engine runs on this machine",
        "ok    runner",
        "ok    daemon space",
        "ok    cache space",
        "ok    debootstrap",
    ] {
        assert!(said.contains(line), "no `{line}` in:\n{said}");
    }
    assert!(said.contains("static, blake3 "), "{said}");
    assert!(said.trim_end().ends_with("a run can go"), "{said}");

    let gone = engine_cmd(&repo(), &["doctor", "-m", "examples/local/matrix.toml"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let said = text(&gone.stdout);
    assert_eq!(gone.status.code(), Some(3), "{said}");
    assert!(
        said.contains("FAIL  docker       cannot reach the Docker daemon: /nonexistent/docker.sock does not exist"),
        "{said}"
    );
    assert!(said.contains("fix: start the daemon"), "{said}");
    assert!(said.contains("1 problem to fix before a run"), "{said}");
}

/// `environment` at matrix, distro and suite level reaches the suite merged (suite over distro
/// over matrix) and the provision steps (distro over matrix), and shows in `validate --dump`; a
/// provision step with `user = "builder"` runs as builder; a cache mounted inside the read-only
/// workspace (the root matrix's cargo target) is writable while the workspace is not.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn environment_levels_merge_and_a_provision_step_runs_as_its_user() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let suite = "distros = [\"arch\"]\nenvironment = { LEVEL = \"suite\" }\nexecute = 'echo \"vars: $FULL_MATRIX $LEVEL $ONLY_MATRIX $ONLY_DISTRO\"'\n";
    let p = Project::new(None, &[("env", suite)], None);
    let m = p.path().join("matrix.toml");
    let t = std::fs::read_to_string(&m).unwrap();
    let step =
        r#"  { name = "build-product", run = "./product/build.sh", inputs = ["product/**"] },"#;
    assert!(t.contains(step), "the example's steps changed: {t}");
    let t = t.replace(
        step,
        &format!(
            "{step}\n  {{ name = \"as-builder\", run = 'echo \"step: $(id -un) $FULL_MATRIX $LEVEL\"', user = \"builder\" }},\n  {{ name = \"nested\", run = 'echo built > /workspace/out/artifact; if touch /workspace/not-allowed 2>/dev/null; then echo workspace-writable; exit 1; fi' }},"
        ),
    );
    // A writable cache inside the read-only workspace, as the root matrix's cargo target.
    let aur = "aur-build = ";
    assert!(t.contains(aur), "{t}");
    let t = t.replacen(
        aur,
        "out = { source = \"out/{distro}\", target = \"/workspace/out\", phases = [\"provision\"] }\naur-build = ",
        1,
    );
    // A value of its own, so that provisioning runs (the environment is part of its key).
    let nonce = format!("{}-{:?}", std::process::id(), Instant::now());
    std::fs::write(
        &m,
        format!("environment = {{ FULL_MATRIX = \"1\", LEVEL = \"matrix\", ONLY_MATRIX = \"m\", NONCE = {nonce:?} }}\n{t}"),
    )
    .unwrap();
    let arch = p.path().join("distros/arch.toml");
    let mut a = std::fs::read_to_string(&arch).unwrap();
    a.push_str("\n[environment]\nLEVEL = \"distro\"\nONLY_DISTRO = \"d\"\n");
    std::fs::write(&arch, a).unwrap();

    let dump = engine(p.path(), &["validate", "--dump"]);
    assert_eq!(dump.status.code(), Some(0), "{}", text(&dump.stderr));
    let v: serde_json::Value = serde_json::from_slice(&dump.stdout).unwrap();
    assert_eq!(v["environment"]["FULL_MATRIX"], "1", "{v}");
    assert_eq!(v["distros"]["arch"]["environment"]["LEVEL"], "distro");

    let artifact = repo().join("examples/local/.cache/engine/out/arch/artifact");
    let _ = std::fs::remove_file(&artifact);
    let out = engine(p.path(), &["run", "arch"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let r = last_report(p.path());
    assert_eq!(status(&r, "suite:arch:env"), "passed");
    let log =
        |id: &str| std::fs::read_to_string(report_node(&r, id)["log"].as_str().unwrap()).unwrap();
    assert!(
        log("suite:arch:env").contains("vars: 1 suite m d"),
        "{}",
        log("suite:arch:env")
    );
    let provision = log("provision:arch");
    assert!(provision.contains("step: builder 1 distro"), "{provision}");
    assert_eq!(
        std::fs::read_to_string(&artifact).unwrap_or_default(),
        "built\n",
        "the nested cache was not writable: {provision}"
    );
    assert!(!p.path().join("not-allowed").exists());
    remove_run_images(&rt, &d, &r);
    assert_no_containers_left(&rt, &d);
}

/// On a daemon that two projects share, `engine clean --images` in one removes that project's
/// leftover containers and images and leaves the other's.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn clean_removes_this_projects_leftovers_only() {
    use engine::docker::labels;
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let images = local_images();
    let a = Project::new(None, &[], None);
    let b = Project::new(None, &[], None);
    let run = format!("clean-{}", std::process::id());
    let mut ids = Vec::new();
    for (p, tag) in [(&a, "a"), (&b, "b")] {
        let mut l = labels::for_node(&run, "suite:arch:x");
        l.insert(labels::PROJECT.into(), labels::project_id(p.path()));
        // A dead owner: a crashed run's leftover.
        l.insert("engine.pid".into(), "999999".into());
        let spec = ContainerSpec {
            image: images["arch"].clone(),
            cmd: vec!["true".into()],
            entrypoint: Some(vec![]),
            labels: l.clone(),
            ..Default::default()
        };
        let id = rt.block_on(d.create(&spec)).unwrap();
        rt.block_on(d.commit(&id, "engine-test/clean", &format!("{tag}-{run}"), &l, &[]))
            .unwrap();
        ids.push(id);
    }
    let exists = |tag: &str| {
        rt.block_on(d.image_exists(&format!("engine-test/clean:{tag}-{run}")))
            .unwrap()
    };
    let out = engine(a.path(), &["clean", "--images"]);
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
    assert!(said.contains("removed 1 container(s)"), "{said}");
    assert!(said.contains("removed 1 image(s)"), "{said}");
    assert!(!exists("a"), "project a's image is gone");
    assert!(exists("b"), "project b's image is left");
    assert_eq!(containers_of_run(&rt, &d, &run), 1, "b's container is left");
    let out = engine(b.path(), &["clean", "--images"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!exists("b"));
    assert_eq!(containers_of_run(&rt, &d, &run), 0);
    // Outside any project, clean says what it needs.
    let nowhere = tempfile::tempdir().unwrap();
    let out = engine(nowhere.path(), &["clean"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--all-projects"),
        "{}",
        text(&out.stderr)
    );
    for id in ids {
        let _ = rt.block_on(d.remove(&id, true));
    }
}

/// Two `engine run` processes on one project: the exclusive cache folder is used by one
/// container at a time across both, and the image and provision keys both need are made once
/// (the second process waits for the first and reuses its result).
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn two_runs_share_an_exclusive_folder_in_turn_and_make_a_key_once() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let cache = tempfile::tempdir().unwrap();
    let stamp = "distros = [\"arch\"]\nexecute = '''\nf=/home/builder/build/stamps\necho \"start $(date +%s%N) $HOSTNAME\" >> $f\nsleep 2\necho \"stop $(date +%s%N) $HOSTNAME\" >> $f\n'''\n";
    // A nonce of this invocation: the keys are new, so both runs need them made.
    let nonce = format!(
        "{}-{}-{:?}",
        test_name(),
        std::process::id(),
        Instant::now()
    );
    let p = Project::new(Some(&nonce), &[("stamp", stamp)], Some(cache.path()));
    // The AUR build folder, exclusive, mounted in suites too.
    let m = p.path().join("matrix.toml");
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace(", phases = [\"provision\"]", "");
    std::fs::write(&m, text).unwrap();
    let runs: Vec<std::process::Child> = (0..2)
        .map(|_| {
            engine_cmd(p.path(), &["run", "arch"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<std::process::Output> = runs
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        assert_eq!(o.status.code(), Some(0), "{}", text_of(&o.stderr));
    }
    // No overlap of the two suites in the folder.
    let stamps = std::fs::read_to_string(cache.path().join("aur-build/arch/stamps")).unwrap();
    let events: Vec<(&str, u128)> = stamps
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap(), w.next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(events.len(), 4, "{stamps}");
    let mut sorted = events.clone();
    sorted.sort_by_key(|e| e.1);
    let kinds: Vec<&str> = sorted.iter().map(|e| e.0).collect();
    assert_eq!(
        kinds,
        ["start", "stop", "start", "stop"],
        "overlap:\n{stamps}"
    );
    // The image and the provision were made by one run; the other reused them.
    let reports: Vec<serde_json::Value> = std::fs::read_dir(p.path().join(".engine/runs"))
        .unwrap()
        .flatten()
        // `latest` is a link to one of them.
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| std::fs::read_to_string(e.path().join("report.json")).ok())
        .map(|t| serde_json::from_str(&t).unwrap())
        .collect();
    assert_eq!(reports.len(), 2);
    for node in ["image:arch", "provision:arch"] {
        let mut seen: Vec<&str> = reports.iter().map(|r| status(r, node)).collect();
        seen.sort();
        assert_eq!(seen, ["cached", "passed"], "{node} made twice or never");
    }
    for r in &reports {
        remove_run_images(&rt, &d, r);
    }
    assert_no_containers_left(&rt, &d);
}

/// A cache folder the engine made as root, mounted in a suite that runs as `builder`: given to
/// the user before the suite starts, so the suite can write it (it used to fail deep in its
/// script on "Permission denied").
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_cache_folder_is_given_to_the_suites_user_before_it_starts() {
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    local_images();
    let cache = tempfile::tempdir().unwrap();
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata(cache.path()).unwrap().uid() != 0 {
        eprintln!(
            "SKIP: the engine does not run as root here, so its cache folders are not root's"
        );
        return;
    }
    let task = "distros = [\"arch\"]\nuser = \"builder\"\nexecute = \"touch /var/cache/scratch/written-by-$(id -un)\"\n";
    let p = Project::new(None, &[("as-builder", task)], Some(cache.path())).with_suite_cache();
    let out = engine(p.path(), &["run", "arch", "-v"]);
    let err = text_of(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("[runner] cache folder /var/cache/scratch was root's: given to builder"),
        "{err}"
    );
    assert!(cache
        .path()
        .join("scratch/arch/written-by-builder")
        .is_file());
    assert_no_containers_left(&rt, &d);
}

/// Ctrl-C while an image builds: BuildKit leaves no image behind; the legacy builder
/// (DOCKER_BUILDKIT=0) leaves the steps it finished as unnamed images, and `engine clean --run
/// ID` removes them (and says so) once no build is running.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_cancelled_build_leaves_nothing_that_clean_does_not_remove() {
    use engine::docker::labels;
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    busybox::write_project(root, "", "", "", "execute = \"true\"\n");
    let project = HashMap::from([
        (labels::PROJECT.to_string(), labels::project_id(root)),
        (labels::MANAGED.to_string(), "true".to_string()),
    ]);
    // A build's finished steps carry its base's labels; the busybox base (made by this test or
    // by another that shares its key) is node `base:tiny`. Only images made from now on count.
    let base_of_tiny = HashMap::from([
        (labels::NODE.to_string(), "base:tiny".to_string()),
        (labels::MANAGED.to_string(), "true".to_string()),
    ]);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 1;
    let unnamed = || {
        rt.block_on(d.list_images(&base_of_tiny))
            .unwrap()
            .into_iter()
            .filter(|i| i.tags.is_empty() && i.created >= since)
            .count()
    };
    for (builder, buildkit) in [("BuildKit", "1"), ("legacy", "0")] {
        // A step no earlier build has cached (the project's folder is in it), then one that waits.
        std::fs::write(
            root.join("Dockerfile"),
            format!(
                "ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nRUN echo {} > /one\n\
                 RUN echo build-is-waiting-{builder} && sleep 120\n",
                root.display()
            ),
        )
        .unwrap();
        let mut child = engine_cmd(root, &["run", "-v"])
            .env("DOCKER_BUILDKIT", buildkit)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        let mut run_id = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let (true, Some(rest)) = (run_id.is_empty(), line.split(" run ").nth(1)) {
                run_id = rest.split(':').next().unwrap().to_string();
            }
            let waiting =
                line.contains(&format!("build-is-waiting-{builder}")) && !line.contains("RUN");
            seen.push(line);
            if waiting {
                break;
            }
        }
        assert!(
            seen.iter()
                .any(|l| l.contains(&format!("[engine] builder: {builder}"))),
            "{seen:#?}"
        );
        assert!(
            seen.last().is_some_and(|l| l.contains("build-is-waiting")),
            "the build never reached its waiting step: {seen:#?}"
        );
        let kill = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let exit = child.wait().unwrap();
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert_eq!(exit.code(), Some(130), "{rest:#?}");
        let left = unnamed();
        if buildkit == "1" {
            assert_eq!(left, 0, "BuildKit left unnamed images");
        } else {
            assert!(
                left > 0,
                "the legacy builder's finished step is an unnamed image"
            );
        }
        // The cancelled run's own clean: its unnamed images carry the base's labels, not this
        // run's, and are found by the project.
        // The daemon removes the cancelled step's container a moment after the engine left:
        // until then the image it ran on is in use, and clean says so.
        let mut said = String::new();
        for _ in 0..20 {
            let out = engine(root, &["clean", "--run", &run_id]);
            said = text(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{said}{}", text(&out.stderr));
            if !said.contains("left: in use") {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        if left > 0 {
            assert!(
                said.contains("unnamed image(s) left by interrupted builds")
                    && !said.contains("removed 0 unnamed"),
                "{said}"
            );
        }
        assert_eq!(unnamed(), 0, "{said}");
    }
    // The base image the runs imported.
    let _ = rt.block_on(d.remove_images_by_labels(&project));
    assert_no_containers_left(&rt, &d);
}

/// A tmpfs of `size` mounted on `dir` for a test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// `None` (skipped loudly, or failed under CI) where this user may not mount.
    fn mount(dir: &std::path::Path, size: &str, test: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        if out.status.success() {
            Some(Tmpfs(dir.to_path_buf()))
        } else {
            skip_or_fail(
                test,
                &format!(
                    "cannot mount a tmpfs (root needed): {}",
                    text(&out.stderr).trim()
                ),
            )
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A run whose run folder fills up (a 256 KiB tmpfs) and whose cache root is small (an 8 MiB
/// tmpfs, under `min_free_space`): warned at the start for both; the suite whose events cannot
/// be written is an infrastructure error naming the file and "No space left on device"; the
/// report that cannot be written is said so, and no temporary file is left in the run folder.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_full_run_folder_names_the_cause_and_leaves_no_temporary_files() {
    let test = "a_full_run_folder_names_the_cause_and_leaves_no_temporary_files";
    let Some(DockerTest {
        rt,
        docker: d,
        serial: _serial,
    }) = DockerTest::start()
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    busybox::write_project(
        root,
        "",
        "",
        "engine = { min_free_space = \"100m\" }",
        r#"execute = '''
i=0; while [ $i -lt 20000 ]; do echo "filler line $i to fill the run folder"; i=$((i+1)); done
echo the-last-line
'''
"#,
    );
    let Some(_cache) = Tmpfs::mount(&root.join(".cache"), "8m", test) else {
        return;
    };
    let Some(_runs) = Tmpfs::mount(&root.join(".engine"), "256k", test) else {
        return;
    };
    let out = engine(root, &["run", "--junit", "junit.xml"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{said}");
    for line in [
        format!(
            "warning: only 8 MiB free on {} (the cache root)",
            root.join(".cache").display()
        ),
        format!(
            "warning: only 256 KiB free on {} (the run folder)",
            root.join(".engine").display()
        ),
    ] {
        assert!(said.contains(&line), "no `{line}` in:\n{said}");
    }
    let line = said
        .lines()
        .find(|l| {
            l.contains("infra error suite:tiny:task") && l.contains("cannot write the events (")
        })
        .unwrap_or_else(|| panic!("the suite's cause is not named:\n{said}"));
    assert!(
        line.contains("/io/suite_tiny_task/events.jsonl): No space left on device"),
        "{line}"
    );
    assert!(
        line.contains(&root.join(".engine/runs").display().to_string()),
        "{line}"
    );
    assert!(
        said.contains("the-last-line"),
        "the tail holds the suite's last line:\n{said}"
    );
    assert!(
        said.contains("no report (it could not be written: see below)")
            && said.contains("cannot write the JSON report to"),
        "{said}"
    );
    let temporary: Vec<_> = walk(&root.join(".engine"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".tmp"))
        })
        .collect();
    assert!(temporary.is_empty(), "temporary files left: {temporary:?}");
    let project = HashMap::from([(
        engine::docker::labels::PROJECT.to_string(),
        engine::docker::labels::project_id(root),
    )]);
    let _ = rt.block_on(d.remove_images_by_labels(&project));
    assert_no_containers_left(&rt, &d);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
