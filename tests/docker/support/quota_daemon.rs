//! A second Docker daemon whose storage driver can limit a container's size: btrfs with quotas
//! enabled, on a loop-mounted image file in a temporary folder. The machine's daemon may use a
//! driver that cannot (fuse-overlayfs here), so `[container] disk` is tested against this one.
//! It needs root, a loop device, `mkfs.btrfs` (btrfs-progs, from scripts/install-test-deps.sh)
//! and `dockerd`. It runs in a network namespace of its own (`unshare --net`), with no bridge
//! (`--bridge none`: the suites it runs have no network): a second daemon in the host's network
//! namespace deletes the host's `docker0` at its start whenever its bridge is not that one,
//! which takes the machine's daemon's network away. Its socket is a file, reachable from the
//! host. Stopped and unmounted when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct QuotaDaemon {
    dir: tempfile::TempDir,
    daemon: Option<Child>,
    mounted: bool,
    /// `unix://<dir>/docker.sock`, for DOCKER_HOST.
    pub endpoint: String,
}

impl QuotaDaemon {
    /// `None` (skipped loudly, a failure under CI) when the machine cannot give one.
    pub fn start(test: &str) -> Option<QuotaDaemon> {
        let dir = tempfile::Builder::new()
            .prefix("qd")
            .tempdir_in("/tmp")
            .unwrap();
        let mut d = QuotaDaemon {
            endpoint: format!("unix://{}/docker.sock", dir.path().display()),
            dir,
            daemon: None,
            mounted: false,
        };
        match d.launch() {
            Ok(()) => Some(d),
            Err(why) => super::skip_or_fail(test, &format!("no btrfs Docker daemon: {why}")),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn launch(&mut self) -> Result<(), String> {
        let image = self.path("disk.img");
        let data = self.path("data");
        std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(1 << 30))
            .map_err(|e| e.to_string())?;
        run("mkfs.btrfs", &["-q", "-f", &image.display().to_string()])?;
        run(
            "mount",
            &[
                "-o",
                "loop",
                &image.display().to_string(),
                &data.display().to_string(),
            ],
        )?;
        self.mounted = true;
        run("btrfs", &["quota", "enable", &data.display().to_string()])?;
        std::fs::write(self.path("daemon.json"), "{}").map_err(|e| e.to_string())?;
        let log = std::fs::File::create(self.path("dockerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new("unshare")
            .args(["--net", "--", "dockerd"])
            .arg("--config-file")
            .arg(self.path("daemon.json"))
            .arg("--data-root")
            .arg(&data)
            .arg("--exec-root")
            .arg(self.path("exec"))
            .arg("--pidfile")
            .arg(self.path("docker.pid"))
            .args(["-H", &self.endpoint])
            .args([
                "--storage-driver",
                "btrfs",
                "--bridge",
                "none",
                "--iptables=false",
            ])
            .args(["--containerd-namespace", "engine-test-quota"])
            .args([
                "--containerd-plugins-namespace",
                "engine-test-quota-plugins",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("dockerd: {e}"))?;
        self.daemon = Some(child);
        let socket = self.path("docker.sock");
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if socket.exists() && std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(Child::try_wait) {
                return Err(format!("dockerd ended ({status}): {}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "dockerd did not answer in 30 s: {}",
            self.log_tail()
        ))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.path("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

impl Drop for QuotaDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.mounted {
            let data = self.path("data");
            let _ = Command::new("umount").arg(&data).status();
            if is_mounted(&data) {
                let _ = Command::new("umount").arg("-l").arg(&data).status();
            }
        }
    }
}

fn is_mounted(path: &Path) -> bool {
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(&path.display().to_string()))
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
