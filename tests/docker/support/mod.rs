//! The Docker tier's harness: the real Docker daemon, the engine binary, and the offline test bed.
//!
//! - [`DockerTest`]: what a test that uses the shared test bed starts with (the daemon, a
//!   runtime, the serial lock), or a loud skip (a failure under `CI=true`); [`daemon`] for the
//!   backend tests, which run in parallel on images of their own.
//! - [`engine`]: run the engine binary and capture its output.
//! - [`containers_of_run`] / [`engine_containers`]: what the engine left, by label.
//! - [`local_images`]: the look-alike images of examples/local, built once per machine (the
//!   base rootfs is bootstrapped once: later calls find it in Docker or in the script's cache).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

use engine::docker::{labels, DockerClient};

pub mod busybox;
pub mod podman;
pub mod project;
pub mod quota_daemon;
pub mod registry;
pub mod rootless;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("engine/ has a parent")
        .to_path_buf()
}

/// Docker end-to-end tests share one daemon and the same images: run them one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The running test's name (the test harness names each test's thread after it).
pub fn test_name() -> String {
    let thread = std::thread::current();
    let full = thread.name().unwrap_or("a test");
    full.rsplit("::").next().unwrap_or(full).to_string()
}

/// A test on the shared offline test bed: the daemon, a runtime to drive it, and the lock that
/// keeps such tests from running at once (they share images and the local example's caches).
pub struct DockerTest {
    pub rt: tokio::runtime::Runtime,
    pub docker: DockerClient,
    pub serial: MutexGuard<'static, ()>,
}

impl DockerTest {
    /// `None` after a loud SKIP when no daemon answers (a panic under `CI=true`).
    pub fn start() -> Option<DockerTest> {
        let serial = serial();
        let rt = runtime();
        let docker = docker(&rt, &test_name())?;
        Some(DockerTest { rt, docker, serial })
    }
}

/// A client for a test that runs on its own images (in parallel with others), or a loud SKIP.
pub async fn daemon() -> Option<DockerClient> {
    match DockerClient::connect().await {
        Ok(d) => Some(d),
        Err(e) => skip_or_fail(&test_name(), &format!("no Docker daemon ({e})")),
    }
}

/// Something a test needs is missing (`why` says what): under `CI=true`, which provides it,
/// the test fails; elsewhere it is skipped with a loud line.
pub fn skip_or_fail<T>(test: &str, why: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}, and CI must provide it");
    }
    eprintln!("\n=== SKIP {test}: {why} ===\n");
    None
}

/// A client to the daemon. Without one: under CI the test fails, elsewhere it is skipped loudly.
fn docker(rt: &tokio::runtime::Runtime, test: &str) -> Option<DockerClient> {
    match rt.block_on(DockerClient::connect()) {
        Ok(d) => Some(d),
        Err(e) => skip_or_fail(test, &format!("no Docker daemon ({e})")),
    }
}

/// The engine binary cargo built for these tests.
pub fn engine_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_engine"))
}

/// The runner the engine mounts: the one built into it, written out to the user's cache.
pub fn runner_bin() -> PathBuf {
    engine::runner_binary::locate()
        .expect("the embedded runner can be written out")
        .path
}

/// Run the engine in `dir` with plain output.
pub fn engine(dir: &Path, args: &[&str]) -> Output {
    engine_cmd(dir, args).output().expect("engine runs")
}

pub fn engine_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(engine_bin());
    c.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env_remove("ENGINE_RUNNER")
        .env_remove("ENGINE_MATRIX")
        .env_remove("DOCKER_BUILDKIT");
    c
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Containers of one run (by the `engine.run` label).
pub fn containers_of_run(rt: &tokio::runtime::Runtime, d: &DockerClient, run: &str) -> usize {
    let mut f = HashMap::new();
    f.insert(labels::RUN.to_string(), run.to_string());
    rt.block_on(d.list_containers(&f))
        .map(|c| c.len())
        .unwrap_or(0)
}

/// Every container an engine process made that outlived it (a leak). Containers of engines still
/// running (another test, a user's run) are not leaks.
pub fn engine_containers(rt: &tokio::runtime::Runtime, d: &DockerClient) -> Vec<String> {
    let mut f = HashMap::new();
    f.insert(labels::MANAGED.to_string(), "true".to_string());
    let alive = |pid: &String| Path::new(&format!("/proc/{pid}")).exists();
    rt.block_on(d.list_containers(&f))
        .map(|c| {
            c.into_iter()
                // Made by an engine process (runs label their owner) that is gone. Containers
                // the backend tests make directly carry no owner and clean up after themselves,
                // in parallel with these tests.
                .filter(|c| c.labels.get("engine.pid").is_some_and(|p| !alive(p)))
                .map(|c| format!("{} {:?}", c.id, c.labels.get(labels::NODE)))
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON report of the engine's last run in `state` (`.engine/runs/*/report.json`, newest).
pub fn last_report(matrix_dir: &Path) -> serde_json::Value {
    let runs = matrix_dir.join(".engine/runs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&runs)
        .unwrap_or_else(|e| panic!("{}: {e}", runs.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("report.json").is_file())
        .collect();
    dirs.sort();
    let p = dirs
        .last()
        .expect("a run with a report")
        .join("report.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Node `id` of a report.
pub fn report_node<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("no node {id} in the report"))
}

/// The lines of a report node's `tail` (empty when it has none).
pub fn tail_lines(node: &serde_json::Value) -> Vec<&str> {
    node["tail"]
        .as_array()
        .map(|lines| lines.iter().filter_map(|l| l.as_str()).collect())
        .unwrap_or_default()
}

/// Status of node `id` in a report.
pub fn status<'a>(report: &'a serde_json::Value, id: &str) -> &'a str {
    report_node(report, id)["status"]
        .as_str()
        .unwrap_or("(no status)")
}

/// Build (once per test process) the base, images and provisioned images of examples/local,
/// through `engine build`; returns distro -> image reference of its look-alike image.
pub fn local_images() -> &'static HashMap<String, String> {
    static IMAGES: OnceLock<HashMap<String, String>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let repo = repo();
        let out = engine(&repo, &["build", "-m", "examples/local/matrix.toml"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "engine build of examples/local failed:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let graph = engine(
            &repo,
            // --status: the keys resolved against the daemon (with the base image's id), as
            // the image tags carry them.
            &[
                "graph",
                "--json",
                "--status",
                "-m",
                "examples/local/matrix.toml",
            ],
        );
        let v: serde_json::Value = serde_json::from_slice(&graph.stdout).unwrap();
        let mut map = HashMap::new();
        for n in v["nodes"].as_array().unwrap() {
            if n["kind"] == "image" {
                let d = n["distro"].as_str().unwrap().to_string();
                let key = n["cache_key"].as_str().unwrap();
                map.insert(d.clone(), format!("engine-image/{d}:{}", &key[..16]));
            }
        }
        map
    })
}
