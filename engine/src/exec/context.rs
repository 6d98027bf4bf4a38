//! What every node of one run shares: the Docker client, the matrix, where files go, and the
//! names of the images each node makes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::docker::{labels, Bind, DockerClient};
use crate::events::{InfraKind, NodeResult};
use crate::plan::{CacheKeys, Node, NodeKind, Recipe};
use crate::spec::matrix::{Base, Distro, Phase};
use crate::spec::{Loaded, Matrix};

/// Where the runner binary is mounted in every container, and its I/O folder.
pub const RUNNER_IN_CONTAINER: &str = "/engine/bin/runner";
pub const IO_IN_CONTAINER: &str = "/engine/io";

/// Label keys the engine sets on images it makes, besides `engine.managed`/`engine.run`/`engine.node`.
pub const LABEL_CACHE_KEY: &str = "engine.cache-key";
pub const LABEL_DISTRO: &str = "engine.distro";
/// On images and provisioned images: what their cache key was made of (see `plan::recipe`), so
/// that a later run can say what changed.
pub const LABEL_RECIPE: &str = "engine.key-recipe";
/// On a provisioned image: what provisioning found (missing locales, the AUR helper), as JSON.
pub const LABEL_PROVISION_FACTS: &str = "engine.provision-facts";
/// On containers: the engine process that owns them (`engine clean` leaves live owners alone).
pub const LABEL_PID: &str = "engine.pid";

/// One runner container: `command` (provision or suite) of `node` on `distro`'s `image`, with its
/// spec file in the I/O folder `io`, the mounts of `phase`, the host variables `pass_env`, and
/// the distro's or suite's privileges and limits.
pub struct RunnerJob<'a> {
    pub distro: &'a str,
    pub node: &'a str,
    pub image: String,
    pub command: &'a str,
    pub io: &'a Path,
    pub phase: Phase,
    pub pass_env: &'a [String],
    pub limits: &'a crate::spec::matrix::Container,
}

/// The checked matrix a run works from: the model, its sources (for diagnostics pointing at
/// declarations) and the cache keys of the plan's nodes.
#[derive(Clone)]
pub struct RunInputs {
    pub loaded: Arc<Loaded>,
    pub matrix: Arc<Matrix>,
    pub keys: CacheKeys,
}

impl RunInputs {
    /// The model shared by the run's tasks, beside the sources it was loaded from (without a
    /// second copy of the model in `loaded`).
    pub fn new(mut loaded: Loaded, matrix: Matrix, keys: CacheKeys) -> RunInputs {
        loaded.matrix = None;
        RunInputs {
            loaded: Arc::new(loaded),
            matrix: Arc::new(matrix),
            keys,
        }
    }
}

/// One run's identity: its id and its folder (`.engine/runs/<id>/`).
#[derive(Debug, Clone)]
pub struct RunIds {
    pub run_id: String,
    pub run_dir: PathBuf,
}

/// One distro's chain once its base is there: the cache key of each node, what the keys are
/// made of, and the image each node makes.
#[derive(Debug, Clone)]
pub struct Chain {
    pub base_key: String,
    pub image_key: String,
    pub provision_key: String,
    pub image_recipe: Recipe,
    pub provision_recipe: Recipe,
    /// The base image: the declared reference, or the tag of an imported rootfs.
    pub base_ref: String,
    /// The base image's id, part of the image key.
    pub base_id: String,
    pub image_ref: String,
    pub provisioned_ref: String,
}

/// What `engine run --pull` and `--rebuild` ask for beyond the keys.
#[derive(Debug, Clone, Default)]
pub struct Force {
    /// Pull every base image, whatever its policy.
    pub pull: bool,
    /// Distros whose base, image and provision are made again (no layer cache either).
    pub rebuild: std::collections::BTreeSet<String>,
}

pub struct RunCtx {
    pub docker: DockerClient,
    pub matrix: Arc<Matrix>,
    /// Sources and origins, for diagnostics that point at declarations.
    pub loaded: Arc<Loaded>,
    pub run_id: String,
    /// `.engine/runs/<run-id>/`
    pub run_dir: PathBuf,
    pub runner_bin: PathBuf,
    pub keys: CacheKeys,
    /// Leave failed suite containers in place (`--keep-containers`).
    pub keep_failed: bool,
    pub force: Force,
    /// What may run on the host, and the host values evaluated for this run.
    pub host: super::host::HostExec,
    /// The daemon's storage driver can limit a container's size (`[container] disk`).
    pub disk_limits: bool,
    /// This project's id (the `engine.project` label).
    pub project: String,
    /// The id of each distro's base image, once known (see [`RunCtx::chain`]).
    base_ids: Mutex<HashMap<String, String>>,
    /// Serialises work on one cache key (distros sharing a base import it once).
    key_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Containers named so far per node (a retried suite gets `-2`, `-3`, ...).
    names: Mutex<HashMap<String, usize>>,
}

impl RunCtx {
    pub fn new(
        docker: DockerClient,
        inputs: RunInputs,
        ids: RunIds,
        runner_bin: PathBuf,
        keep_failed: bool,
    ) -> Self {
        let project = labels::project_id(&inputs.matrix.root);
        RunCtx {
            docker,
            matrix: inputs.matrix,
            loaded: inputs.loaded,
            run_id: ids.run_id,
            run_dir: ids.run_dir,
            runner_bin,
            keys: inputs.keys,
            keep_failed,
            force: Force::default(),
            host: Default::default(),
            disk_limits: false,
            project,
            base_ids: Mutex::new(HashMap::new()),
            key_locks: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_force(mut self, force: Force) -> Self {
        self.force = force;
        self
    }

    pub fn with_disk_limits(mut self, applied: bool) -> Self {
        self.disk_limits = applied;
        self
    }

    pub fn with_host(mut self, host: super::host::HostExec) -> Self {
        self.host = host;
        self
    }

    /// Whether `engine run --rebuild` names this distro.
    pub fn forced(&self, distro: &str) -> bool {
        self.force.rebuild.contains(distro)
    }

    /// The key and image reference of `distro`'s base. Every distro of the matrix has keys
    /// (computed before the run); `None` only for a distro the run was not given.
    pub fn base_of(&self, distro: &Distro) -> Option<(String, String)> {
        let key = self.keys.get(NodeKind::Base, &distro.name)?.to_string();
        Some((key.clone(), base_ref(distro, &key)))
    }

    /// Record the id of `distro`'s base image (the base node, after a pull or an import).
    pub fn note_base_id(&self, distro: &str, id: &str) {
        let mut ids = self.base_ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.insert(distro.to_string(), id.to_string());
    }

    /// The keys and image references of `distro`'s chain, with its base image's id among the
    /// image's parts (asked of the daemon when the base node of this run did not say it).
    /// The error is the node's result: no keys (an engine error), the daemon, or no base.
    pub async fn chain(&self, distro: &Distro) -> Result<Chain, NodeResult> {
        let Some((base_key, base_ref)) = self.base_of(distro) else {
            return Err(super::diagnostics::no_chain(&distro.name));
        };
        let known = {
            let ids = self.base_ids.lock().unwrap_or_else(|p| p.into_inner());
            ids.get(&distro.name).cloned()
        };
        let base_id = match known {
            Some(id) => id,
            None => match self.docker.image_identity(&base_ref).await {
                Ok(Some(found)) => {
                    self.note_base_id(&distro.name, &found.id);
                    found.id
                }
                Ok(None) => {
                    return Err(super::diagnostics::infra(
                        InfraKind::Base,
                        format!("the base image {base_ref} is not there"),
                    ))
                }
                Err(e) => {
                    return Err(super::diagnostics::infra(
                        InfraKind::Daemon,
                        format!("cannot inspect {base_ref}: {e}"),
                    ))
                }
            },
        };
        let Some(resolved) = self.keys.resolved(&distro.name, &base_id) else {
            return Err(super::diagnostics::no_chain(&distro.name));
        };
        Ok(Chain {
            image_ref: image_ref(&distro.name, &resolved.image_key),
            provisioned_ref: provisioned_ref(&distro.name, &resolved.provision_key),
            base_ref,
            base_id,
            base_key,
            image_key: resolved.image_key,
            provision_key: resolved.provision_key,
            image_recipe: resolved.image,
            provision_recipe: resolved.provision,
        })
    }

    /// A lock for one cache key.
    pub fn key_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.key_locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_string()).or_default().clone()
    }

    /// Labels for something a node makes.
    pub fn labels(&self, node: &str) -> HashMap<String, String> {
        let mut l = labels::for_node(&self.run_id, node);
        l.insert(labels::PROJECT.into(), self.project.clone());
        l.insert(LABEL_PID.into(), std::process::id().to_string());
        l
    }

    /// A readable container name, unique in this run: `engine-<run>-<node>`, so that `docker ps`
    /// tells what is what; a node's second container gets `-2`.
    pub fn container_name(&self, node: &str) -> String {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let n = names.entry(node.to_string()).or_insert(0);
        *n += 1;
        let base = container_name(&self.run_id, node);
        if *n == 1 {
            base
        } else {
            format!("{base}-{n}")
        }
    }

    pub fn log_path(&self, node: &str) -> PathBuf {
        crate::events::log_path(&self.run_dir, node)
    }

    /// The node's I/O folder on the host (mounted at /engine/io), created empty.
    pub fn io_dir(&self, node: &str) -> std::io::Result<PathBuf> {
        let dir = self.run_dir.join("io").join(Node::file_stem(node));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// The mounts of a provision or suite container of `distro`: the runner, the I/O folder, the
    /// workspace (read-only unless the matrix says otherwise) and the cache mounts (created on demand).
    pub fn binds(&self, distro: &str, io: &Path, phase: Phase) -> std::io::Result<Vec<Bind>> {
        let m = &self.matrix;
        let mut binds = vec![
            Bind {
                host: self.runner_bin.clone(),
                container: RUNNER_IN_CONTAINER.into(),
                read_only: true,
            },
            Bind {
                host: io.to_path_buf(),
                container: IO_IN_CONTAINER.into(),
                read_only: false,
            },
            Bind {
                host: m.workspace.source.clone(),
                container: m.workspace.target.clone(),
                read_only: !m.workspace.writable,
            },
        ];
        for mount in m.caches.mounts.iter().filter(|m| m.applies_to(phase)) {
            let host = mount.host_path(&m.caches.root, distro);
            // The error names the folder: "cannot prepare the cache mounts: <path>: <why>".
            let named = |e: std::io::Error, p: &Path| {
                std::io::Error::new(e.kind(), format!("{}: {e}", p.display()))
            };
            std::fs::create_dir_all(&host).map_err(|e| named(e, &host))?;
            self.mount_point_in_workspace(&mount.target)
                .map_err(|e| named(e, &m.workspace.source))?;
            binds.push(Bind {
                host,
                container: mount.target.clone(),
                read_only: mount.read_only,
            });
        }
        Ok(binds)
    }

    /// A cache mounted inside the workspace (the root matrix's `/workspace/target`) needs its
    /// mount point to exist in the workspace: Docker cannot create it in a read-only bind. So
    /// the empty folder is made on the host, in the workspace folder, when missing.
    fn mount_point_in_workspace(&self, target: &str) -> std::io::Result<()> {
        let ws = &self.matrix.workspace;
        let Some(rel) = target
            .strip_prefix(ws.target.trim_end_matches('/'))
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Ok(());
        };
        let rel = Path::new(rel);
        if rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            std::fs::create_dir_all(ws.source.join(rel))?;
        }
        Ok(())
    }

    /// A container that runs the runner for `job`, the values of its passed variables masked
    /// in `log` from now on.
    pub fn runner_container(
        &self,
        job: RunnerJob<'_>,
        log: &mut super::log::NodeLog,
    ) -> std::io::Result<crate::docker::ContainerSpec> {
        let RunnerJob {
            distro,
            node,
            image,
            command,
            io,
            phase,
            pass_env,
            limits,
        } = job;
        let binds = self.binds(distro, io, phase)?;
        let (env, secrets) = passed_env(pass_env);
        log.mask(&secrets);
        let mut spec = crate::docker::ContainerSpec {
            env: with_mask(env, &secrets),
            image,
            cmd: vec![
                RUNNER_IN_CONTAINER.into(),
                command.into(),
                "--spec".into(),
                format!("{IO_IN_CONTAINER}/{command}.json"),
                "--events".into(),
                format!("{IO_IN_CONTAINER}/events.jsonl"),
            ],
            entrypoint: Some(vec![]),
            workdir: Some(self.matrix.workspace.target.clone()),
            binds,
            labels: self.labels(node),
            name: Some(self.container_name(node)),
            init: true,
            ..Default::default()
        };
        apply_limits(&mut spec, limits);
        if self.disk_limits {
            spec.storage_bytes = limits.disk_bytes;
        }
        Ok(spec)
    }

    /// The host folders of the exclusive mounts a provision or suite node of `distro` holds,
    /// sorted: locks across processes are taken in this one order, so none waits in a circle.
    pub fn exclusive_folders(&self, distro: &str, phase: Phase) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self
            .matrix
            .caches
            .mounts
            .iter()
            .filter(|m| m.exclusive && m.applies_to(phase))
            .map(|m| m.host_path(&self.matrix.caches.root, distro))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Who holds a lock this run takes: for the next waiter's message.
    pub fn lock_holder(&self, node: &str) -> String {
        format!("run {} (pid {}), {node}", self.run_id, std::process::id())
    }

    /// Take the machine-wide lock of a cache key: one process makes what the key names, the
    /// others wait, then find it made.
    pub async fn key_host_lock(
        &self,
        key: &str,
        node: &str,
        log: &mut super::log::NodeLog,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<super::locks::HostLock, NodeResult> {
        let path = crate::files::machine_cache()
            .join("locks")
            .join(format!("{}.lock", short(key)));
        self.host_lock(&path, node, log, cancel, |by| {
            format!("waiting: {by} is making this image")
        })
        .await
    }

    /// Take the lock at `path` for `node`: while it waits, its log says who holds it (`said`
    /// words it); the run's cancellation ends the wait; a lock that cannot be taken is an I/O
    /// infrastructure error naming the file.
    pub async fn host_lock(
        &self,
        path: &Path,
        node: &str,
        log: &mut super::log::NodeLog,
        cancel: &tokio_util::sync::CancellationToken,
        said: impl Fn(&str) -> String,
    ) -> Result<super::locks::HostLock, NodeResult> {
        let holder = self.lock_holder(node);
        let taken = super::locks::acquire(path, &holder, |by| log.note(&said(by)));
        tokio::select! {
            t = taken => t.map_err(|e| super::diagnostics::infra(
                crate::events::InfraKind::Io,
                format!("cannot lock {}: {e}", path.display()),
            )),
            _ = cancel.cancelled() => Err(NodeResult::new(crate::events::Outcome::Cancelled)),
        }
    }

    /// Exclusive resources a provision or suite node of `distro` holds.
    pub fn exclusive(&self, distro: &str, phase: Phase) -> Vec<String> {
        self.matrix
            .caches
            .mounts
            .iter()
            .filter(|m| m.exclusive && m.applies_to(phase))
            .map(|m| m.resource(distro))
            .collect()
    }
}

/// `engine-<run>-<node>` with every character Docker does not allow in a name
/// (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`) replaced by `-`.
pub fn container_name(run_id: &str, node: &str) -> String {
    let raw = format!("engine-{run_id}-{node}");
    let mut name = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            c
        } else {
            '-'
        };
        // One `-` for a run of replaced characters.
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
    }
    name
}

/// Apply a distro's (or suite's) container settings to a container spec.
pub fn apply_limits(spec: &mut crate::docker::ContainerSpec, c: &crate::spec::matrix::Container) {
    use crate::spec::matrix::NetworkMode;
    spec.privileged = c.privileged;
    spec.cap_add = c
        .capabilities
        .iter()
        .map(|x| x.trim_start_matches("CAP_").to_string())
        .collect();
    spec.network_mode = Some(
        match c.network {
            NetworkMode::None => "none",
            NetworkMode::Bridge => "bridge",
            NetworkMode::Host => "host",
        }
        .to_string(),
    );
    spec.memory_bytes = Some(c.memory_bytes);
    spec.cpus = c.cpus;
    spec.pids_limit = Some(c.pids);
    spec.tmpfs = c.tmpfs.clone();
}

/// Host variables passed by name, and the values to mask.
pub fn passed_env(names: &[String]) -> (std::collections::BTreeMap<String, String>, Vec<String>) {
    let mut env = std::collections::BTreeMap::new();
    let mut secrets = Vec::new();
    for n in names {
        if let Ok(v) = std::env::var(n) {
            // Very short values would mask ordinary text everywhere: pass them, do not mask.
            if v.len() >= 4 {
                secrets.push(v.clone());
            }
            env.insert(n.clone(), v);
        }
    }
    (env, secrets)
}

/// The env of a container plus `ENGINE_MASK`, which tells the runner what to mask in the events
/// it writes (it removes the variable before running any step).
pub fn with_mask(
    mut env: std::collections::BTreeMap<String, String>,
    secrets: &[String],
) -> std::collections::BTreeMap<String, String> {
    if !secrets.is_empty() {
        env.insert(
            "ENGINE_MASK".into(),
            serde_json::to_string(secrets).unwrap_or_default(),
        );
    }
    env
}

/// Replace every secret value in `line` by ***.
pub fn mask(line: &str, secrets: &[String]) -> String {
    let mut out = line.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// Whether the daemon holds `tag` made from `key` (its cache-key label matches): the one test
/// of "reuse, do not rebuild", for `engine run` and `engine graph --status` alike.
pub async fn holds(
    docker: &DockerClient,
    tag: &str,
    key: &str,
) -> Result<bool, crate::docker::DockerError> {
    Ok(docker
        .image_labels(tag)
        .await?
        .is_some_and(|l| l.get(LABEL_CACHE_KEY).map(String::as_str) == Some(key)))
}

/// The base image of a distro: its declared reference, or the tag a rootfs import gets.
pub fn base_ref(distro: &Distro, key: &str) -> String {
    match &distro.base {
        Base::Image { reference, .. } => reference.clone(),
        Base::Rootfs { script, .. } => {
            let stem = script
                .file_stem()
                .map(|s| s.to_string_lossy().to_lowercase())
                .unwrap_or_else(|| "rootfs".into());
            let stem: String = stem
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("engine-base/{stem}:{}", short(key))
        }
    }
}

pub fn image_ref(distro: &str, key: &str) -> String {
    format!("engine-image/{distro}:{}", short(key))
}

pub fn provisioned_ref(distro: &str, key: &str) -> String {
    format!("engine-provisioned/{distro}:{}", short(key))
}

/// The first 16 hex digits of a key: enough to tell results apart in a tag.
pub fn short(key: &str) -> &str {
    &key[..key.len().min(16)]
}

#[cfg(test)]
mod tests {
    use super::container_name;

    #[test]
    fn container_names_are_readable_and_valid_for_docker() {
        assert_eq!(
            container_name("20261201-045000-ab12", "suite:arch:disable-in-german"),
            "engine-20261201-045000-ab12-suite-arch-disable-in-german"
        );
        let odd = container_name("r1", "suite:my distro:über/ü");
        assert_eq!(odd, "engine-r1-suite-my-distro-ber-");
        assert!(odd
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
    }
}
