//! A real container registry for tests: Debian's `docker-registry` (the reference registry,
//! installed by scripts/install-test-deps.sh) on a free port of 127.0.0.1, in plain HTTP, with
//! its storage in a temporary folder; optionally behind an htpasswd login.
//!
//! The Docker daemon treats 127.0.0.0/8 as an insecure (plain HTTP) registry by default, so it
//! pushes to and pulls from [`Registry::host`] (`127.0.0.1:PORT`) without any daemon setting.
//!
//! - [`Registry::start`] / [`Registry::start_with_login`]: a running registry; dropping it
//!   stops it, removes its folder and every local image named after it (also on a panic).
//! - [`Registry::push_busybox`]: a tiny busybox image made from Debian's busybox-static (no
//!   pull from anywhere), pushed as `repo:tag`; afterwards the daemon has no copy, so a pull
//!   really asks the registry. [`Registry::push`] pushes an existing local image.
//! - [`docker_config`]: a Docker client config file as `docker login` writes it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListImagesOptionsBuilder, PushImageOptionsBuilder,
    RemoveImageOptions, RemoveImageOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::StreamExt;

/// The registry's binary (Debian's `docker-registry` package).
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// How long the registry may take to answer `GET /v2/`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "ls", "true", "false", "mkdir", "env", "id", "test", "rm",
];

/// A running `docker-registry` on 127.0.0.1; stopped and cleaned up when dropped.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    login: Option<(String, String)>,
    /// Local images made by [`Registry::push_busybox`], removed on drop if a panic left them.
    sources: Mutex<Vec<String>>,
}

/// An image pushed to a [`Registry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `127.0.0.1:PORT/repo:tag`.
    pub reference: String,
    /// The manifest digest the registry stores it under, `sha256:HEX`.
    pub digest: String,
}

impl Pushed {
    /// `127.0.0.1:PORT/repo` (the reference without its tag).
    pub fn repository(&self) -> &str {
        engine::docker::image::split_reference(&self.reference).0
    }

    /// `127.0.0.1:PORT/repo@sha256:HEX`: the pull-by-digest reference.
    pub fn by_digest(&self) -> String {
        format!("{}@{}", self.repository(), self.digest)
    }
}

impl Registry {
    /// An open registry (anyone may push and pull).
    pub fn start() -> Registry {
        Self::launch(None)
    }

    /// A registry that answers only to `user`/`password` (htpasswd, bcrypt), for pushes too.
    pub fn start_with_login(user: &str, password: &str) -> Registry {
        Self::launch(Some((user.to_string(), password.to_string())))
    }

    fn launch(login: Option<(String, String)>) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: run scripts/install-test-deps.sh (Debian's docker-registry)"
        );
        // A port taken between our probe and the registry's bind: try another one.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut registry = Self::spawn(login.clone());
            match registry.wait_ready() {
                Ok(()) => return registry,
                Err(log) if attempt < 3 && log.contains("address already in use") => continue,
                Err(log) => panic!(
                    "the registry on {} did not answer within {START_TIMEOUT:?}; its log:\n{log}",
                    registry.host()
                ),
            }
        }
    }

    fn spawn(login: Option<(String, String)>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("engine-test-registry-")
            .tempdir()
            .expect("registry tempdir");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: engine-test-registry\n",
            data = dir.path().join("data").display(),
        );
        if let Some((user, password)) = &login {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("run htpasswd (apache2-utils: scripts/install-test-deps.sh)");
            assert!(
                out.status.success(),
                "htpasswd -Bbn failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, &out.stdout).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: engine-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {REGISTRY_BIN}: {e}"));
        Registry {
            child,
            dir,
            port,
            login,
            sources: Mutex::new(Vec::new()),
        }
    }

    /// Waits until `GET /v2/` answers 200 (open) or 401 (login); `Err(log)` otherwise.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("(exited with {status})\n{}", self.log()));
            }
            if let Some(code) = http_status(addr, "/v2/") {
                if code == 200 || code == 401 {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(self.log());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `127.0.0.1:PORT`: the host part of this registry's image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT/{repo_tag}`.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host())
    }

    /// The login this registry was started with (user, password).
    pub fn login(&self) -> Option<(&str, &str)> {
        self.login.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The registry's own folder (config.yml, htpasswd, registry.log, data/).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the registry has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Pushes local image `local_image` as `repo_tag` (`repo:tag`, without the host), with this
    /// registry's login when it has one. The local image keeps its own name; the registry's
    /// name for it is untagged again, so that a later pull of it asks the registry.
    pub async fn push(&self, local_image: &str, repo_tag: &str) -> Pushed {
        let docker = raw_client().await;
        let (repo, tag) = engine::docker::image::split_reference(repo_tag);
        assert!(!tag.is_empty(), "push a tag, not a digest: {repo_tag}");
        let repository = self.reference(repo);
        let reference = format!("{repository}:{tag}");
        docker
            .tag_image(
                local_image,
                Some(
                    TagImageOptionsBuilder::default()
                        .repo(&repository)
                        .tag(tag)
                        .build(),
                ),
            )
            .await
            .unwrap_or_else(|e| panic!("tag {local_image} as {reference}: {e}"));
        let credentials = self
            .login
            .as_ref()
            .map(|(user, password)| DockerCredentials {
                username: Some(user.clone()),
                password: Some(password.clone()),
                serveraddress: Some(self.host()),
                ..Default::default()
            });
        let mut progress = docker.push_image(
            &repository,
            Some(PushImageOptionsBuilder::default().tag(tag).build()),
            credentials,
        );
        let mut failure = None;
        while let Some(item) = progress.next().await {
            match item {
                Ok(info) => {
                    if let Some(detail) = info.error_detail {
                        failure.get_or_insert(format!("{detail:?}"));
                    }
                }
                Err(e) => {
                    failure.get_or_insert(e.to_string());
                }
            }
        }
        let digest = docker
            .inspect_image(&reference)
            .await
            .ok()
            .and_then(|image| {
                let prefix = format!("{repository}@");
                image
                    .repo_digests
                    .unwrap_or_default()
                    .into_iter()
                    .find_map(|d| d.strip_prefix(&prefix).map(str::to_string))
            });
        // Untag (not force: the image keeps its other names).
        let _ = docker
            .remove_image(&reference, None::<RemoveImageOptions>, None)
            .await;
        if let Some(failure) = failure {
            panic!(
                "push {reference} failed: {failure}\nregistry log:\n{}",
                self.log()
            );
        }
        Pushed {
            reference,
            digest: digest.unwrap_or_else(|| panic!("no digest for {repository} after the push")),
        }
    }

    /// Makes a tiny busybox image whose `/etc/marker` holds `marker` (a different marker, a
    /// different image) and pushes it as `repo_tag`. Nothing of it is left in the daemon.
    pub async fn push_busybox(&self, repo_tag: &str, marker: &str) -> Pushed {
        let local = busybox_image(marker).await;
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(local.clone());
        let pushed = self.push(&local, repo_tag).await;
        remove_image(&local).await;
        pushed
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Local images named after this registry (pulled or pushed by the test), while the port
        // is still ours. On a thread with a runtime of its own: the test's may be gone (panic),
        // or be the one calling (a runtime cannot block inside itself).
        let prefix = format!("{}/", self.host());
        let sources = std::mem::take(&mut *self.sources.lock().unwrap_or_else(|p| p.into_inner()));
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                remove_images_named(&prefix).await;
                for source in &sources {
                    remove_image(source).await;
                }
            });
        })
        .join();
        // The tempdir goes with `self.dir`.
    }
}

/// Writes `dir/config.json` as `docker login HOST` writes it (creating `dir`); returns its path.
pub fn docker_config(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("docker config dir");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = serde_json::json!({ "auths": { host: { "auth": auth } } });
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).expect("config.json");
    path
}

/// A local busybox image (no labels; `/etc/marker` holds `marker`; CMD /bin/sh), imported
/// from Debian's busybox-static under a name unique to this call; returns the name.
pub async fn busybox_image(marker: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let tag = format!(
        "{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let repo = "engine-test-registry/source";
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(&tag)
        .changes(vec![r#"CMD ["/bin/sh"]"#.to_string()])
        .build();
    let tar = busybox_tar(marker);
    let docker = raw_client().await;
    let mut progress =
        docker.create_image(Some(options), Some(bollard::body_full(tar.into())), None);
    while let Some(item) = progress.next().await {
        item.expect("import the busybox image");
    }
    format!("{repo}:{tag}")
}

/// Removes a local image by reference (force); absent is fine.
pub async fn remove_image(reference: &str) {
    let options = RemoveImageOptionsBuilder::default().force(true).build();
    let _ = raw_client()
        .await
        .remove_image(reference, Some(options), None)
        .await;
}

/// Removes every local image with a tag or digest starting with `prefix`.
async fn remove_images_named(prefix: &str) {
    let docker = raw_client().await;
    let Ok(images) = docker
        .list_images(Some(ListImagesOptionsBuilder::default().build()))
        .await
    else {
        return;
    };
    let options = RemoveImageOptionsBuilder::default().force(true).build();
    for image in images {
        let names = image.repo_tags.iter().chain(&image.repo_digests);
        if names.clone().any(|n| n.starts_with(prefix)) {
            // By name, so that the image's other names (and it) stay when it has them.
            for name in names.filter(|n| n.starts_with(prefix)) {
                let _ = docker.remove_image(name, Some(options.clone()), None).await;
            }
        }
    }
}

/// A bollard client on the daemon the engine uses (DOCKER_HOST or the socket), on the API
/// version the daemon speaks, sending registry credentials as the engine does.
async fn raw_client() -> bollard::Docker {
    bollard::Docker::connect_with_defaults()
        .expect("bollard client")
        .negotiate_version()
        .await
        .expect("negotiate the API version")
        .with_request_modifier(engine::docker::auth::url_safe_registry_headers)
}

/// A rootfs tar: busybox, a few applet links, /etc/marker.
fn busybox_tar(marker: &str) -> Vec<u8> {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: run scripts/install-test-deps.sh (busybox-static)"
    );
    let mut tar = tar::Builder::new(Vec::new());
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(0);
        h
    };
    for folder in ["bin", "etc", "tmp", "root"] {
        let mode = if folder == "tmp" { 0o1777 } else { 0o755 };
        tar.append_data(
            &mut header(tar::EntryType::Directory, mode, 0),
            folder,
            std::io::empty(),
        )
        .expect("dir entry");
    }
    let busybox = std::fs::read(BUSYBOX).expect("read busybox");
    tar.append_data(
        &mut header(tar::EntryType::Regular, 0o755, busybox.len() as u64),
        "bin/busybox",
        busybox.as_slice(),
    )
    .expect("busybox entry");
    for applet in APPLETS {
        tar.append_link(
            &mut header(tar::EntryType::Symlink, 0o777, 0),
            format!("bin/{applet}"),
            "busybox",
        )
        .expect("applet link");
    }
    let marker = format!("{marker}\n");
    tar.append_data(
        &mut header(tar::EntryType::Regular, 0o644, marker.len() as u64),
        "etc/marker",
        marker.as_bytes(),
    )
    .expect("marker entry");
    tar.into_inner().expect("finish the tar")
}

/// A port of 127.0.0.1 free right now (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// The status code of `GET path` over HTTP/1.0, or `None` when nothing answers (yet).
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        match stream.read(&mut head[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    // "HTTP/1.x NNN ..."
    std::str::from_utf8(&head[..len])
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
