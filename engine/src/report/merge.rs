//! `engine report merge`: the JSON reports of the shards of one fan-out (each CI job ran
//! `engine run --shard K/N`) as one run again, so that the grid, the summary, the exit code,
//! JUnit and the JSON report are those of a single run of the whole selection.
//!
//! Shards are checked to come from one plan (the plan hash each report records). A suite of
//! the plan that no report holds (its shard's report is missing, or its job died before
//! writing one) is an infrastructure error of kind `shard`, never a silent pass.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::json::{Kind, NodeReport, PlanInfo, Report, Status};
use crate::events::{InfraKind, NodeResult, Outcome, RunResult};
use crate::plan::{Node, NodeKind, Skipped};

/// The shards as one run.
pub struct Merged {
    pub run: RunResult,
    pub skipped: Vec<Skipped>,
    /// Each node's log, as the report of its shard names it (on the machine that ran it).
    pub logs: HashMap<String, PathBuf>,
    /// The plan of the fan-out, with `shard` unset.
    pub plan: PlanInfo,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum MergeError {
    #[error("cannot read the report {path}: {reason}")]
    #[diagnostic(
        code(engine::merge::read),
        help("pass the report.json of each shard's run (`.engine/runs/<id>/report.json`, or its --report file)")
    )]
    Read { path: PathBuf, reason: String },
    #[error("{path} records no plan: it comes from an engine older than `engine report merge`")]
    #[diagnostic(
        code(engine::merge::no_plan),
        help("run the shards again with this engine")
    )]
    NoPlan { path: PathBuf },
    #[error("{path} comes from another plan than {first} (plan {hash}, not {first_hash})")]
    #[diagnostic(
        code(engine::merge::other_plan),
        help("merge the reports of one fan-out: the same matrix, the same selection and the same shard count in every job")
    )]
    OtherPlan {
        path: PathBuf,
        first: PathBuf,
        hash: String,
        first_hash: String,
    },
    #[error("{path} and {other} are both shard {shard}")]
    #[diagnostic(code(engine::merge::same_shard), help("give each shard's report once"))]
    SameShard {
        path: PathBuf,
        other: PathBuf,
        shard: String,
    },
    #[error("no report to merge")]
    #[diagnostic(code(engine::merge::none))]
    Nothing,
}

/// Reads and merges the reports at `paths`.
pub fn merge_files(paths: &[PathBuf]) -> Result<Merged, MergeError> {
    let mut reports = Vec::with_capacity(paths.len());
    for path in paths {
        let read = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Report>(&t).map_err(|e| e.to_string()));
        match read {
            Ok(r) => reports.push((path.clone(), r)),
            Err(reason) => {
                return Err(MergeError::Read {
                    path: path.clone(),
                    reason,
                })
            }
        }
    }
    merge(reports)
}

/// Merges reports already read (each with the file it came from, for messages).
pub fn merge(reports: Vec<(PathBuf, Report)>) -> Result<Merged, MergeError> {
    let (first_plan, shards) = one_plan(&reports)?;
    let mut results: Vec<(Node, NodeResult)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut logs = HashMap::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut interrupted = false;
    for (_, r) in &reports {
        interrupted |= r.interrupted;
        for n in &r.nodes {
            let (node, result) = back(n);
            match at.get(&n.id) {
                // A chain node several shards made (more shards than distros): the worst
                // verdict stands, so that a failure in one shard is not hidden by another.
                Some(&i) if rank(&results[i].1.outcome) >= rank(&result.outcome) => continue,
                Some(&i) => results[i] = (node, result),
                None => {
                    at.insert(n.id.clone(), results.len());
                    results.push((node, result));
                }
            }
            logs.insert(n.id.clone(), PathBuf::from(&n.log));
        }
        // The plan's list has every shard's pairs; a report's own, those of its distros.
        for s in first_plan.not_applicable.iter().chain(&r.skipped) {
            if !skipped
                .iter()
                .any(|k| k.distro == s.distro && k.suite == s.suite)
            {
                skipped.push(Skipped {
                    distro: s.distro.clone(),
                    suite: s.suite.clone(),
                    reason: s.reason.clone(),
                });
            }
        }
    }

    // Every suite of the plan that no report holds: its shard sent nothing.
    let missing = missing_shards(&first_plan, &shards);
    for id in &first_plan.suites {
        if at.contains_key(id) {
            continue;
        }
        let (distro, suite) = split_suite_id(id);
        let reason = if missing.is_empty() {
            "not run: no shard's report holds it".to_string()
        } else {
            format!("not run: no report of shard {}", missing.join(", "))
        };
        at.insert(id.clone(), results.len());
        results.push((
            Node {
                id: id.clone(),
                kind: NodeKind::Suite,
                distro,
                suite: Some(suite),
                cache_key: None,
                cached: None,
                why: Vec::new(),
            },
            NodeResult::new(Outcome::Infra {
                reason,
                kind: InfraKind::Shard,
            }),
        ));
    }
    // Per distro, in plan order: base, image, provision, then suites by name.
    results.sort_by(|(a, _), (b, _)| {
        (a.distro.as_str(), a.kind, a.suite.as_deref()).cmp(&(
            b.distro.as_str(),
            b.kind,
            b.suite.as_deref(),
        ))
    });
    let mut ids: Vec<&str> = reports.iter().map(|(_, r)| r.run_id.as_str()).collect();
    ids.sort_unstable();
    Ok(Merged {
        run: RunResult {
            run_id: format!("merged({})", ids.join(",")),
            run_dir: PathBuf::new(),
            results,
            interrupted,
        },
        skipped,
        logs,
        plan: PlanInfo {
            shard: None,
            ..first_plan
        },
    })
}

/// The plan every report shares, and which report is which shard; or why they do not go
/// together.
fn one_plan(
    reports: &[(PathBuf, Report)],
) -> Result<(PlanInfo, HashMap<String, PathBuf>), MergeError> {
    let (first_path, first) = reports.first().ok_or(MergeError::Nothing)?;
    let first_plan = first.plan.clone().ok_or_else(|| MergeError::NoPlan {
        path: first_path.clone(),
    })?;
    let mut shards: HashMap<String, PathBuf> = HashMap::new();
    for (path, r) in reports {
        let plan = r
            .plan
            .as_ref()
            .ok_or_else(|| MergeError::NoPlan { path: path.clone() })?;
        if plan.hash != first_plan.hash {
            return Err(MergeError::OtherPlan {
                path: path.clone(),
                first: first_path.clone(),
                hash: plan.hash.clone(),
                first_hash: first_plan.hash.clone(),
            });
        }
        let shard = plan.shard.clone().unwrap_or_else(|| "1/1".into());
        if let Some(other) = shards.insert(shard.clone(), path.clone()) {
            return Err(MergeError::SameShard {
                path: path.clone(),
                other,
                shard,
            });
        }
    }
    Ok((first_plan, shards))
}

/// The shards of `K/N` that sent no report, as `K/N`.
fn missing_shards(plan: &PlanInfo, present: &HashMap<String, PathBuf>) -> Vec<String> {
    let count = plan
        .shard
        .as_deref()
        .and_then(|s| s.split_once('/'))
        .and_then(|(_, n)| n.parse::<u32>().ok())
        .unwrap_or(1);
    (1..=count)
        .map(|k| format!("{k}/{count}"))
        .filter(|s| !present.contains_key(s))
        .collect()
}

/// `suite:DISTRO:SUITE` (a suite may hold colons: variants are `name:variant`).
fn split_suite_id(id: &str) -> (String, String) {
    let rest = id.strip_prefix("suite:").unwrap_or(id);
    match rest.split_once(':') {
        Some((d, s)) => (d.to_string(), s.to_string()),
        None => (rest.to_string(), String::new()),
    }
}

/// How bad a verdict is, for a node two shards report.
fn rank(o: &Outcome) -> u8 {
    match o {
        Outcome::Cached | Outcome::Passed => 0,
        Outcome::Xfail | Outcome::Skipped { .. } | Outcome::Flaky { .. } => 1,
        Outcome::Cancelled => 2,
        Outcome::DependencyFailed { .. } => 3,
        Outcome::Failed { .. } | Outcome::TimedOut { .. } => 4,
        Outcome::Infra { .. } => 5,
    }
}

/// A report's node as the engine's own types again.
fn back(n: &NodeReport) -> (Node, NodeResult) {
    let kind = match n.kind {
        Kind::Base => NodeKind::Base,
        Kind::Image => NodeKind::Image,
        Kind::Provision => NodeKind::Provision,
        Kind::Suite => NodeKind::Suite,
    };
    let reason = || n.reason.clone().unwrap_or_default();
    let outcome = match n.status {
        Status::Passed => Outcome::Passed,
        Status::Cached => Outcome::Cached,
        Status::Failed => Outcome::Failed { reason: reason() },
        Status::Flaky => Outcome::Flaky {
            attempts: n.attempts,
        },
        Status::TimedOut => Outcome::TimedOut {
            after_secs: n.after_secs.unwrap_or(0),
        },
        Status::Xfail => Outcome::Xfail,
        Status::Skipped => Outcome::Skipped { reason: reason() },
        Status::Infra => Outcome::Infra {
            reason: reason(),
            kind: n.infra_kind.unwrap_or(InfraKind::Engine),
        },
        Status::DependencyFailed => Outcome::DependencyFailed {
            node: n.dependency.clone().unwrap_or_default(),
        },
        Status::Cancelled => Outcome::Cancelled,
    };
    let time = |ms: Option<u64>| ms.map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
    let mut result = NodeResult::new(outcome);
    result.started = time(n.started);
    result.finished = time(n.finished);
    result.duration = Duration::from_millis(n.duration_ms);
    result.attempts = n.attempts;
    result.diagnostic = n.diagnostic.clone();
    result.tail = n.tail.clone();
    result.why = n.why.clone();
    result.key = n.cache_key.clone();
    result.artifacts = n.artifacts.clone();
    result.kept = n.kept.clone();
    let node = Node {
        id: n.id.clone(),
        kind,
        distro: n.distro.clone(),
        suite: n.suite.clone(),
        cache_key: n.cache_key.clone(),
        cached: None,
        why: Vec::new(),
    };
    (node, result)
}

/// The log path a merged node's report named (`""` when none).
pub fn log_of(logs: &HashMap<String, PathBuf>, id: &str) -> PathBuf {
    logs.get(id).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, status: Status) -> NodeReport {
        let parts: Vec<&str> = id.split(':').collect();
        let kind = match parts[0] {
            "base" => Kind::Base,
            "image" => Kind::Image,
            "provision" => Kind::Provision,
            _ => Kind::Suite,
        };
        NodeReport {
            id: id.into(),
            kind,
            distro: parts[1].into(),
            suite: parts.get(2).map(|s| (*s).to_string()),
            cache_key: None,
            status,
            reason: (status != Status::Passed && status != Status::Cached)
                .then(|| format!("{id} went wrong")),
            infra_kind: (status == Status::Infra).then_some(InfraKind::Daemon),
            after_secs: None,
            dependency: None,
            attempts: 1,
            started: None,
            finished: None,
            duration_ms: 5,
            diagnostic: None,
            tail: Vec::new(),
            why: Vec::new(),
            artifacts: None,
            kept: None,
            log: format!("/m/logs/{id}.log"),
        }
    }

    fn report(run: &str, shard: Option<&str>, hash: &str, nodes: Vec<NodeReport>) -> Report {
        Report {
            version: 1,
            run_id: run.into(),
            exit_code: 0,
            interrupted: false,
            nodes,
            skipped: Vec::new(),
            plan: Some(PlanInfo {
                hash: hash.into(),
                shard: shard.map(str::to_string),
                suites: ["suite:a:x", "suite:a:y", "suite:b:x"]
                    .map(String::from)
                    .to_vec(),
                not_applicable: Vec::new(),
            }),
        }
    }

    fn outcome_of<'m>(m: &'m Merged, id: &str) -> &'m Outcome {
        &m.run
            .results
            .iter()
            .find(|(n, _)| n.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
            .1
            .outcome
    }

    #[test]
    fn shards_make_one_run_and_a_missing_shard_is_not_a_pass() {
        let one = report(
            "r1",
            Some("1/3"),
            "h",
            vec![
                node("image:a", Status::Cached),
                node("suite:a:x", Status::Passed),
                node("suite:a:y", Status::Failed),
            ],
        );
        let mut one = one;
        // Pairs that do not apply, of every shard, come with the plan.
        if let Some(plan) = one.plan.as_mut() {
            plan.not_applicable
                .push(crate::report::json::NotApplicable {
                    distro: "b".into(),
                    suite: "y".into(),
                    reason: "not in the suite's `distros`".into(),
                });
        }
        let three = report("r3", Some("3/3"), "h", vec![]);
        let m = merge(vec![("1.json".into(), one), ("3.json".into(), three)]).unwrap();
        assert_eq!(m.skipped.len(), 1);
        assert_eq!(
            (m.skipped[0].distro.as_str(), m.skipped[0].suite.as_str()),
            ("b", "y")
        );
        assert!(matches!(outcome_of(&m, "suite:a:x"), Outcome::Passed));
        assert!(matches!(
            outcome_of(&m, "suite:a:y"),
            Outcome::Failed { .. }
        ));
        match outcome_of(&m, "suite:b:x") {
            Outcome::Infra { reason, kind } => {
                assert_eq!(*kind, InfraKind::Shard);
                assert_eq!(reason, "not run: no report of shard 2/3");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.run.exit_code(), crate::events::exit::INFRA);
        assert_eq!(m.run.run_id, "merged(r1,r3)");
        assert_eq!(
            log_of(&m.logs, "suite:a:y"),
            PathBuf::from("/m/logs/suite:a:y.log")
        );
    }

    #[test]
    fn a_chain_node_two_shards_made_keeps_the_worse_verdict() {
        let one = report(
            "r1",
            Some("1/2"),
            "h",
            vec![
                node("image:a", Status::Passed),
                node("suite:a:x", Status::Passed),
            ],
        );
        let two = report(
            "r2",
            Some("2/2"),
            "h",
            vec![
                node("image:a", Status::Infra),
                node("suite:a:y", Status::DependencyFailed),
                node("suite:b:x", Status::Passed),
            ],
        );
        let m = merge(vec![("1".into(), one), ("2".into(), two)]).unwrap();
        assert!(matches!(outcome_of(&m, "image:a"), Outcome::Infra { .. }));
        assert_eq!(
            m.run
                .results
                .iter()
                .filter(|(n, _)| n.id == "image:a")
                .count(),
            1
        );
        // Plan order: per distro, the chain before the suites.
        let order: Vec<&str> = m.run.results.iter().map(|(n, _)| n.id.as_str()).collect();
        assert_eq!(order, ["image:a", "suite:a:x", "suite:a:y", "suite:b:x"]);
    }

    #[test]
    fn reports_of_other_plans_or_the_same_shard_twice_are_refused() {
        let a = report("r1", Some("1/2"), "h", vec![]);
        let b = report("r2", Some("2/2"), "other", vec![]);
        let err = merge(vec![("a.json".into(), a.clone()), ("b.json".into(), b)])
            .err()
            .expect("refused");
        assert!(matches!(err, MergeError::OtherPlan { .. }), "{err}");
        assert!(
            err.to_string().contains("b.json comes from another plan"),
            "{err}"
        );
        let err = merge(vec![("a.json".into(), a.clone()), ("c.json".into(), a)])
            .err()
            .expect("refused");
        assert_eq!(err.to_string(), "c.json and a.json are both shard 1/2");
        let mut old = report("r0", None, "h", vec![]);
        old.plan = None;
        let err = merge(vec![("old.json".into(), old)])
            .err()
            .expect("refused");
        assert!(matches!(err, MergeError::NoPlan { .. }));
        assert!(matches!(merge(vec![]), Err(MergeError::Nothing)));
    }

    #[test]
    fn suite_ids_split_at_the_distro() {
        assert_eq!(
            split_suite_id("suite:arch:smoke:fast"),
            ("arch".to_string(), "smoke:fast".to_string())
        );
    }
}
