//! The resolved matrix: defaults applied, paths made absolute, distros and suites loaded. This is
//! what the planner and the executor work from; it holds no reference to the files it came from
//! (see [`super::Origins`] for that), so two spellings of one matrix (TOML and Nickel) compare equal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use super::model::{
    AurPolicy, ContainerSection, Expect, LocalePolicy, NetworkMode, Phase, PullPolicy,
};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix {
    /// Folder of the matrix file; relative paths in it are relative to this.
    pub root: PathBuf,
    pub engine: EngineSettings,
    pub workspace: Workspace,
    pub caches: Caches,
    pub provision: Provision,
    pub distros: BTreeMap<String, Distro>,
    pub suites: BTreeMap<String, Suite>,
    /// Host variables passed to every container, by name.
    pub pass_env: Vec<String>,
    /// Variables of every container (distros and suites override them).
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineSettings {
    pub concurrency: Option<u32>,
    pub build_concurrency: u32,
    pub fail_fast: bool,
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Run folders kept under `.engine/runs/`.
    pub keep_runs: u32,
    /// Less free space than this where a run writes: a warning at its start.
    pub min_free_space: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workspace {
    pub source: PathBuf,
    pub target: String,
    pub writable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Caches {
    pub root: PathBuf,
    pub mounts: Vec<CacheMount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheMount {
    pub name: String,
    /// Template relative to the cache root; `{distro}` is expanded per distro.
    pub source: String,
    pub target: String,
    pub exclusive: bool,
    pub read_only: bool,
    /// The containers that get it.
    pub phases: Vec<Phase>,
}

impl CacheMount {
    pub fn applies_to(&self, phase: Phase) -> bool {
        self.phases.contains(&phase)
    }

    /// The host folder of this mount for one distro.
    pub fn host_path(&self, root: &std::path::Path, distro: &str) -> PathBuf {
        root.join(self.source.replace("{distro}", distro))
    }

    /// The name of the resource an exclusive mount stands for (one per expanded host folder).
    pub fn resource(&self, distro: &str) -> String {
        format!("mount:{}", self.source.replace("{distro}", distro))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provision {
    pub users: Vec<String>,
    pub steps: Vec<ProvisionStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProvisionStep {
    pub name: String,
    pub run: String,
    pub inputs: Vec<String>,
    pub environment: BTreeMap<String, String>,
    /// `None`: root.
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distro {
    pub name: String,
    pub base: Base,
    pub image: Image,
    pub locales: Vec<String>,
    pub on_missing_locale: LocalePolicy,
    pub aur_helper: AurHelper,
    pub container: Container,
    /// Variables of this distro's containers, over the matrix's.
    pub environment: BTreeMap<String, String>,
}

impl Matrix {
    /// The variables of `distro`'s containers: the matrix's, then the distro's over them.
    pub fn environment_of(&self, distro: &Distro) -> BTreeMap<String, String> {
        let mut env = self.environment.clone();
        env.extend(distro.environment.clone());
        env
    }
}

/// What a container may do and take.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    pub privileged: bool,
    pub capabilities: Vec<String>,
    pub network: NetworkMode,
    pub memory_bytes: i64,
    pub cpus: Option<f64>,
    pub pids: i64,
    /// Writable-layer size limit (where the storage driver supports it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<i64>,
    /// tmpfs mounts: mount point -> size in bytes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tmpfs: BTreeMap<String, i64>,
}

/// Defaults that keep one runaway container from starving the others on a small machine.
pub const DEFAULT_MEMORY: &str = "4g";
pub const DEFAULT_PIDS: i64 = 4096;

impl Container {
    /// `over` applied on top of `self` (a suite's section over its distro's).
    pub fn with(&self, over: Option<&ContainerSection>) -> Container {
        let Some(o) = over else { return self.clone() };
        Container {
            privileged: o.privileged.unwrap_or(self.privileged),
            capabilities: o
                .capabilities
                .clone()
                .unwrap_or_else(|| self.capabilities.clone()),
            network: o.network.unwrap_or(self.network),
            memory_bytes: o
                .memory
                .as_deref()
                .and_then(|m| parse_bytes(m).ok())
                .unwrap_or(self.memory_bytes),
            cpus: o.cpus.or(self.cpus),
            pids: o.pids.map(i64::from).unwrap_or(self.pids),
            disk_bytes: o
                .disk
                .as_deref()
                .and_then(|d| parse_bytes(d).ok())
                .or(self.disk_bytes),
            tmpfs: {
                let mut t = self.tmpfs.clone();
                for (path, size) in o.tmpfs.iter().flatten() {
                    if let Ok(n) = parse_bytes(size) {
                        t.insert(path.clone(), n);
                    }
                }
                t
            },
        }
    }

    /// The grants worth telling at the start of a run (nothing for the defaults).
    pub fn grants(&self) -> Vec<String> {
        let mut g = Vec::new();
        if self.privileged {
            g.push("privileged".to_string());
        }
        if !self.capabilities.is_empty() {
            g.push(format!("capabilities {}", self.capabilities.join(",")));
        }
        if self.network != NetworkMode::Bridge {
            g.push(format!(
                "network {}",
                match self.network {
                    NetworkMode::None => "none",
                    NetworkMode::Bridge => "bridge",
                    NetworkMode::Host => "host",
                }
            ));
        }
        g
    }
}

/// "512m", "2g", "1024k", "2048" (bytes) -> bytes.
pub fn parse_bytes(text: &str) -> Result<i64, String> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a size (write e.g. \"512m\" or \"2g\")"))?;
    if n <= 0.0 {
        return Err(format!("`{text}` must be positive"));
    }
    Ok((n * mult as f64) as i64)
}

/// Bytes for people: `1.5 GiB`, `20 MiB`, `256 KiB`.
pub fn show_bytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // one decimal shown
    let gib = bytes as f64 / (1u64 << 30) as f64;
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Base {
    Image {
        reference: String,
        pull: PullPolicy,
    },
    Rootfs {
        script: PathBuf,
        args: Vec<String>,
        /// The files its `inputs` globs matched, by their name as the globs write them
        /// (`../docker/helpers/a.sh`): part of the base's key.
        inputs: BTreeMap<String, PathBuf>,
        /// The script runs on the host for at most this long.
        #[serde(with = "secs")]
        timeout: Duration,
        /// Host variables given to the script beyond the documented few.
        pass_env: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image {
    pub dockerfile: PathBuf,
    pub context: PathBuf,
    pub build_args: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AurHelper {
    pub policy: AurPolicy,
    pub helpers: Vec<String>,
    pub package: Option<String>,
    pub source: Option<String>,
    /// Where the package is cloned and built (absolute, in the container).
    pub build_dir: String,
}

/// Where the AUR helper's package is built unless a distro says otherwise: the seed's layout.
pub const DEFAULT_AUR_BUILD_DIR: &str = "/home/builder/build";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuiteFormat {
    /// `task.toml`
    Native,
    /// spread's `task.yaml` (the seed's format)
    Spread,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suite {
    /// `NAME`, or `NAME:VARIANT` for one variant of a suite with variants.
    pub name: String,
    /// The variant this suite is (`de` of `disable-partial:de`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub dir: PathBuf,
    pub format: SuiteFormat,
    pub summary: Option<String>,
    pub details: Option<String>,
    /// None: every distro.
    pub distros: Option<Vec<String>>,
    /// The key that chose `distros` (`distros`, `distro-check`, `systems`), for "not in ..." reasons.
    pub distros_key: String,
    /// Why the suite applies to no distro at all (spread's `backends` without `docker`).
    pub not_applicable: Option<String>,
    /// Higher first when several suites are ready.
    pub priority: i64,
    /// Only selected when a pattern names it exactly.
    pub manual: bool,
    pub requires_locales: Vec<String>,
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// A "running late" note after this long (spread's `warn-timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn_timeout: Option<Duration>,
    pub retries: u32,
    /// `samples`: the suite runs this many times in a row, each in a fresh container with its
    /// number in `ENGINE_SAMPLE` (and `SPREAD_SAMPLE` in a spread task); every one must pass.
    #[serde(skip_serializing_if = "is_one")]
    pub samples: u32,
    pub expect: Expect,
    pub environment: BTreeMap<String, String>,
    /// spread's tasks: `environment`'s names in the order written, exported in that order by
    /// the shell (`export K="V"`), so values may use earlier ones and `$SPREAD_PATH`. Empty
    /// for task.toml, whose values are passed as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environment_order: Vec<String>,
    pub prepare: Option<String>,
    pub execute: String,
    pub restore: Option<String>,
    /// Run after a failed prepare or execute.
    pub debug: Option<String>,
    /// Checked in the container before prepare; the first that holds skips the suite.
    pub skip: Vec<super::model::SkipRule>,
    /// Paths (relative to the suite's working directory, or absolute) copied out after the
    /// run into the run's `artifacts/` folder, also after a failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
    pub user: Option<String>,
    pub pass_env: Vec<String>,
    /// Overrides of its distro's container settings.
    pub container: Option<ContainerSection>,
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// The suite folder a suite comes from: `x` for `x` and for its variant `x:de`.
pub fn family(name: &str) -> &str {
    name.split_once(':').map_or(name, |(f, _)| f)
}

impl Suite {
    /// The suite folder this suite (or variant) comes from.
    pub fn family(&self) -> &str {
        family(&self.name)
    }

    pub fn runs_on(&self, distro: &str) -> bool {
        self.not_applicable.is_none()
            && self
                .distros
                .as_ref()
                .is_none_or(|ds| ds.iter().any(|d| d.eq_ignore_ascii_case(distro)))
    }

    /// Why the suite does not run on `distro` (`None`: it does).
    pub fn why_not_on(&self, distro: &str) -> Option<String> {
        if let Some(why) = &self.not_applicable {
            return Some(why.clone());
        }
        (!self.runs_on(distro)).then(|| format!("not in the suite's `{}` list", self.distros_key))
    }
}

mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}
