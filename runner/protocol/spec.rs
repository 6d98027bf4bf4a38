//! What the engine asks the runner to do, as JSON files in the container's I/O folder.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `runner provision --spec FILE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionSpec {
    pub v: u32,
    pub distro: String,
    #[serde(default)]
    pub users: Vec<String>,
    pub locales: LocaleSpec,
    pub aur_helper: AurSpec,
    #[serde(default)]
    pub steps: Vec<StepSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocaleSpec {
    pub declared: Vec<String>,
    pub on_missing: LocalePolicy,
}

/// What a missing declared locale means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum LocalePolicy {
    /// Suites needing the locale are infrastructure errors, pointing at the declaration.
    Fail,
    /// The runner enables and generates it (locale-gen) while provisioning.
    Generate,
    /// Suites needing it are skipped, with the reason.
    Skip,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AurSpec {
    pub policy: AurPolicy,
    #[serde(default)]
    pub helpers: Vec<String>,
    pub package: Option<String>,
    pub source: Option<String>,
    #[serde(default = "default_build_dir")]
    pub build_dir: String,
    #[serde(default = "default_build_user")]
    pub build_user: String,
}

fn default_build_dir() -> String {
    "/home/builder/build".into()
}

fn default_build_user() -> String {
    "builder".into()
}

/// AUR helper policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AurPolicy {
    /// A helper must be preinstalled; none is an infrastructure error.
    Require,
    /// Use a preinstalled helper, else build `package` from `source`.
    DetectOrInstall,
    /// Always build `package` from `source` (clone, or pull when the cache already holds it).
    Install,
    /// No helper is needed.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSpec {
    pub name: String,
    pub run: String,
    /// Run as this user; `None`: root.
    #[serde(default)]
    pub user: Option<String>,
    pub workdir: Option<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

/// `runner suite --spec FILE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteSpec {
    pub v: u32,
    pub name: String,
    pub distro: String,
    pub workdir: String,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Variables exported in this order by the shell before every step (`export K="V"`, as
    /// spread does), so that a value may use `$SPREAD_PATH` or an earlier variable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<(String, String)>,
    pub timeout_secs: u64,
    /// After this long (prepare + execute), a "running late" line, once.
    #[serde(default)]
    pub warn_after_secs: Option<u64>,
    pub prepare: Option<String>,
    pub execute: String,
    pub restore: Option<String>,
    /// Run as this user instead of root.
    pub user: Option<String>,
    /// Run after a failed prepare or execute (before restore), its output with the failure.
    #[serde(default)]
    pub debug: Option<String>,
    /// spread's helper commands (`MATCH`, `NOMATCH`, `REBOOT`) as shell functions in every step
    /// (through `BASH_ENV`), for spread's task files.
    #[serde(default)]
    pub spread_helpers: bool,
    /// Conditions evaluated before prepare (as the steps run); the first that holds skips the
    /// suite with its reason.
    #[serde(default)]
    pub skip: Vec<SkipIf>,
    /// A prepare or execute exiting with 77 skips the suite (native suites; spread's have no
    /// such convention).
    #[serde(default)]
    pub skip_exit: bool,
    /// Paths (relative to `workdir`, or absolute) copied after execute and debug, before
    /// restore, into `artifacts_to`, also after a failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts_to: Option<String>,
    /// Where cache folders are mounted: the suite's user must be able to write them (checked,
    /// and given to the user when root owns them, before anything runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_mounts: Vec<String>,
}

/// One skip condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkipIf {
    pub reason: String,
    /// A shell condition (`test "$(uname -m)" = aarch64`).
    pub condition: String,
}
