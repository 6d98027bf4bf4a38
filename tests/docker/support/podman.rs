//! A Podman service for the Podman tests: Debian's `podman` (rootful) serving its
//! Docker-compatible API on a private socket, started by the test and stopped when dropped.
//! Podman's storage is its own (`/var/lib/containers`), apart from Docker's; each test removes
//! what it made there.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PodmanService {
    child: Child,
    /// Rootful Podman's storage is one for every service: the tests that use it run one at a
    /// time, because images are shared by key between projects and one test's `clean
    /// --images`, or its first build, would meet another's.
    _serial: std::sync::MutexGuard<'static, ()>,
    _dir: tempfile::TempDir,
    /// `unix://<dir>/podman.sock`, for DOCKER_HOST.
    pub endpoint: String,
}

impl PodmanService {
    /// `None` (skipped loudly, a failure under CI) without podman.
    pub fn start(test: &str) -> Option<PodmanService> {
        if Command::new("podman").arg("--version").output().is_err() {
            return super::skip_or_fail(
                test,
                "podman is missing: scripts/install-test-deps.sh installs it",
            );
        }
        static STORAGE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let serial = STORAGE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = tempfile::Builder::new()
            .prefix("pm")
            .tempdir_in("/tmp")
            .unwrap();
        let socket = dir.path().join("podman.sock");
        let endpoint = format!("unix://{}", socket.display());
        // Rootful Podman gives containers rlimits of a million files and processes, above the
        // hard limits of a sandboxed host such as this one (runc then fails with "error setting
        // rlimits ... operation not permitted"): ask for ordinary ones.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let conf = dir.path().join("containers.conf");
        std::fs::write(
            &conf,
            "[containers]\ndefault_ulimits = [\"nofile=16384:16384\", \"nproc=32768:32768\"]\n",
        )
        .unwrap();
        let child = Command::new("podman")
            .args(["system", "service", "--time=0", &endpoint])
            .env("CONTAINERS_CONF", &conf)
            // Podman 4.3 leaves each imported tar in its temporary folder (`api_load.tar*`, as
            // large as the rootfs) and keeps Buildah's cache mounts there: in the service's
            // own folder, they go with it.
            .env("TMPDIR", &tmp)
            // conmon writes a file named `oom` into its working folder when a container's
            // process is killed for memory: not into the test's.
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let service = PodmanService {
            child,
            _serial: serial,
            _dir: dir,
            endpoint,
        };
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "podman system service did not listen on {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(service)
    }

    /// The service's process id: Buildah's step processes are its children.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `engine ARGS` in `dir` against this Podman service.
    pub fn engine(&self, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
        super::engine_cmd(dir, args)
            .env("DOCKER_HOST", &self.endpoint)
            .output()
            .unwrap()
    }

    /// What `podman ARGS -q` lists of the project at `root` (by its `engine.project` label),
    /// in rootful Podman's storage: `&["ps", "-a"]` for its containers, `&["images"]` for its
    /// images.
    pub fn of_project(args: &[&str], root: &std::path::Path) -> usize {
        let out = Command::new("podman")
            .args(args)
            .args(["-q", "--filter", &super::project::project_filter(root)])
            .output()
            .unwrap();
        super::text(&out.stdout).lines().count()
    }

    /// Podman's own version (`podman --version`: `podman version 4.3.1`).
    pub fn version() -> String {
        let out = Command::new("podman").arg("--version").output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .last()
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
