//! Rootless engines for the rootless tests: a non-root user's Podman service
//! (`podman system service`) or Docker daemon (Debian's `dockerd-rootless.sh`, under
//! rootlesskit) on a socket of its own, with its own storage, runtime folder, home, TMPDIR and
//! engine cache, all in one temporary folder that user owns. Under root the user is
//! `engine-rootless`, which scripts/install-test-deps.sh creates with subordinate ID ranges;
//! as any other user, that user itself (Podman only).
//!
//! [`Rootless::podman`] and [`Rootless::docker`] check each prerequisite and name the one that
//! is missing. Dropping one stops every process that names its folder (rootless Podman runs
//! itself again inside the user namespace it makes, as a second process) and Podman's pause
//! process, which holds the namespace; Podman's storage is removed through `podman unshare`
//! first, because files of the namespace's other IDs belong to subordinate IDs.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user the tests run rootless Podman as when they run as root.
pub const TEST_USER: &str = "engine-rootless";

/// Which engine runs rootless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Podman,
    Docker,
}

/// Debian's docker.io ships the rootless launcher here (docker-ce has it on PATH).
const DOCKERD_ROOTLESS: &str = "/usr/share/docker.io/contrib/dockerd-rootless.sh";

pub struct Rootless {
    child: Child,
    kind: Kind,
    pub user: User,
    /// Owned by the user: `run/` (XDG_RUNTIME_DIR), `storage/`, `runroot/`, `home/`, `cache/`,
    /// `tmp/` (TMPDIR).
    pub dir: PathBuf,
    /// `unix://<dir>/run/podman.sock` or `unix://<dir>/run/docker.sock`.
    pub endpoint: String,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The first subordinate UID: container UID n > 0 is this + n - 1 on the host.
    pub subuid_start: u32,
}

impl Rootless {
    /// Rootless Podman. `None` (skipped loudly, a failure under CI) with the missing
    /// prerequisite named.
    pub fn podman(test: &str) -> Option<Rootless> {
        Self::start(test, Kind::Podman)
    }

    /// Rootless Docker (dockerd under rootlesskit), likewise.
    pub fn docker(test: &str) -> Option<Rootless> {
        Self::start(test, Kind::Docker)
    }

    fn start(test: &str, kind: Kind) -> Option<Rootless> {
        let user = match prerequisites(kind) {
            Ok(user) => user,
            Err(why) => return super::skip_or_fail(test, &format!("rootless {kind:?}: {why}")),
        };
        let dir = tempfile::Builder::new()
            .prefix("rootless")
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        for sub in ["run", "storage", "runroot", "home", "cache", "tmp"] {
            std::fs::create_dir(dir.join(sub)).unwrap();
        }
        chown_tree(&dir, &user);
        let (socket, mut cmd) = match kind {
            Kind::Podman => {
                let socket = dir.join("run/podman.sock");
                let mut cmd = podman(&user, &dir);
                cmd.args(["system", "service", "--time=0"])
                    .arg(format!("unix://{}", socket.display()));
                (socket, cmd)
            }
            Kind::Docker => {
                let socket = dir.join("run/docker.sock");
                let mut cmd = as_user(&user, &dir, "sh");
                cmd.arg(DOCKERD_ROOTLESS)
                    .arg("--data-root")
                    .arg(dir.join("storage"))
                    .arg("--exec-root")
                    .arg(dir.join("runroot"))
                    .arg("-H")
                    .arg(format!("unix://{}", socket.display()));
                (socket, cmd)
            }
        };
        let endpoint = format!("unix://{}", socket.display());
        let log = std::fs::File::create(dir.join("service.log")).unwrap();
        let child = cmd.stdout(Stdio::null()).stderr(log).spawn().unwrap();
        let service = Rootless {
            child,
            kind,
            user,
            dir,
            endpoint,
        };
        let t = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "rootless {kind:?} did not listen on {}: {}",
                socket.display(),
                std::fs::read_to_string(service.dir.join("service.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(service)
    }

    /// A command run as the user, with the environment of a login of its own in `dir`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        as_user(&self.user, &self.dir, program)
    }

    /// `engine ARGS` in `dir`, as the user, against this service.
    pub fn engine(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        self.command(super::engine_bin())
            .args(args)
            .current_dir(dir)
            .env("DOCKER_HOST", &self.endpoint)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .output()
            .unwrap()
    }

    /// `podman ARGS` (or `docker ARGS`) as the user, on this service.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = match self.kind {
            Kind::Podman => podman(&self.user, &self.dir),
            Kind::Docker => {
                let mut cmd = self.command("docker");
                cmd.env("DOCKER_HOST", &self.endpoint);
                cmd
            }
        };
        cmd.args(args).output().unwrap()
    }

    /// Whether the engine reports cgroup v1, where a rootless engine cannot limit containers.
    pub fn cgroup_v1(&self) -> bool {
        let (format, v1) = match self.kind {
            Kind::Podman => ("{{.Host.CgroupsVersion}}", "v1"),
            Kind::Docker => ("{{.CgroupVersion}}", "1"),
        };
        super::text(&self.cli(&["info", "--format", format]).stdout).trim() == v1
    }

    /// Gives `path` (and everything under it) to the user.
    pub fn give(&self, path: &Path) {
        chown_tree(path, &self.user);
    }
}

impl Drop for Rootless {
    fn drop(&mut self) {
        // A failing test's message says what the grid was; the service's own log says why.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("service.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- rootless {:?} service log (last 60 lines)\n{}",
                self.kind,
                lines[lines.len().saturating_sub(60)..].join("\n")
            );
        }
        match self.kind {
            // Containers' files belong to subordinate IDs: removed inside the namespace.
            Kind::Podman => {
                let _ = podman(&self.user, &self.dir)
                    .args(["unshare", "rm", "-rf"])
                    .arg(self.dir.join("storage"))
                    .arg(self.dir.join("runroot"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let _ = self.child.kill();
            }
            // rootlesskit passes SIGTERM on to dockerd, which stops containerd.
            Kind::Docker => {
                let _ = Command::new("kill")
                    .args(["-TERM", &self.child.id().to_string()])
                    .status();
                let t = Instant::now();
                while t.elapsed() < Duration::from_secs(15)
                    && matches!(self.child.try_wait(), Ok(None))
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        // Every process naming this folder: the service's second self, conmon, containerd.
        let _ = Command::new("pkill")
            .args(["-KILL", "-f"])
            .arg(&self.dir)
            .status();
        let pause = std::fs::read_to_string(self.dir.join("run/libpod/tmp/pause.pid"));
        if let Ok(pid) = pause.map(|p| p.trim().to_string()) {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The user to run as, or the first missing prerequisite, said so that it can be fixed.
fn prerequisites(kind: Kind) -> Result<User, String> {
    match kind {
        Kind::Podman if Command::new("podman").arg("--version").output().is_err() => {
            return Err("podman is missing: scripts/install-test-deps.sh installs it".into());
        }
        Kind::Docker
            if Command::new("rootlesskit")
                .arg("--version")
                .output()
                .is_err() =>
        {
            return Err(
                "rootlesskit is missing (Debian's rootlesskit): scripts/install-test-deps.sh installs it"
                    .into(),
            );
        }
        Kind::Docker if !Path::new(DOCKERD_ROOTLESS).is_file() => {
            return Err(format!(
                "{DOCKERD_ROOTLESS} is missing (Debian's docker.io ships it)"
            ));
        }
        // Its data folder holds files of subordinate IDs, which only root removes afterwards.
        Kind::Docker if !is_root() => {
            return Err(
                "the rootless Docker test runs as root (it switches to engine-rootless)".into(),
            );
        }
        _ => {}
    }
    let name = if is_root() {
        TEST_USER.to_string()
    } else {
        std::env::var("USER").map_err(|_| "USER is not set".to_string())?
    };
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id").args([flag, &name]).output().unwrap();
        if !out.status.success() {
            return Err(format!(
                "there is no user `{name}`: scripts/install-test-deps.sh creates it (useradd, with subordinate ID ranges)"
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
    };
    let (uid, gid) = (id("-u")?, id("-g")?);
    let mut subuid_start = 0;
    for file in ["/etc/subuid", "/etc/subgid"] {
        let start = subordinate_start(file, &name, uid).ok_or_else(|| {
            format!(
                "`{name}` has no subordinate range in {file}: as root, usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}"
            )
        })?;
        if file == "/etc/subuid" {
            subuid_start = start;
        }
    }
    for tool in ["/usr/bin/newuidmap", "/usr/bin/newgidmap"] {
        let setuid = std::fs::metadata(tool).is_ok_and(|m| m.mode() & 0o4000 != 0 && m.uid() == 0);
        if !setuid {
            return Err(format!(
                "{tool} is missing or not setuid root (Debian's uidmap package)"
            ));
        }
    }
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if max.trim().parse::<u64>().unwrap_or(0) == 0 {
        return Err("user namespaces are disabled (user.max_user_namespaces is 0)".into());
    }
    Ok(User {
        name,
        uid,
        gid,
        subuid_start,
    })
}

/// The start of the user's first range in /etc/subuid or /etc/subgid (`name:start:count`, or
/// the numeric ID in place of the name).
fn subordinate_start(file: &str, name: &str, id: u32) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let (who, start, count) = (parts.next()?, parts.next()?, parts.next()?);
        let count: u32 = count.parse().ok()?;
        ((who == name || who == id.to_string()) && count >= 65536)
            .then(|| start.parse().ok())
            .flatten()
    })
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program` as the user (set directly when root, so that a kill reaches it), in a clean
/// environment whose home, runtime folder and engine cache are under `dir`.
fn as_user(user: &User, dir: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    if is_root() {
        c.uid(user.uid).gid(user.gid);
    }
    c.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("USER", &user.name)
        .env("LOGNAME", &user.name)
        .env("HOME", dir.join("home"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env("ENGINE_CACHE_DIR", dir.join("cache"))
        // Podman's leftovers (imported tars, Buildah's cache mounts) stay in the folder.
        .env("TMPDIR", dir.join("tmp"))
        .current_dir(dir);
    c
}

/// Podman as the user, with the service's storage; native overlay (kernel 5.13 and later lets
/// a user namespace mount it), not the vfs driver Podman 4.3 falls back to, which copies
/// every layer whole.
fn podman(user: &User, dir: &Path) -> Command {
    let mut c = as_user(user, dir, "podman");
    c.arg("--root")
        .arg(dir.join("storage"))
        .arg("--runroot")
        .arg(dir.join("runroot"))
        .args(["--storage-driver", "overlay"]);
    c
}

fn chown_tree(path: &Path, user: &User) {
    if !is_root() {
        return;
    }
    let status = Command::new("chown")
        .args(["-R", &format!("{}:{}", user.uid, user.gid)])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "chown {}", path.display());
}
