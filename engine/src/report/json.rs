//! The JSON report of a run (`--report PATH`, and always `.engine/runs/<id>/report.json`).
//!
//! The report is typed here, apart from the engine's internal result types, because it is a
//! contract with tools: its JSON Schema (`schema/report.schema.json`, `engine schema`) is
//! generated from these types, and a test fails when the committed file drifts from them.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::events::RunResult;
use crate::events::{InfraKind, NodeResult, Outcome};
use crate::plan::{Node, NodeKind, Skipped};

/// The report of one `engine run`: every node of the plan with its verdict, and the pairs that
/// were not applicable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "engine run report")]
pub struct Report {
    /// Version of this format; it changes when a field changes meaning or goes away.
    pub version: u32,
    /// The run's id, also the name of its folder `.engine/runs/<run_id>/`.
    pub run_id: String,
    /// The exit code of `engine run`: 0 all passed, 1 a suite failed, 3 infrastructure failed,
    /// 130 interrupted.
    pub exit_code: i32,
    /// The run was stopped (Ctrl-C, SIGTERM) before every node finished: the report is partial.
    pub interrupted: bool,
    /// Every node of the plan, in plan order (per distro: base, image, provision, suites).
    pub nodes: Vec<NodeReport>,
    /// Distro x suite pairs that do not apply (the suite's `distros`, a locale the distro does
    /// not declare, ...): never scheduled.
    pub skipped: Vec<NotApplicable>,
    /// The plan the run was part of: what `engine report merge` checks the shards of one
    /// fan-out against (absent in reports of older engines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanInfo>,
}

/// The selection a run ran (all of it, or one shard of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlanInfo {
    /// A hash of the selection before sharding (its node ids and cache keys): equal in every
    /// shard of one fan-out, different for another matrix or selection.
    pub hash: String,
    /// `K/N` when the run was one shard of N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Every suite node of the selection before sharding: the cells of the whole grid.
    pub suites: Vec<String>,
    /// The pairs of the selection that do not apply, in every shard (a shard's own `skipped`
    /// holds only those of its first shard's distros).
    #[serde(default)]
    pub not_applicable: Vec<NotApplicable>,
}

impl PlanInfo {
    /// The selection `selected` (before sharding), run whole or as `shard`.
    pub fn of(selected: &crate::plan::Plan, shard: Option<String>) -> PlanInfo {
        let mut nodes: Vec<(&str, &str)> = selected
            .graph
            .node_weights()
            .map(|n| (n.id.as_str(), n.cache_key.as_deref().unwrap_or("")))
            .collect();
        nodes.sort_unstable();
        let mut hasher = blake3::Hasher::new();
        for (id, key) in &nodes {
            hasher.update(id.as_bytes());
            hasher.update(b"=");
            hasher.update(key.as_bytes());
            hasher.update(b"\n");
        }
        PlanInfo {
            hash: hasher.finalize().to_hex()[..16].to_string(),
            shard,
            suites: selected
                .suite_nodes()
                .map(|ix| selected.graph[ix].id.clone())
                .collect(),
            not_applicable: selected.skipped.iter().map(NotApplicable::from).collect(),
        }
    }
}

/// The suites a report says did not pass: failed, timed out, hit an infrastructure error, or
/// never ran because of one (a failed dependency, a cancellation). What `--rerun-failed` runs
/// again. Read leniently (only `nodes[].id`, `kind` and `status`), so that a report of an older
/// or newer engine, or a merged one, serves as well.
pub fn failed_suites(text: &str) -> Result<std::collections::BTreeSet<String>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let nodes = value["nodes"]
        .as_array()
        .ok_or_else(|| "it has no `nodes` list: is it an engine report?".to_string())?;
    let again = [
        "failed",
        "timed_out",
        "infra",
        "dependency_failed",
        "cancelled",
    ];
    Ok(nodes
        .iter()
        .filter(|n| n["kind"] == "suite")
        .filter(|n| n["status"].as_str().is_some_and(|s| again.contains(&s)))
        .filter_map(|n| n["id"].as_str().map(str::to_string))
        .collect())
}

/// One node of the plan and what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeReport {
    /// Stable across runs: `base:arch`, `image:arch`, `provision:arch`, `suite:arch:NAME`.
    pub id: String,
    /// What the node does.
    pub kind: Kind,
    /// The distro the node belongs to.
    pub distro: String,
    /// The suite, for suite nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Content hash of the node's inputs (base, image and provision nodes): equal keys mean the
    /// earlier result was reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
    /// The verdict.
    pub status: Status,
    /// Why, in one line, when the verdict has a reason (failed, skipped, infra, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `infra`: which part of the infrastructure failed (`daemon`, `pull`, `base`,
    /// `image_build`, `provision`, `locale`, `aur_helper`, `resource_limit`, `killed`, `runner`,
    /// `io`, `host`, `engine`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra_kind: Option<InfraKind>,
    /// For `timed_out`: the suite's timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_secs: Option<u64>,
    /// For `dependency_failed`: the id of the node that did not succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency: Option<String>,
    /// Attempts made (more than 1 for suites with retries).
    pub attempts: u32,
    /// When the node started, in milliseconds since the Unix epoch (absent: never started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    /// When the node finished, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<u64>,
    /// How long the node ran, in milliseconds.
    pub duration_ms: u64,
    /// For infrastructure errors: a rendered diagnostic pointing at the declaration at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostic: Option<String>,
    /// The last lines of output, for failures and errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tail: Vec<String>,
    /// For an image or provision made again (or a base that moved): why, one phrase per part
    /// of its cache key that changed ("Dockerfile changed", "input src/main.rs changed").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<String>,
    /// Where the suite's artifacts were copied, relative to the run's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<String>,
    /// A failed suite's container, kept as this image (`engine run --keep-containers`);
    /// `engine shell DISTRO SUITE --kept RUN` opens a shell in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    /// The node's full log on the machine that ran it.
    pub log: String,
}

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Make the base image present (pull, or import a rootfs).
    Base,
    /// Build the distro's image on the base.
    Image,
    /// Provision the image (users, locales, AUR helper, steps) and commit it.
    Provision,
    /// Run one suite in a fresh container.
    Suite,
}

/// A node's verdict. Product failures (`failed`, `timed_out`) and infrastructure failures
/// (`infra`, `dependency_failed`) are distinct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The suite passed, or the image/provision node did its work.
    Passed,
    /// An image or provision node whose earlier result was reused.
    Cached,
    /// The suite failed.
    Failed,
    /// The suite failed, then passed on a retry.
    Flaky,
    /// The suite ran out of time.
    TimedOut,
    /// A known failure (`expect = "xfail"`).
    Xfail,
    /// Not run, by policy (e.g. a missing locale under `on_missing_locale = "skip"`).
    Skipped,
    /// The infrastructure failed: the daemon, an image build, an unmet expectation.
    Infra,
    /// Not run because a node it depends on did not succeed.
    DependencyFailed,
    /// Stopped or never started: the run was interrupted or failed fast.
    Cancelled,
}

/// A distro x suite pair that does not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NotApplicable {
    /// The distro.
    pub distro: String,
    /// The suite.
    pub suite: String,
    /// Why the pair does not apply.
    pub reason: String,
}

impl From<NodeKind> for Kind {
    fn from(k: NodeKind) -> Self {
        match k {
            NodeKind::Base => Kind::Base,
            NodeKind::Image => Kind::Image,
            NodeKind::Provision => Kind::Provision,
            NodeKind::Suite => Kind::Suite,
        }
    }
}

impl From<&Outcome> for Status {
    fn from(o: &Outcome) -> Self {
        match o {
            Outcome::Passed => Status::Passed,
            Outcome::Cached => Status::Cached,
            Outcome::Failed { .. } => Status::Failed,
            Outcome::Flaky { .. } => Status::Flaky,
            Outcome::TimedOut { .. } => Status::TimedOut,
            Outcome::Xfail => Status::Xfail,
            Outcome::Skipped { .. } => Status::Skipped,
            Outcome::Infra { .. } => Status::Infra,
            Outcome::DependencyFailed { .. } => Status::DependencyFailed,
            Outcome::Cancelled => Status::Cancelled,
        }
    }
}

fn unix_ms(t: Option<std::time::SystemTime>) -> Option<u64> {
    t.map(|t| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    })
}

impl NodeReport {
    pub fn new(node: &Node, result: &NodeResult, log: String) -> Self {
        NodeReport {
            id: node.id.clone(),
            kind: node.kind.into(),
            distro: node.distro.clone(),
            suite: node.suite.clone(),
            cache_key: result.key.clone().or_else(|| node.cache_key.clone()),
            status: (&result.outcome).into(),
            reason: result.outcome.reason(),
            infra_kind: result.outcome.infra_kind(),
            after_secs: match result.outcome {
                Outcome::TimedOut { after_secs } => Some(after_secs),
                _ => None,
            },
            dependency: match &result.outcome {
                Outcome::DependencyFailed { node } => Some(node.clone()),
                _ => None,
            },
            attempts: result.attempts,
            started: unix_ms(result.started),
            finished: unix_ms(result.finished),
            duration_ms: result.duration.as_millis() as u64,
            diagnostic: result.diagnostic.clone(),
            tail: result.tail.clone(),
            why: result.why.clone(),
            artifacts: result.artifacts.clone(),
            kept: result.kept.clone(),
            log,
        }
    }
}

impl From<&Skipped> for NotApplicable {
    fn from(s: &Skipped) -> Self {
        NotApplicable {
            distro: s.distro.clone(),
            suite: s.suite.clone(),
            reason: s.reason.clone(),
        }
    }
}

/// Where the report's schema is committed, under `schema/`.
pub const SCHEMA_FILE: &str = "report.schema.json";

/// The JSON Schema of [`Report`], as committed in `schema/`.
pub fn schema() -> serde_json::Value {
    let gen = schemars::generate::SchemaSettings::draft07().into_generator();
    crate::spec::schema::committed_form(gen.into_root_schema_for::<Report>(), SCHEMA_FILE)
}

/// The report of `run`; `log_of` names each node's log file.
pub fn build(
    run: &RunResult,
    skipped: &[Skipped],
    log_of: impl Fn(&str) -> PathBuf,
    plan: Option<&PlanInfo>,
) -> Report {
    Report {
        plan: plan.cloned(),
        version: 1,
        run_id: run.run_id.clone(),
        exit_code: run.exit_code(),
        interrupted: run.interrupted,
        nodes: run
            .results
            .iter()
            .map(|(n, r)| NodeReport::new(n, r, log_of(&n.id).display().to_string()))
            .collect(),
        skipped: skipped.iter().map(NotApplicable::from).collect(),
    }
}

/// Pretty JSON with a trailing newline.
pub fn to_text(report: &Report) -> String {
    // Plain structs of strings and numbers always serialize.
    let mut s = serde_json::to_string_pretty(report).unwrap_or_default();
    s.push('\n');
    s
}

pub fn render(run: &RunResult, skipped: &[Skipped], log_of: impl Fn(&str) -> PathBuf) -> String {
    to_text(&build(run, skipped, log_of, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{every_outcome, not_applicable};

    /// Every verdict the engine can give renders into a report that its own schema accepts,
    /// and the report reads back into the same value.
    #[test]
    fn every_outcome_validates_against_the_schema_and_round_trips() {
        let run = every_outcome();
        let text = render(&run, &not_applicable(), |id| {
            PathBuf::from(format!("/logs/{id}.log"))
        });
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let schema = schema();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&schema)
            .unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{text}");
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back,
            build(
                &run,
                &not_applicable(),
                |id| PathBuf::from(format!("/logs/{id}.log")),
                None
            )
        );
        // No key appears twice in a node (a flattened enum once produced two `attempts`).
        assert_eq!(
            text.matches("\"attempts\"").count(),
            run.results.len(),
            "{text}"
        );
    }

    #[test]
    fn the_schema_rejects_an_unknown_status() {
        let run = every_outcome();
        let mut value: serde_json::Value =
            serde_json::from_str(&render(&run, &[], |_| PathBuf::new())).unwrap();
        value["nodes"][0]["status"] = "exploded".into();
        let schema = schema();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&schema)
            .unwrap();
        assert!(!validator.is_valid(&value));
    }

    #[test]
    fn verdict_details_land_in_their_fields() {
        let run = every_outcome();
        let r = build(&run, &[], |_| PathBuf::new(), None);
        let node = |id: &str| r.nodes.iter().find(|n| n.id == id).unwrap();
        assert_eq!(node("suite:arch:slow").after_secs, Some(3));
        assert_eq!(node("suite:arch:slow").status, Status::TimedOut);
        assert_eq!(
            node("suite:manjaro:ok").dependency.as_deref(),
            Some("provision:manjaro")
        );
        assert_eq!(node("suite:arch:retry").attempts, 2);
        assert_eq!(
            node("suite:arch:bad").reason.as_deref(),
            Some("execute exited with 1")
        );
        assert_eq!(r.exit_code, 3);
    }
}
