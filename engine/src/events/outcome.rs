//! What happened to a node.

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// The verdict of one node. Product failures (`Failed`, `TimedOut`) and infrastructure failures
/// (`Infra`, `DependencyFailed`) are kept apart everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Done: a suite passed, or an image/provision node did its work.
    Passed,
    /// An image or provision node whose earlier result was reused.
    Cached,
    /// The suite failed (or, under `expect = "fail"`, passed).
    Failed { reason: String },
    /// The suite failed, then passed on a retry.
    Flaky { attempts: u32 },
    /// The suite ran out of time.
    TimedOut { after_secs: u64 },
    /// A known failure (`expect = "xfail"`): reported, not counted.
    Xfail,
    /// Not run, by policy (e.g. a missing locale under `on_missing_locale = "skip"`).
    Skipped { reason: String },
    /// The infrastructure failed: the daemon, an image build, an unmet expectation.
    Infra { reason: String, kind: InfraKind },
    /// Not run because a node it depends on did not succeed.
    DependencyFailed { node: String },
    /// Stopped or never started because the run was interrupted or failed fast.
    Cancelled,
}

/// Which part of the infrastructure failed: tools act on it (retry a daemon hiccup, not a broken
/// Dockerfile) without parsing the reason. In the JSON report, JSON Lines and JUnit (`type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InfraKind {
    /// The Docker daemon: unreachable, or an API call failed.
    Daemon,
    /// Pulling a base image.
    Pull,
    /// Making a base image from a rootfs script.
    Base,
    /// Building a distro's image.
    ImageBuild,
    /// Provisioning: a step failed, or the runner could not finish.
    Provision,
    /// A declared locale is missing under `fail`, or could not be generated.
    Locale,
    /// An AUR helper is missing under `require`, or could not be installed.
    AurHelper,
    /// The container hit a resource limit (memory, disk).
    ResourceLimit,
    /// The container was killed or removed from outside the engine.
    Killed,
    /// The runner in the container reported an error of its own.
    Runner,
    /// The engine could not read or write its files on the host.
    Io,
    /// A command the matrix runs on the host (a `$(HOST: ...)` value) failed or was refused.
    Host,
    /// The engine itself (a bug: please report it).
    Engine,
    /// A shard of a fan-out sent no report (`engine report merge`): its job failed as a whole.
    Shard,
}

impl InfraKind {
    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            InfraKind::Daemon => "daemon",
            InfraKind::Pull => "pull",
            InfraKind::Base => "base",
            InfraKind::ImageBuild => "image_build",
            InfraKind::Provision => "provision",
            InfraKind::Locale => "locale",
            InfraKind::AurHelper => "aur_helper",
            InfraKind::ResourceLimit => "resource_limit",
            InfraKind::Killed => "killed",
            InfraKind::Runner => "runner",
            InfraKind::Host => "host",
            InfraKind::Io => "io",
            InfraKind::Engine => "engine",
            InfraKind::Shard => "shard",
        }
    }
}

impl Outcome {
    /// Whether dependants may run.
    pub fn unblocks(&self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Cached)
    }

    pub fn is_infra(&self) -> bool {
        matches!(
            self,
            Outcome::Infra { .. } | Outcome::DependencyFailed { .. }
        )
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. } | Outcome::TimedOut { .. })
    }

    /// One word for tables and logs.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Cached => "cached",
            Outcome::Failed { .. } => "failed",
            Outcome::Flaky { .. } => "flaky",
            Outcome::TimedOut { .. } => "timed out",
            Outcome::Xfail => "xfail",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Infra { .. } => "infra error",
            Outcome::DependencyFailed { .. } => "not run",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// For an infrastructure error: which part failed.
    pub fn infra_kind(&self) -> Option<InfraKind> {
        match self {
            Outcome::Infra { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The explanation, when there is one.
    pub fn reason(&self) -> Option<String> {
        match self {
            Outcome::Failed { reason }
            | Outcome::Skipped { reason }
            | Outcome::Infra { reason, .. } => Some(reason.clone()),
            Outcome::Flaky { attempts } => Some(format!("passed on attempt {attempts}")),
            Outcome::TimedOut { after_secs } => Some(format!("timed out after {after_secs}s")),
            Outcome::DependencyFailed { node } => Some(format!("{node} did not succeed")),
            _ => None,
        }
    }
}

/// The result of one node, with its timing.
#[derive(Debug, Clone, Serialize)]
pub struct NodeResult {
    #[serde(flatten)]
    pub outcome: Outcome,
    /// When the node started running (None: never started).
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub started: Option<SystemTime>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub finished: Option<SystemTime>,
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
    /// Attempts made (suites with retries).
    pub attempts: u32,
    /// A rendered diagnostic explaining an infrastructure failure, pointing at the declaration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostic: Option<String>,
    /// Last lines of output, for failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tail: Vec<String>,
    /// Why an image or provision was made again: the parts of its key that changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<String>,
    /// The cache key the node worked with: for images and provisions, the plan's key with the
    /// base image's id resolved (what their tags carry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Where the suite's artifacts were copied, relative to the run's folder
    /// (`artifacts/suite_arch_x`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<String>,
    /// A failed suite's container, kept as this image (`engine run --keep-containers`):
    /// `engine shell DISTRO SUITE --kept RUN` opens a shell in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

impl NodeResult {
    pub fn new(outcome: Outcome) -> Self {
        NodeResult {
            outcome,
            started: None,
            finished: None,
            duration: Duration::ZERO,
            attempts: 0,
            diagnostic: None,
            tail: Vec::new(),
            why: Vec::new(),
            key: None,
            artifacts: None,
            kept: None,
        }
    }

    pub fn with_key(mut self, key: String) -> Self {
        self.key = Some(key);
        self
    }

    pub fn with_why(mut self, why: Vec<String>) -> Self {
        self.why = why;
        self
    }

    pub fn with_diagnostic(mut self, d: Option<String>) -> Self {
        self.diagnostic = d;
        self
    }

    pub fn with_tail(mut self, tail: Vec<String>) -> Self {
        self.tail = tail;
        self
    }
}

mod millis {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

mod opt_time {
    use std::time::SystemTime;
    pub fn serialize<S: serde::Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => {
                let ms = t
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                s.serialize_u64(ms)
            }
            None => s.serialize_none(),
        }
    }
}
