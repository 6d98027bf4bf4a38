//! The Docker backend against the real daemon. There are no images and no registry, so each
//! test imports its own tiny base image (Debian's static busybox) through `import_rootfs`.
//!
//! Every test labels what it makes with its own `engine.run` id, and a guard removes all of
//! it when the test ends (also when it panics), so tests run in parallel and leave nothing.
//!
//! Without a reachable daemon: under CI=true the tests fail, otherwise they print SKIP.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use engine::docker::labels;
use engine::docker::{
    BuildRequest, BuilderChoice, ContainerSpec, DockerClient, DockerError, Ending, LogLine,
    LogStream, RunOptions, RunOutcome,
};
use tokio_util::sync::CancellationToken;

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "ls", "head", "tr", "true", "false", "mkdir", "touch", "env",
    "id", "pwd", "printf", "seq", "test", "wc", "rm", "yes",
];

/// One test's namespace: a unique run id, and cleanup of everything labelled with it.
struct Scope {
    run: String,
    /// Images without our labels (made with raw bollard), removed by reference.
    unlabelled_images: std::sync::Mutex<Vec<String>>,
}

impl Scope {
    fn new(test: &str) -> Scope {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Scope {
            run: format!("test-{test}-{}-{n}-{nanos}", std::process::id()).replace('_', "-"),
            unlabelled_images: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn labels(&self, node: &str) -> HashMap<String, String> {
        labels::for_node(&self.run, node)
    }

    fn run_filter(&self) -> HashMap<String, String> {
        HashMap::from([(labels::RUN.to_string(), self.run.clone())])
    }

    /// An image reference unique to this test.
    fn image(&self, name: &str) -> String {
        format!("engine-test/{name}:{}", self.run)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // The test's runtime may be gone (panic), so clean up on a runtime of our own.
        let filter = self.run_filter();
        let unlabelled = self
            .unlabelled_images
            .lock()
            .map(|images| images.clone())
            .unwrap_or_default();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                let client = DockerClient::connect().await.ok()?;
                let _ = client.remove_by_labels(&filter).await;
                for image in &unlabelled {
                    let _ = client.remove_image(image, true).await;
                }
                let _ = client.remove_images_by_labels(&filter).await;
                client
                    .list_images(&filter)
                    .await
                    .ok()
                    .map(|images| images.len())
            })
        });
        let left = cleanup.join().ok().flatten().unwrap_or(0);
        if !std::thread::panicking() {
            assert_eq!(left, 0, "test images left behind");
        }
    }
}

/// A rootfs tar with busybox and a few applet links (installs busybox-static if missing).
fn busybox_rootfs(dir: &Path) -> PathBuf {
    if !Path::new(BUSYBOX).exists() {
        let status = std::process::Command::new("apt-get")
            .args(["install", "-y", "busybox-static"])
            .status()
            .expect("run apt-get");
        assert!(status.success(), "apt-get install busybox-static failed");
    }
    let path = dir.join("rootfs.tar");
    let file = std::fs::File::create(&path).expect("create rootfs tar");
    let mut tar = tar::Builder::new(file);
    for folder in ["bin", "tmp", "etc", "root"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(if folder == "tmp" { 0o1777 } else { 0o755 });
        header.set_size(0);
        tar.append_data(&mut header, folder, std::io::empty())
            .expect("dir entry");
    }
    let mut busybox = std::fs::File::open(BUSYBOX).expect("open busybox");
    tar.append_file("bin/busybox", &mut busybox)
        .expect("busybox entry");
    for applet in APPLETS {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        tar.append_link(&mut header, format!("bin/{applet}"), "busybox")
            .expect("applet link");
    }
    tar.into_inner().expect("finish rootfs tar");
    path
}

/// Imports the busybox base image for this test; returns its reference.
async fn base_image(client: &DockerClient, scope: &Scope) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = busybox_rootfs(dir.path());
    let reference = scope.image("base");
    client
        .import_rootfs(&tar, &reference, &scope.labels("base"))
        .await
        .expect("import busybox rootfs");
    reference
}

/// A busybox image with no labels at all, imported with bollard directly (the backend would
/// label it).
async fn unlabelled_image(scope: &Scope) -> String {
    use bollard::query_parameters::CreateImageOptionsBuilder;
    use futures_util::TryStreamExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = std::fs::read(busybox_rootfs(dir.path())).expect("read rootfs tar");
    let tag = format!("bare-{}", scope.run);
    let reference = format!("engine-test/base:{tag}");
    scope
        .unlabelled_images
        .lock()
        .expect("lock")
        .push(reference.clone());
    let docker = bollard::Docker::connect_with_defaults().expect("bollard client");
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo("engine-test/base")
        .tag(&tag)
        .build();
    docker
        .create_image(Some(options), Some(bollard::body_full(tar.into())), None)
        .try_collect::<Vec<_>>()
        .await
        .expect("raw import");
    reference
}

fn sh(image: &str, scope: &Scope, script: &str) -> ContainerSpec {
    ContainerSpec {
        image: image.to_string(),
        cmd: vec!["/bin/sh".into(), "-c".into(), script.into()],
        labels: scope.labels("suite"),
        network_mode: Some("none".into()),
        ..Default::default()
    }
}

/// Runs to completion and returns the outcome plus all lines.
async fn run(
    client: &DockerClient,
    spec: &ContainerSpec,
    options: RunOptions,
) -> (RunOutcome, Vec<LogLine>) {
    let mut lines = Vec::new();
    let outcome = client
        .run_to_completion(spec, options, |line| lines.push(line))
        .await
        .expect("run_to_completion");
    (outcome, lines)
}

fn stdout_of(lines: &[LogLine]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.stream == LogStream::Stdout)
        .map(|l| l.line.as_str())
        .collect()
}

async fn assert_no_containers(client: &DockerClient, scope: &Scope) {
    let left = client
        .list_containers(&scope.run_filter())
        .await
        .expect("list containers");
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

#[tokio::test]
// No daemon needed: part of the fast tier.
async fn unreachable_endpoint_is_named() {
    for endpoint in ["unix:///nonexistent.sock", "tcp://127.0.0.1:1"] {
        let err = DockerClient::connect_to(endpoint)
            .await
            .expect_err("a bogus endpoint must not connect");
        assert!(
            matches!(&err, DockerError::Unreachable { endpoint: e, .. } if e == endpoint),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(endpoint), "{message}");
        let code = miette::Diagnostic::code(&err).map(|c| c.to_string());
        assert_eq!(code.as_deref(), Some("engine::docker::unreachable"));
        assert!(miette::Diagnostic::help(&err).is_some());
    }
    let err = DockerClient::connect_to("ftp://nowhere")
        .await
        .expect_err("unsupported scheme");
    assert!(matches!(err, DockerError::BadHost { .. }), "{err:?}");
}

/// `connect()` reads DOCKER_HOST. Environment changes would race with the other tests, so
/// this runs the check in a child process of this test binary.
#[test]
fn connect_honours_docker_host() {
    let exe = std::env::current_exe().expect("test binary");
    let output = std::process::Command::new(exe)
        .args([
            "--exact",
            "backend::docker_host_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .env("ENGINE_DOCKER_HOST_CHILD", "1")
        .output()
        .expect("run child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "child test did not run:\n{stdout}"
    );
}

#[tokio::test]
async fn docker_host_child() {
    if std::env::var("ENGINE_DOCKER_HOST_CHILD").is_err() {
        return;
    }
    let err = DockerClient::connect()
        .await
        .expect_err("bogus DOCKER_HOST");
    assert!(
        err.to_string().contains("unix:///nonexistent.sock"),
        "{err}"
    );
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn import_sets_labels_and_remove_cleans_up() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    assert_eq!(
        client.endpoint(),
        std::env::var("DOCKER_HOST")
            .as_deref()
            .unwrap_or(engine::docker::DEFAULT_ENDPOINT)
    );
    let scope = Scope::new("import");
    let image = base_image(&client, &scope).await;

    let labels = client
        .image_labels(&image)
        .await
        .expect("inspect")
        .expect("imported image exists");
    assert_eq!(
        labels.get(labels::MANAGED).map(String::as_str),
        Some("true")
    );
    assert_eq!(labels.get(labels::RUN), Some(&scope.run));
    assert_eq!(labels.get(labels::NODE).map(String::as_str), Some("base"));

    let listed = client.list_images(&scope.run_filter()).await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].tags.contains(&image), "{listed:?}");

    assert_eq!(
        client
            .image_labels(&scope.image("absent"))
            .await
            .expect("inspect"),
        None
    );
    assert!(client.remove_image(&image, false).await.expect("remove"));
    assert!(!client
        .remove_image(&image, false)
        .await
        .expect("remove again"));
    assert!(!client.image_exists(&image).await.expect("exists"));
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn import_of_a_missing_file_is_an_io_error() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("import-missing");
    let err = client
        .import_rootfs(
            Path::new("/nonexistent/rootfs.tar"),
            &scope.image("x"),
            &HashMap::new(),
        )
        .await
        .expect_err("missing file");
    assert!(matches!(err, DockerError::Io { .. }), "{err:?}");
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn pull_without_registry_names_the_image() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let reference = "engine-test-never-published/nothing:1";
    let err = client.pull(reference).await.expect_err("no registry here");
    match &err {
        DockerError::PullFailed {
            reference: r,
            reason,
        } => {
            assert_eq!(r, reference);
            assert!(!reason.is_empty());
        }
        other => panic!("expected PullFailed, got {other:?}"),
    }
    assert!(err.to_string().contains(reference), "{err}");
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn build_uses_args_and_honours_dockerignore() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("build");
    let base = base_image(&client, &scope).await;

    let context = tempfile::tempdir().expect("context dir");
    let write = |rel: &str, text: &str| {
        let path = context.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "docker/Dockerfile",
        "ARG BASE\nFROM $BASE\nARG GREETING\nCOPY . /ctx/\nRUN echo \"$GREETING\" > /greeting\n",
    );
    write(".dockerignore", "secret.txt\n**/*.log\n!keep.log\n");
    write("kept.txt", "kept");
    write("secret.txt", "secret");
    write("sub/noise.log", "noise");
    write("keep.log", "keep");

    // The same build with each builder: the log names it, and the image is the same.
    for (choice, builder, first_step) in [
        (BuilderChoice::BuildKit, "BuildKit", "FROM "),
        (
            BuilderChoice::Legacy,
            "legacy (DOCKER_BUILDKIT=0)",
            "Step 1/",
        ),
    ] {
        let client = client.clone().with_builder(choice);
        let tag = scope.image(&format!("built-{choice:?}").to_lowercase());
        build_and_check(&client, &scope, &context, &base, &tag)
            .await
            .check_log(builder, first_step);
    }
}

/// What a build printed.
struct BuildLog(Vec<String>);

impl BuildLog {
    /// The first line names the builder; a later one is the first step, as that builder says it.
    fn check_log(&self, builder: &str, first_step: &str) {
        let lines = &self.0;
        assert_eq!(
            lines.first().map(String::as_str),
            Some(format!("[engine] builder: {builder}").as_str()),
            "{lines:#?}"
        );
        assert!(lines.iter().any(|l| l.contains(first_step)), "{lines:#?}");
    }
}

/// Builds `docker/Dockerfile` of `context` as `tag` and checks the image: its labels, the build
/// arg it baked in, and the context files `.dockerignore` let through.
async fn build_and_check(
    client: &DockerClient,
    scope: &Scope,
    context: &tempfile::TempDir,
    base: &str,
    tag: &str,
) -> BuildLog {
    let request = BuildRequest {
        context_dir: context.path().to_path_buf(),
        dockerfile: "docker/Dockerfile".into(),
        build_args: HashMap::from([
            ("BASE".to_string(), base.to_string()),
            ("GREETING".to_string(), "hello from arg".to_string()),
        ]),
        tag: tag.to_string(),
        labels: scope.labels("image"),
        ..Default::default()
    };
    let mut output = Vec::new();
    let id = client
        .build_image(&request, |line| output.push(line.to_string()))
        .await
        .expect("build");
    assert!(id.starts_with("sha256:"), "{id}");

    let image_labels = client
        .image_labels(tag)
        .await
        .expect("inspect")
        .expect("built");
    assert_eq!(
        image_labels.get(labels::NODE).map(String::as_str),
        Some("image")
    );
    assert_eq!(
        image_labels.get(labels::MANAGED).map(String::as_str),
        Some("true")
    );

    let (outcome, lines) = run(
        client,
        &sh(tag, scope, "cat /greeting; cd /ctx && ls -a . sub"),
        RunOptions::default(),
    )
    .await;
    assert!(outcome.succeeded(), "{outcome:?} {lines:?}");
    let out = stdout_of(&lines);
    assert_eq!(out.first().copied(), Some("hello from arg"));
    assert!(out.contains(&"kept.txt"), "{out:?}");
    assert!(out.contains(&"keep.log"), "{out:?}");
    assert!(out.contains(&".dockerignore"), "{out:?}");
    assert!(
        !out.contains(&"secret.txt"),
        "ignored file was sent: {out:?}"
    );
    assert!(
        !out.contains(&"noise.log"),
        "ignored file was sent: {out:?}"
    );
    assert_no_containers(client, scope).await;
    BuildLog(output)
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn failing_build_reports_the_tail() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("build-fail");
    let base = base_image(&client, &scope).await;
    let context = tempfile::tempdir().expect("context dir");
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {base}\nRUN echo marker-before-failure && exit 3\n"),
    )
    .expect("write Dockerfile");

    for choice in [BuilderChoice::BuildKit, BuilderChoice::Legacy] {
        let client = client.clone().with_builder(choice);
        let tag = scope.image(&format!("broken-{choice:?}").to_lowercase());
        check_failed_build(&client, &scope, context.path(), &tag).await;
    }
}

/// A build of `context`, whose RUN step prints a marker and exits 3, fails with that
/// step's output in its tail, and leaves no image.
async fn check_failed_build(client: &DockerClient, scope: &Scope, context: &Path, tag: &str) {
    let request = BuildRequest {
        context_dir: context.to_path_buf(),
        dockerfile: "Dockerfile".into(),
        tag: tag.to_string(),
        labels: scope.labels("image"),
        ..Default::default()
    };
    let mut seen = 0;
    let err = client
        .build_image(&request, |_| seen += 1)
        .await
        .expect_err("RUN exits 3");
    match &err {
        DockerError::BuildFailed {
            tag: t,
            reason,
            tail,
        } => {
            assert_eq!(t, &tag);
            assert!(reason.contains('3'), "{reason}");
            assert!(
                tail.iter().any(|l| l.contains("marker-before-failure")),
                "{tail:#?}"
            );
            assert!(tail.len() <= engine::docker::build::BUILD_TAIL_LINES);
        }
        other => panic!("expected BuildFailed, got {other:?}"),
    }
    assert!(seen > 0);
    assert!(err.to_string().contains("marker-before-failure"), "{err}");
    assert!(!client.image_exists(tag).await.expect("inspect"));
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn buildkit_cache_mounts_outlive_a_build() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("build-cache-mount");
    let base = base_image(&client, &scope).await;
    let context = tempfile::tempdir().expect("context dir");
    // The way Arch images cache pacman's downloads; the id keeps this test's cache its own.
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {base}\nARG STAMP\n\
             RUN --mount=type=cache,target=/var/cache/pacman/pkg,id={run} \\\n    \
             : {run}; touch /var/cache/pacman/pkg/$STAMP && ls /var/cache/pacman/pkg > /seen\n",
            run = scope.run
        ),
    )
    .expect("write Dockerfile");
    let client = client.with_builder(BuilderChoice::BuildKit);
    let mut last = String::new();
    for stamp in ["first", "second"] {
        let request = BuildRequest {
            context_dir: context.path().to_path_buf(),
            dockerfile: "Dockerfile".into(),
            build_args: HashMap::from([("STAMP".to_string(), stamp.to_string())]),
            tag: scope.image(stamp),
            labels: scope.labels("image"),
            ..Default::default()
        };
        let mut output = Vec::new();
        client
            .build_image(&request, |l| output.push(l.to_string()))
            .await
            .unwrap_or_else(|e| panic!("build {stamp}: {e}\n{output:#?}"));
        last = scope.image(stamp);
    }
    // The second build saw the file the first one left in the cache mount, which is in
    // neither image's layers.
    let (outcome, lines) = run(
        &client,
        &sh(
            &last,
            &scope,
            "cat /seen; ls /var/cache/pacman/pkg 2>/dev/null | wc -l",
        ),
        RunOptions::default(),
    )
    .await;
    assert!(outcome.succeeded(), "{outcome:?} {lines:?}");
    assert_eq!(stdout_of(&lines), ["first", "second", "0"]);
    // The legacy builder cannot build it, and says why.
    let legacy = client.with_builder(BuilderChoice::Legacy);
    let request = BuildRequest {
        context_dir: context.path().to_path_buf(),
        dockerfile: "Dockerfile".into(),
        tag: scope.image("legacy"),
        labels: scope.labels("image"),
        ..Default::default()
    };
    let err = legacy
        .build_image(&request, |_| {})
        .await
        .expect_err("the legacy builder has no cache mounts");
    assert!(err.to_string().contains("BuildKit"), "{err}");
    // Its layers' records go once the images are gone.
    let marker = scope.run.clone();
    drop(scope);
    remove_cache_mount(&marker);
}

/// Removes the BuildKit cache records (the cache mount and the step's layers) of a RUN step
/// whose command holds `marker`: daemon state that outlives images. Through the API by hand,
/// because bollard's models of `/system/df` follow a newer API than this daemon's 1.41.
fn remove_cache_mount(marker: &str) {
    let ours = || {
        let usage = daemon_json("GET", "/system/df");
        usage["BuildCache"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| {
                c["Description"]
                    .as_str()
                    .is_some_and(|d| d.contains(marker))
            })
            .map(|c| {
                (
                    c["ID"].as_str().unwrap_or("").to_string(),
                    c["Type"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let records = ours();
    assert!(
        records.iter().any(|(_, typ)| typ == "exec.cachemount"),
        "the cache mount is among the build cache: {records:?}"
    );
    for (id, _) in &records {
        // filters={"id":["<id>"]}, percent-encoded.
        daemon_json(
            "POST",
            &format!("/build/prune?filters=%7B%22id%22%3A%5B%22{id}%22%5D%7D"),
        );
    }
    assert_eq!(ours(), [], "build cache left behind");
}

/// One request to the local daemon's socket (HTTP/1.0, so the answer is not chunked).
fn daemon_json(method: &str, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut socket =
        std::os::unix::net::UnixStream::connect("/var/run/docker.sock").expect("socket");
    write!(
        socket,
        "{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    socket.read_to_string(&mut answer).expect("answer");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {answer}"))
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn exit_codes_output_order_binds_and_env() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("exit");
    let image = base_image(&client, &scope).await;

    let io = tempfile::tempdir().expect("io dir");
    std::fs::write(io.path().join("input"), "from host\n").expect("write input");
    let mut spec = sh(
        &image,
        &scope,
        "for i in $(seq 1 200); do echo line-$i; done; echo to-stderr >&2; \
         cat /io/input; echo \"$GREETING\"; pwd; echo written > /io/output; \
         printf 'no newline'; exit 7",
    );
    spec.env.insert("GREETING".into(), "hi env".into());
    spec.workdir = Some("/tmp".into());
    spec.binds.push(engine::docker::Bind {
        host: io.path().to_path_buf(),
        container: "/io".into(),
        read_only: false,
    });
    spec.init = true;
    let (outcome, lines) = run(&client, &spec, RunOptions::default()).await;
    assert_eq!(outcome.ending, Ending::Exited);
    assert_eq!(outcome.exit.map(|e| e.exit_code), Some(7));
    assert!(!outcome.succeeded());
    assert_eq!(outcome.log_error, None);

    let out = stdout_of(&lines);
    let expected: Vec<String> = (1..=200).map(|i| format!("line-{i}")).collect();
    assert_eq!(
        out[..200],
        expected.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    assert_eq!(out[200..], ["from host", "hi env", "/tmp", "no newline"]);
    let err: Vec<&LogLine> = lines
        .iter()
        .filter(|l| l.stream == LogStream::Stderr)
        .collect();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].line, "to-stderr");
    assert_eq!(
        std::fs::read_to_string(io.path().join("output")).expect("output written"),
        "written\n"
    );
    assert_no_containers(&client, &scope).await;

    // A read-only bind refuses writes; exit 0 is success.
    spec.binds[0].read_only = true;
    spec.cmd = vec![
        "/bin/sh".into(),
        "-c".into(),
        "echo x > /io/other || exit 0; exit 1".into(),
    ];
    let (outcome, _) = run(&client, &spec, RunOptions::default()).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(!io.path().join("other").exists());
    assert_no_containers(&client, &scope).await;
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn timeout_kills_and_removes() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("timeout");
    let image = base_image(&client, &scope).await;
    let started = Instant::now();
    let (outcome, lines) = run(
        &client,
        &sh(&image, &scope, "echo started; sleep 60; echo never"),
        RunOptions {
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        },
    )
    .await;
    assert!(outcome.timed_out(), "{outcome:?}");
    assert_eq!(outcome.exit.map(|e| e.exit_code), Some(137));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stdout_of(&lines), ["started"]);
    assert_no_containers(&client, &scope).await;
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn cancellation_kills_and_removes() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("cancel");
    let image = base_image(&client, &scope).await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        trigger.cancel();
    });
    let (outcome, _) = run(
        &client,
        &sh(&image, &scope, "sleep 60"),
        RunOptions {
            cancel: cancel.clone(),
            ..Default::default()
        },
    )
    .await;
    assert!(outcome.cancelled(), "{outcome:?}");
    assert!(outcome.duration < Duration::from_secs(30));
    assert_no_containers(&client, &scope).await;

    // Already cancelled: nothing is created at all.
    let (outcome, lines) = run(
        &client,
        &sh(&image, &scope, "echo should-not-run"),
        RunOptions {
            cancel,
            ..Default::default()
        },
    )
    .await;
    assert!(outcome.cancelled() && outcome.exit.is_none(), "{outcome:?}");
    assert!(lines.is_empty());
    assert_no_containers(&client, &scope).await;
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn dropped_run_still_removes_its_container() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("dropped");
    let image = base_image(&client, &scope).await;
    let spec = sh(&image, &scope, "sleep 60");
    let abandoned = tokio::time::timeout(
        Duration::from_secs(3),
        client.run_to_completion(&spec, RunOptions::default(), |_| {}),
    )
    .await;
    assert!(abandoned.is_err(), "the run should still be going");
    // Removal happens in a spawned task: give it a moment.
    for _ in 0..50 {
        if client
            .list_containers(&scope.run_filter())
            .await
            .expect("list")
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_no_containers(&client, &scope).await;
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn kill_from_outside_is_reported() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("outside-kill");
    let image = base_image(&client, &scope).await;
    let killer = client.clone();
    let filter = scope.run_filter();
    let killing = tokio::spawn(async move {
        for _ in 0..100 {
            let running = killer.list_containers(&filter).await.expect("list");
            if let Some(c) = running.iter().find(|c| c.state == "running") {
                return killer.kill(&c.id, None).await.expect("kill");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    let (outcome, _) = run(
        &client,
        &sh(&image, &scope, "sleep 60"),
        RunOptions::default(),
    )
    .await;
    assert!(
        killing.await.expect("killer task"),
        "the killer never found the container"
    );
    // Also checks that the daemon's event log does not turn a plain kill into an OOM.
    assert_eq!(outcome.ending, Ending::KilledExternally, "{outcome:?}");
    assert_eq!(outcome.exit.map(|e| e.exit_code), Some(137));
    assert_no_containers(&client, &scope).await;
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn oom_kill_is_reported() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("oom");
    let image = base_image(&client, &scope).await;
    // The shell keeps the whole command substitution in memory: far above the limit.
    let mut spec = sh(
        &image,
        &scope,
        "x=$(head -c 268435456 /dev/zero | tr '\\0' a); echo survived",
    );
    spec.memory_bytes = Some(32 << 20);
    let before = std::time::SystemTime::now();
    let (outcome, lines) = run(&client, &spec, RunOptions::default()).await;
    assert_eq!(outcome.ending, Ending::OomKilled, "{outcome:?} {lines:?}");
    assert!(outcome.exit.is_some_and(|e| e.oom_killed));
    // The second witness, for when the daemon's flag misses the kill (cgroup v1 under load):
    // the daemon's event log has it, even after the container is gone.
    let id = outcome.container_id.as_deref().expect("created");
    assert!(
        client.oom_event_since(id, before, Duration::ZERO).await,
        "no oom event logged for {id}"
    );
    assert!(!stdout_of(&lines).contains(&"survived"));
    assert_no_containers(&client, &scope).await;
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn commit_produces_a_labelled_image() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("commit");
    let image = base_image(&client, &scope).await;
    let (outcome, _) = run(
        &client,
        &sh(&image, &scope, "echo provisioned > /marker"),
        RunOptions {
            keep: true,
            ..Default::default()
        },
    )
    .await;
    assert!(outcome.succeeded() && outcome.kept, "{outcome:?}");

    let container = outcome
        .container_id
        .clone()
        .expect("a kept container has an id");
    let (repo, tag) = ("engine-test/provisioned", scope.run.as_str());
    let committed = format!("{repo}:{tag}");
    let mut extra = scope.labels("provision");
    extra.insert(labels::CONTENT_HASH.into(), "abc123".into());
    let id = client
        .commit(
            &container,
            repo,
            tag,
            &extra,
            &[r#"CMD ["/bin/cat", "/marker"]"#.to_string()],
        )
        .await
        .expect("commit");
    assert!(id.starts_with("sha256:"), "{id}");
    assert!(client.remove(&container, true).await.expect("remove kept"));

    let got = client
        .image_labels(&committed)
        .await
        .expect("inspect")
        .expect("committed");
    assert_eq!(
        got.get(labels::CONTENT_HASH).map(String::as_str),
        Some("abc123")
    );
    assert_eq!(got.get(labels::NODE).map(String::as_str), Some("provision"));
    assert_eq!(got.get(labels::MANAGED).map(String::as_str), Some("true"));

    let spec = ContainerSpec {
        image: committed.clone(),
        labels: scope.labels("suite"),
        ..Default::default()
    };
    let (outcome, lines) = run(&client, &spec, RunOptions::default()).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(stdout_of(&lines), ["provisioned"]);

    let err = client
        .commit(
            "engine-test-no-such-container",
            repo,
            "x",
            &HashMap::new(),
            &[],
        )
        .await
        .expect_err("no container");
    assert!(
        matches!(err, DockerError::ContainerNotFound { .. }),
        "{err:?}"
    );
    assert_no_containers(&client, &scope).await;

    // The base image is the committed image's parent; both go, whatever the list order.
    let removed = client
        .remove_images_by_labels(&scope.run_filter())
        .await
        .expect("remove images");
    assert_eq!(removed, 2);
    assert!(client
        .list_images(&scope.run_filter())
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn remove_by_labels_is_exact() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("by-labels");
    let other = Scope::new("by-labels-other");
    let image = base_image(&client, &scope).await;

    let mut ours = Vec::new();
    for (i, node) in ["a", "b"].iter().enumerate() {
        let mut spec = sh(&image, &scope, "sleep 60");
        spec.labels = scope.labels(node);
        let id = client.create(&spec).await.expect("create");
        if i == 0 {
            client.start(&id).await.expect("start");
        }
        ours.push(id);
    }
    let mut foreign = sh(&image, &other, "sleep 60");
    foreign.labels = other.labels("a");
    let foreign_id = client.create(&foreign).await.expect("create foreign");
    // Containers inherit their image's labels, so a truly unlabelled container needs an
    // unlabelled image; and raw bollard, because the backend always adds engine.managed.
    let bare_image = unlabelled_image(&scope).await;
    let docker = bollard::Docker::connect_with_defaults().expect("bollard client");
    let bare_id = docker
        .create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            bollard::models::ContainerCreateBody {
                image: Some(bare_image),
                cmd: Some(vec!["true".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("create unlabelled")
        .id;

    let listed = client
        .list_containers(&scope.run_filter())
        .await
        .expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");

    let removed = client
        .remove_by_labels(&scope.run_filter())
        .await
        .expect("remove");
    assert_eq!(removed, 2);
    assert_no_containers(&client, &scope).await;

    let all = client
        .list_containers(&HashMap::new())
        .await
        .expect("list all");
    assert!(
        all.iter().any(|c| c.id == foreign_id),
        "other run's container was removed"
    );
    let bare = all
        .iter()
        .find(|c| c.id == bare_id)
        .expect("unlabelled container was removed");
    assert!(bare.labels.is_empty(), "{bare:?}");
    assert!(client
        .remove(&foreign_id, true)
        .await
        .expect("remove foreign"));
    assert!(client.remove(&bare_id, true).await.expect("remove bare"));
    assert!(!client.remove(&bare_id, true).await.expect("remove twice"));
}

#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn missing_objects_are_typed_errors() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("missing");
    let err = client
        .create(&sh(&scope.image("absent"), &scope, "true"))
        .await
        .expect_err("no such image");
    assert!(matches!(err, DockerError::ImageNotFound { .. }), "{err:?}");
    // A command that cannot start is an error, and its container is still removed.
    let image = base_image(&client, &scope).await;
    let mut spec = sh(&image, &scope, "true");
    spec.cmd = vec!["/no/such/program".into()];
    let err = client
        .run_to_completion(&spec, RunOptions::default(), |_| {})
        .await
        .expect_err("cannot start");
    assert!(
        matches!(
            &err,
            DockerError::Api {
                op: "container start",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("/no/such/program"), "{err}");
    assert_no_containers(&client, &scope).await;

    let err = client
        .wait("engine-test-no-such-container")
        .await
        .expect_err("no container");
    assert!(
        matches!(err, DockerError::ContainerNotFound { .. }),
        "{err:?}"
    );
    let err = client
        .start("engine-test-no-such-container")
        .await
        .expect_err("no container");
    assert!(
        matches!(err, DockerError::ContainerNotFound { .. }),
        "{err:?}"
    );
}

/// `docker stop` from outside (SIGTERM, forwarded by the container's init) is told apart from
/// a clean exit and from `docker kill`.
#[tokio::test]
#[ignore = "Docker tier: scripts/test.sh runs it"]
async fn stop_from_outside_is_reported() {
    let Some(client) = crate::support::daemon().await else {
        return;
    };
    let scope = Scope::new("outside-stop");
    let image = base_image(&client, &scope).await;
    let stopper = client.clone();
    let filter = scope.run_filter();
    let stopping = tokio::spawn(async move {
        for _ in 0..100 {
            let running = stopper.list_containers(&filter).await.expect("list");
            if let Some(c) = running.iter().find(|c| c.state == "running") {
                stopper
                    .stop(&c.id, Duration::from_secs(10))
                    .await
                    .expect("stop");
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    let mut spec = sh(&image, &scope, "sleep 60");
    spec.init = true;
    let (outcome, _) = run(&client, &spec, RunOptions::default()).await;
    assert!(
        stopping.await.expect("stopper task"),
        "the stopper never found the container"
    );
    assert_eq!(outcome.ending, Ending::StoppedExternally, "{outcome:?}");
    assert_eq!(outcome.exit.map(|e| e.exit_code), Some(143));
    assert_no_containers(&client, &scope).await;
}
