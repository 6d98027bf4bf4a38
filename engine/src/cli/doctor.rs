//! `engine doctor`: checks what a run needs, one line per check, and says what to fix.
//! Exit 0 when a run can go (warnings allowed), 3 when something it needs is missing.

use std::path::{Path, PathBuf};

use super::{exit, matrix_path, Cli};
use crate::docker::DockerClient;
use crate::runner_binary;
use crate::spec::matrix::{show_bytes, Base};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

/// Below this, the daemon's data folder is a problem: one distro's image and its provisioned
/// layer take a few hundred MiB to a few GiB.
const DAEMON_MIN_FREE: u64 = 2 << 30;
/// Below this, the cache folders (package caches, AUR builds, the runner) are a problem.
const CACHE_MIN_FREE: u64 = 512 << 20;
/// The oldest Docker API the engine is tested on (Docker Engine 20.10).
const MIN_API: (u32, u32) = (1, 41);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Note,
    Warn,
    Fail,
}

struct Check {
    level: Level,
    what: &'static str,
    detail: String,
    fix: Option<String>,
}

impl Check {
    fn new(level: Level, what: &'static str, detail: impl Into<String>) -> Check {
        Check {
            level,
            what,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

pub fn run(cli: &Cli, _args: &DoctorArgs) -> super::error::CliResult {
    let mut checks = Vec::new();
    let matrix = matrix_check(cli, &mut checks);
    checks.push(runner_check());
    super::selection::runtime(false)?.block_on(docker_checks(&mut checks));
    let cache_root = matrix
        .as_ref()
        .map(|m| m.caches.root.clone())
        .unwrap_or_else(|| PathBuf::from(".cache/engine"));
    checks.push(free_space(
        "cache space",
        &nearest_existing(&cache_root),
        CACHE_MIN_FREE,
    ));
    checks.push(tool_check(
        "debootstrap",
        "debootstrap",
        matrix.as_ref().is_some_and(|m| {
            m.distros
                .values()
                .any(|d| matches!(d.base, Base::Rootfs { .. }))
        }),
        "base_rootfs scripts such as docker/bootstrap/debian.sh",
        "apt-get install debootstrap",
    ));
    checks.push(tool_check(
        "shellcheck",
        "shellcheck",
        false,
        "the lint of suite scripts",
        "apt-get install shellcheck",
    ));
    print(&checks);
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    if failed == 0 {
        println!("a run can go");
        Ok(exit::OK)
    } else {
        println!(
            "{failed} problem{} to fix before a run",
            if failed == 1 { "" } else { "s" }
        );
        Ok(exit::INFRA)
    }
}

fn print(checks: &[Check]) {
    for c in checks {
        let tag = match c.level {
            Level::Ok => "ok  ",
            Level::Note => "note",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        println!("{tag}  {:<12} {}", c.what, c.detail);
        if let Some(fix) = &c.fix {
            println!("      {:<12} fix: {fix}", "");
        }
    }
}

/// The matrix, when there is one here: valid or not (a missing matrix is only a note: doctor
/// also checks a machine before any project is there).
fn matrix_check(cli: &Cli, checks: &mut Vec<Check>) -> Option<crate::spec::Matrix> {
    let path = matrix_path(cli);
    if !path.exists() {
        checks.push(Check::new(
            Level::Note,
            "matrix",
            format!("no {} here; checking the machine only", path.display()),
        ));
        return None;
    }
    let mut loaded = crate::spec::load(&path);
    let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
    match loaded.matrix.take() {
        Some(m) if errors == 0 => {
            checks.push(Check::new(
                Level::Ok,
                "matrix",
                format!(
                    "{} is valid: {} distros, {} suites",
                    path.display(),
                    m.distros.len(),
                    m.suites.len()
                ),
            ));
            Some(m)
        }
        _ => {
            checks.push(
                Check::new(
                    Level::Fail,
                    "matrix",
                    format!("{} has {errors} problem(s)", path.display()),
                )
                .fix(format!("engine validate -m {}", path.display())),
            );
            None
        }
    }
}

fn runner_check() -> Check {
    match runner_binary::locate() {
        Ok(r) if r.is_static => Check::new(Level::Ok, "runner", r.describe()),
        Ok(r) => Check::new(Level::Warn, "runner", r.describe()).fix(format!(
            "not static: containers with an older C library than this host, or none, cannot \
             run it; rebuild the engine with `rustup target add {}` done first, or unset \
             ENGINE_RUNNER",
            runner_binary::EMBEDDED_TARGET
        )),
        Err(e) => {
            let fix = match &e {
                runner_binary::RunnerError::OverrideMissing(_) => "unset ENGINE_RUNNER",
                _ => "set XDG_CACHE_HOME to a writable folder",
            };
            Check::new(Level::Fail, "runner", e.to_string()).fix(fix)
        }
    }
}

async fn docker_checks(checks: &mut Vec<Check>) {
    let client = match DockerClient::connect().await {
        Ok(c) => c,
        Err(crate::docker::DockerError::Endpoint(e)) => {
            let fix = miette::Diagnostic::help(&e).map(|h| h.to_string());
            let check = Check::new(Level::Fail, "docker", e.to_string());
            checks.push(match fix {
                Some(fix) => check.fix(fix),
                None => check,
            });
            return;
        }
        Err(e) => {
            let endpoint = match &e {
                crate::docker::DockerError::Unreachable { endpoint, .. }
                | crate::docker::DockerError::BadHost { endpoint, .. } => endpoint.clone(),
                _ => crate::docker::DEFAULT_ENDPOINT.to_string(),
            };
            checks.push(unreachable_check(&endpoint, &e));
            return;
        }
    };
    let facts = match client.daemon_facts().await {
        Ok(f) => f,
        Err(e) => {
            checks.push(Check::new(Level::Fail, "docker", e.to_string()));
            return;
        }
    };
    let level = if api_at_least(client.api_version(), MIN_API) {
        Level::Ok
    } else {
        Level::Warn
    };
    checks.push(Check::new(
        level,
        "docker",
        format!(
            "{}: {} {}{}, API {} (negotiated {}){}",
            client.endpoint(),
            facts.engine,
            facts.server_version,
            if facts.rootless { " (rootless)" } else { "" },
            facts.api_version,
            client.api_version(),
            facts
                .operating_system
                .as_ref()
                .map(|os| format!(", on {os}"))
                .unwrap_or_default()
        ),
    ));
    if !facts.can_limit_resources() {
        checks.push(
            Check::new(
                Level::Warn,
                "limits",
                "a rootless engine on cgroup v1 cannot limit containers: `[container]` memory, cpus and pids are not applied (timeouts and tmpfs sizes are)",
            )
            .fix("boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and delegate the controllers to the user, or use a rootful engine"),
        );
    }
    if let Some(socket) = unix_socket(client.endpoint()) {
        checks.push(socket_access(&socket));
    }
    checks.push(match client.locality().await {
        Ok(crate::docker::Locality::Here) => {
            Check::new(Level::Ok, "locality", "the engine runs on this machine: bind mounts work")
        }
        Ok(crate::docker::Locality::Elsewhere { daemon, here }) => Check::new(
            Level::Fail,
            "locality",
            format!("the engine runs on `{daemon}`, not on this machine (`{here}`): it cannot see the files the engine bind-mounts"),
        )
        .fix("run the engine on that machine, or set ENGINE_DOCKER_SHARES_FILES=1 if both see the same paths"),
        Err(e) => Check::new(Level::Warn, "locality", e.to_string()),
    });
    checks.push(builder_check(&client));
    checks.extend(podman_run_kills_check(&client));
    match facts.root_dir {
        // Only a local daemon's data folder is on this machine.
        Some(dir) if unix_socket(client.endpoint()).is_some() && Path::new(&dir).is_dir() => {
            checks.push(free_space("daemon space", Path::new(&dir), DAEMON_MIN_FREE));
        }
        Some(dir) => checks.push(Check::new(
            Level::Note,
            "daemon space",
            format!("{dir} is on the daemon's machine, not this one: not checked"),
        )),
        None => {}
    }
}

/// Podman before 4.6 kills a build's RUN step now and then; said here so that a build made
/// again in a log is no surprise.
fn podman_run_kills_check(client: &DockerClient) -> Option<Check> {
    let old = client.is_podman() && crate::docker::podman::kills_run_steps(client.server());
    old.then(|| {
        Check::new(
            Level::Note,
            "builder",
            format!(
                "{} kills a build's RUN step now and then (containers/podman#17918, fixed in \
                 4.6): the engine builds such an image again, up to {} attempts",
                client.server(),
                crate::docker::build::PODMAN_BUILD_ATTEMPTS
            ),
        )
        .fix("Podman 4.6 or later")
    })
}

/// Which builder builds the images, and what that means for Dockerfiles.
fn builder_check(client: &DockerClient) -> Check {
    use crate::docker::BuilderChoice;
    match client.builder_choice() {
        Err(e) => Check::new(Level::Fail, "builder", e).fix("unset DOCKER_BUILDKIT, or set 1 or 0"),
        Ok(BuilderChoice::BuildKit) if client.is_podman() => Check::new(
            Level::Fail,
            "builder",
            "DOCKER_BUILDKIT=1 requires BuildKit, and Podman builds with Buildah",
        )
        .fix("unset DOCKER_BUILDKIT"),
        // Checked on Podman 4.3: cache mounts work, heredocs do not.
        Ok(_) if client.is_podman() => Check::new(
            Level::Ok,
            "builder",
            "Buildah (Podman's builder): RUN --mount=type=cache works; heredocs (RUN <<EOF) need Podman 4.8 or later",
        ),
        Ok(BuilderChoice::Legacy) => Check::new(
            Level::Note,
            "builder",
            "legacy (DOCKER_BUILDKIT=0): Dockerfiles cannot use RUN --mount",
        ),
        Ok(choice) if !client.buildkit_reachable() => Check::new(
            if choice == BuilderChoice::BuildKit {
                Level::Fail
            } else {
                Level::Note
            },
            "builder",
            format!(
                "legacy: the engine asks for BuildKit over unix:// and tcp:// only, not {}",
                client.endpoint()
            ),
        ),
        Ok(_) if !api_at_least(client.api_version(), (1, 39)) => Check::new(
            Level::Note,
            "builder",
            "legacy: BuildKit needs API 1.39 (Docker 18.09) or later",
        ),
        Ok(_) => Check::new(Level::Ok, "builder", "BuildKit (the build API's version=2)"),
    }
}

/// The daemon cannot be reached: say which socket, and whether it exists and may be used.
fn unreachable_check(endpoint: &str, e: &crate::docker::DockerError) -> Check {
    let Some(socket) = unix_socket(endpoint) else {
        return Check::new(Level::Fail, "docker", format!("{e}"))
            .fix("start the daemon, or set DOCKER_HOST to one that runs");
    };
    if !socket.exists() {
        return Check::new(
            Level::Fail,
            "docker",
            format!(
                "cannot reach the Docker daemon: {} does not exist",
                socket.display()
            ),
        )
        .fix("start the daemon (`systemctl start docker`), or set DOCKER_HOST to its socket");
    }
    if !may_read_write(&socket) {
        return Check::new(
            Level::Fail,
            "docker",
            format!(
                "permission denied on {}: this user may not use the daemon",
                socket.display()
            ),
        )
        .fix(NO_ACCESS_FIX);
    }
    Check::new(
        Level::Fail,
        "docker",
        format!(
            "cannot reach the Docker daemon at {}: nothing answers on the socket",
            socket.display()
        ),
    )
    .fix("start the daemon (`systemctl start docker`), or set DOCKER_HOST to one that runs")
}

fn socket_access(socket: &Path) -> Check {
    if may_read_write(socket) {
        Check::new(
            Level::Ok,
            "socket",
            format!("{} is readable and writable by this user", socket.display()),
        )
    } else {
        Check::new(
            Level::Fail,
            "socket",
            format!("permission denied on {}", socket.display()),
        )
        .fix(NO_ACCESS_FIX)
    }
}

/// What to do when this user may not use the daemon's socket.
const NO_ACCESS_FIX: &str =
    "add the user to the `docker` group (then log in again), or run as root";

fn unix_socket(endpoint: &str) -> Option<PathBuf> {
    endpoint.strip_prefix("unix://").map(PathBuf::from)
}

/// Whether this user may use the socket: connecting is refused with "permission denied"
/// otherwise (any other outcome, even "connection refused", means access is granted).
fn may_read_write(path: &Path) -> bool {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::PermissionDenied,
    }
}

fn api_at_least(version: &str, min: (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    have >= min
}

/// Free space on the file system holding `path`.
fn free_space(what: &'static str, path: &Path, min: u64) -> Check {
    match free_bytes(path) {
        Some(free) if free >= min => Check::new(
            Level::Ok,
            what,
            format!("{} free on {}", show_bytes(free), path.display()),
        ),
        Some(free) => Check::new(
            Level::Fail,
            what,
            format!(
                "only {} free on {} (needs {})",
                show_bytes(free),
                path.display(),
                show_bytes(min)
            ),
        )
        .fix("free space: `engine clean --images`, `docker system prune`"),
        None => Check::new(
            Level::Warn,
            what,
            format!("cannot tell the free space on {}", path.display()),
        ),
    }
}

pub fn free_bytes(path: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// `path`, or its closest existing ancestor (the cache root may not exist yet).
pub fn nearest_existing(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    while !p.exists() {
        if !p.pop() {
            return PathBuf::from(".");
        }
    }
    p
}

/// A program on PATH: a warning when `needed`, else a note when missing.
fn tool_check(what: &'static str, program: &str, needed: bool, used_by: &str, fix: &str) -> Check {
    match find_on_path(program) {
        Some(p) => Check::new(Level::Ok, what, format!("{} (for {used_by})", p.display())),
        None => Check::new(
            if needed { Level::Warn } else { Level::Note },
            what,
            format!("not found on PATH (needed by {used_by})"),
        )
        .fix(fix),
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_as_numbers() {
        assert!(api_at_least("1.41", (1, 41)));
        assert!(api_at_least("1.50", (1, 41)));
        assert!(!api_at_least("1.40", (1, 41)));
        assert!(!api_at_least("1.9", (1, 41)));
        assert!(!api_at_least("garbage", (1, 41)));
    }

    #[test]
    fn the_nearest_existing_folder_is_found() {
        let t = tempfile::tempdir().unwrap();
        let deep = t.path().join("a/b/c");
        assert_eq!(nearest_existing(&deep), t.path());
        assert!(free_bytes(t.path()).is_some_and(|b| b > 0));
    }
}
