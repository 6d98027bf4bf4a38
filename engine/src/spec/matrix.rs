//! The resolved matrix: defaults applied, paths made absolute, distros and suites loaded. This is
//! what the planner and the executor work from; it holds no reference to the files it came from
//! (see [`super::Origins`] for that), so two spellings of one matrix (TOML and Nickel) compare equal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use super::model::{AurPolicy, Expect, LocalePolicy, Phase, PullPolicy};

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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineSettings {
    pub concurrency: Option<u32>,
    pub build_concurrency: u32,
    pub fail_fast: bool,
    #[serde(with = "secs")]
    pub timeout: Duration,
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distro {
    pub name: String,
    pub base: Base,
    pub image: Image,
    pub locales: Vec<String>,
    pub on_missing_locale: LocalePolicy,
    pub aur_helper: AurHelper,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Base {
    Image { reference: String, pull: PullPolicy },
    Rootfs { script: PathBuf, args: Vec<String> },
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuiteFormat {
    /// `task.toml`
    Native,
    /// The seed's `task.yaml`
    Legacy,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suite {
    pub name: String,
    pub dir: PathBuf,
    pub format: SuiteFormat,
    pub summary: Option<String>,
    /// None: every distro.
    pub distros: Option<Vec<String>>,
    pub requires_locales: Vec<String>,
    #[serde(with = "secs")]
    pub timeout: Duration,
    pub retries: u32,
    pub expect: Expect,
    pub environment: BTreeMap<String, String>,
    pub prepare: Option<String>,
    pub execute: String,
    pub restore: Option<String>,
}

impl Suite {
    pub fn runs_on(&self, distro: &str) -> bool {
        self.distros
            .as_ref()
            .is_none_or(|ds| ds.iter().any(|d| d.eq_ignore_ascii_case(distro)))
    }
}

mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}
