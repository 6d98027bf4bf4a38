//! Nothing of a suite's output is lost, and the engine's memory does not grow with it: a suite
//! that prints tens of megabytes and then its real reason has that reason in the log, the
//! report's tail and JUnit; a line with no end reaches the log whole, in pieces; the runner's
//! event file stays bounded.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::support::project::Project;
use crate::support::quota_daemon::QuotaDaemon;
use crate::support::*;

/// The suite's output, in MiB, before its last line.
const MIB: usize = 64;

/// Peak resident memory of `engine run` in KiB (VmHWM, read until the process ends) and its
/// exit code.
fn run_measured(root: &Path, args: &[&str]) -> (Option<i32>, u64, String) {
    let mut child = engine_cmd(root, args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Ok(Some(s)) = child.try_wait() {
            return (s.code(), peak, reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_chatty_suite_keeps_its_last_words_and_the_engine_stays_small() {
    let Some(t) = DockerTest::start() else {
        return;
    };
    local_images();
    // 64 MiB of numbered lines, then the reason on stderr; and a 20 MiB line with no end.
    let chatty = format!(
        "distros = [\"arch\"]\nexecute = '''\nseq 1 {lines} | sed 's/$/ filler filler filler filler filler filler filler filler/' | head -c {bytes}\necho\necho \"FATAL: the real reason\" >&2\nexit 7\n'''\n",
        lines = MIB * 20_000,
        bytes = MIB << 20
    );
    let endless = "distros = [\"arch\"]\nexecute = '''\nyes y | tr -d '\\n' | head -c 20971520\necho\necho done\n'''\n";
    let p = Project::new(None, &[("chatty", &chatty), ("endless", endless)], None);
    let junit = p.path().join("junit.xml");
    let (code, peak_kb, err) =
        run_measured(p.path(), &["run", "-q", "--junit", junit.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    let r = last_report(p.path());
    let node = report_node(&r, "suite:arch:chatty");
    assert_eq!(node["status"], "failed", "{node}");
    let tail = node["tail"].to_string();
    assert!(tail.contains("FATAL: the real reason"), "{tail}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("FATAL: the real reason"), "not in JUnit");
    let run = std::fs::canonicalize(p.path().join(".engine/runs/latest")).unwrap();
    // Every byte in the log: the filler (less the line ends of pieces) and the last words.
    let log = std::fs::read(run.join("logs/suite_arch_chatty.log")).unwrap();
    assert!(log.len() >= MIB << 20, "log holds {} bytes", log.len());
    let text = String::from_utf8_lossy(&log);
    assert!(text.contains("FATAL: the real reason"));
    let endless_log = std::fs::read_to_string(run.join("logs/suite_arch_endless.log")).unwrap();
    let ys = endless_log.bytes().filter(|b| *b == b'y').count();
    assert_eq!(ys, 20 << 20, "bytes of the endless line in the log");
    assert_eq!(status(&r, "suite:arch:endless"), "passed");
    // The runner's events stay bounded, whatever the output.
    let events = std::fs::metadata(run.join("io/suite_arch_chatty/events.jsonl"))
        .unwrap()
        .len();
    assert!(events < 8 << 20, "events.jsonl is {events} bytes");
    // The engine's memory: bounded, not a multiple of the output.
    eprintln!(
        "engine peak RSS {} MiB for {MIB} + 20 MiB of output",
        peak_kb >> 10
    );
    assert!(peak_kb < 96 << 10, "engine peak RSS {peak_kb} KiB");
    assert!(engine_containers(&t.rt, &t.docker).is_empty());
}

/// Less free space than `engine.min_free_space` where a run writes: a warning before anything
/// runs, naming the place, and the run goes on.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn low_free_space_is_a_warning_at_the_start() {
    let Some(_t) = DockerTest::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // No machine has a thousand terabytes free.
    busybox::write_project(
        root,
        "",
        "",
        "engine = { min_free_space = \"1000t\" }",
        "execute = \"true\"\n",
    );
    let out = engine(root, &["run"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for place in [
        "(the cache root)",
        "(the run folder)",
        "(the daemon's data folder)",
    ] {
        assert!(err.contains(place), "no warning for {place}:\n{err}");
    }
    assert!(err.contains("under engine.min_free_space"), "{err}");
    let _ = engine(root, &["clean", "--images"]);
}

/// `[container] tmpfs` bounds what a suite writes there, whatever the storage driver; `disk`
/// is applied where the driver can, and said not to be where it cannot.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn tmpfs_sizes_hold_and_a_disk_limit_the_driver_cannot_apply_is_said() {
    let Some(t) = DockerTest::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let task = r#"execute = '''
if dd if=/dev/zero of=/scratch/fill bs=1024 count=4096 2>/dev/null; then
  echo "wrote 4 MiB into a 1 MiB tmpfs"; exit 1
fi
echo "the tmpfs is full at its size"
'''
[container]
tmpfs = { "/scratch" = "1m" }
disk = "2g"
"#;
    busybox::write_project(root, "", "", "", task);
    let out = engine(root, &["run", "-v"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("the tmpfs is full at its size"), "{err}");
    let facts = t.rt.block_on(t.docker.daemon_facts()).unwrap();
    let said = err.contains("`[container] disk` is not applied: the daemon's storage driver");
    assert_eq!(
        said,
        !facts.can_limit_size(),
        "driver {:?} on {:?}:\n{err}",
        facts.storage_driver,
        facts.backing_fs
    );
    let _ = engine(root, &["clean", "--images"]);
}

/// On a daemon whose storage driver can limit a container's size (a second daemon, on btrfs
/// with quotas), `[container] disk` holds: a suite that writes past its limit is stopped by it
/// and is an infrastructure error naming the limit; one that stays under it passes; no
/// warning says the limit is not applied.
#[test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
fn a_suite_writing_past_its_disk_limit_is_stopped_and_the_limit_named() {
    let test = "a_suite_writing_past_its_disk_limit_is_stopped_and_the_limit_named";
    let Some(_t) = DockerTest::start() else {
        return;
    };
    let had_docker0 = std::path::Path::new("/sys/class/net/docker0").exists();
    let Some(quota) = QuotaDaemon::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let writes = |mib: u32| {
        format!(
            "execute = '''\ndd if=/dev/zero of=/big bs=1M count={mib}\necho wrote {mib} MiB\n'''\n\
             [container]\ndisk = \"20m\"\n"
        )
    };
    busybox::write_project(root, "", "", "", &writes(50));
    let under = root.join("suites/under");
    std::fs::create_dir_all(&under).unwrap();
    std::fs::write(under.join("task.toml"), writes(5)).unwrap();
    // That daemon has no bridge network.
    let matrix = root.join("matrix.toml");
    let toml = std::fs::read_to_string(&matrix).unwrap();
    std::fs::write(
        &matrix,
        format!("{toml}[distros.tiny.container]\nnetwork = \"none\"\n"),
    )
    .unwrap();
    let out = engine_cmd(root, &["run"])
        .env("DOCKER_HOST", &quota.endpoint)
        .output()
        .unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(!said.contains("is not applied"), "{said}");
    let line = said
        .lines()
        .find(|l| l.contains("infra error suite:tiny:task"))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(
        line.contains(
            "the suite reached its disk limit (20 MiB, `[container] disk`): dd: error writing '/big': Disk quota exceeded"
        ),
        "{line}"
    );
    let report = last_report(root);
    assert_eq!(report_node(&report, "suite:tiny:under")["status"], "passed");
    let node = report_node(&report, "suite:tiny:task");
    assert_eq!(node["infra_kind"], "resource_limit", "{node}");
    assert!(!said.contains("wrote 50 MiB"), "{said}");
    drop(quota);
    // The second daemon came and went without touching the machine's daemon's bridge.
    assert_eq!(
        std::path::Path::new("/sys/class/net/docker0").exists(),
        had_docker0,
        "the host's docker0 is gone"
    );
}
