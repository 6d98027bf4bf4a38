//! The scheduler: runs the plan's DAG with bounded parallelism.
//!
//! Admission happens in one loop, so every rule is applied in one place and in a deterministic
//! order: a node starts when its dependencies succeeded, fewer than `jobs` nodes run (fewer than
//! `build_jobs` for base and image nodes), and none of its exclusive resources (e.g. an
//! `exclusive` cache mount) is held by a running node. Among ready nodes, builds go first, then
//! suites with the longest expected duration. A failed node marks its dependants as not run;
//! under fail-fast a failed suite cancels the rest; a cancelled token stops admission.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use futures_util::stream::{FuturesUnordered, StreamExt};
use petgraph::graph::NodeIndex;
use petgraph::Direction;
use tokio_util::sync::CancellationToken;

use crate::events::{NodeResult, Outcome};
use crate::plan::{NodeKind, Plan};

#[derive(Debug, Clone)]
pub struct Limits {
    pub jobs: usize,
    pub build_jobs: usize,
    pub fail_fast: bool,
}

/// What the scheduler tells its observer.
#[derive(Debug, Clone)]
pub enum SchedEvent<'a> {
    Started {
        node: NodeIndex,
    },
    Finished {
        node: NodeIndex,
        result: &'a NodeResult,
    },
}

/// Per-node scheduling facts supplied by the caller.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    /// Resources held exclusively while the node runs.
    pub exclusive: Vec<String>,
    /// Expected duration (from an earlier run), for ordering.
    pub expected: Option<Duration>,
}

/// Run every node of `plan` through `work`. Returns a result for every node.
pub async fn run<F, Fut>(
    plan: &Plan,
    facts: &HashMap<NodeIndex, NodeFacts>,
    limits: &Limits,
    cancel: &CancellationToken,
    work: F,
    mut observe: impl FnMut(SchedEvent<'_>),
) -> HashMap<NodeIndex, NodeResult>
where
    F: Fn(NodeIndex, CancellationToken) -> Fut,
    Fut: Future<Output = NodeResult>,
{
    let g = &plan.graph;
    let mut waiting: HashMap<NodeIndex, usize> = g
        .node_indices()
        .map(|ix| (ix, g.neighbors_directed(ix, Direction::Incoming).count()))
        .collect();
    type Entry = (u8, std::cmp::Reverse<u128>, String, NodeIndex);
    let mut ready: BTreeSet<Entry> = BTreeSet::new();
    let priority = |ix: NodeIndex| {
        let n = &g[ix];
        let class = match n.kind {
            NodeKind::Base | NodeKind::Image => 0,
            NodeKind::Provision => 1,
            NodeKind::Suite => 2,
        };
        let expected = facts
            .get(&ix)
            .and_then(|f| f.expected)
            .map_or(0, |d| d.as_millis());
        (class, std::cmp::Reverse(expected), n.id.clone(), ix)
    };
    for (ix, n) in &waiting {
        if *n == 0 {
            ready.insert(priority(*ix));
        }
    }
    let mut results: HashMap<NodeIndex, NodeResult> = HashMap::new();
    let mut held: HashSet<String> = HashSet::new();
    let mut running = 0usize;
    let mut building = 0usize;
    let mut inflight = FuturesUnordered::new();
    let empty = NodeFacts::default();
    let mut stopped = false;

    loop {
        if cancel.is_cancelled() {
            stopped = true;
        }
        // Admit as many ready nodes as the limits allow, best first.
        if !stopped {
            let mut admitted: Vec<(Entry, bool)> = Vec::new();
            for entry in ready.iter() {
                if running + admitted.len() >= limits.jobs.max(1) {
                    break;
                }
                let ix = entry.3;
                let is_build = matches!(g[ix].kind, NodeKind::Base | NodeKind::Image);
                let builds_now = building + admitted.iter().filter(|(_, b)| *b).count();
                if is_build && builds_now >= limits.build_jobs.max(1) {
                    continue;
                }
                let f = facts.get(&ix).unwrap_or(&empty);
                let taken_now: HashSet<&String> = admitted
                    .iter()
                    .flat_map(|(e, _)| {
                        facts
                            .get(&e.3)
                            .map(|f| f.exclusive.iter())
                            .into_iter()
                            .flatten()
                    })
                    .collect();
                if f.exclusive
                    .iter()
                    .any(|r| held.contains(r) || taken_now.contains(r))
                {
                    continue;
                }
                admitted.push((entry.clone(), is_build));
            }
            for (entry, is_build) in admitted {
                ready.remove(&entry);
                let ix = entry.3;
                running += 1;
                if is_build {
                    building += 1;
                }
                if let Some(f) = facts.get(&ix) {
                    held.extend(f.exclusive.iter().cloned());
                }
                observe(SchedEvent::Started { node: ix });
                let token = cancel.child_token();
                let fut = work(ix, token);
                inflight.push(async move {
                    let started = SystemTime::now();
                    let clock = Instant::now();
                    let mut r = fut.await;
                    r.started = Some(started);
                    r.finished = Some(SystemTime::now());
                    if r.duration.is_zero() {
                        r.duration = clock.elapsed();
                    }
                    (ix, is_build, r)
                });
            }
        }
        if inflight.is_empty() {
            break;
        }
        let next = tokio::select! {
            n = inflight.next() => n,
            _ = cancel.cancelled(), if !stopped => { stopped = true; continue; }
        };
        let Some((ix, is_build, result)) = next else {
            break;
        };
        running -= 1;
        if is_build {
            building -= 1;
        }
        if let Some(f) = facts.get(&ix) {
            for r in &f.exclusive {
                held.remove(r);
            }
        }
        let ok = result.outcome.unblocks();
        if !ok && limits.fail_fast && (result.outcome.is_failure() || result.outcome.is_infra()) {
            cancel.cancel();
        }
        observe(SchedEvent::Finished {
            node: ix,
            result: &result,
        });
        results.insert(ix, result);
        let children: Vec<NodeIndex> = g.neighbors_directed(ix, Direction::Outgoing).collect();
        if ok {
            for c in children {
                if let Some(w) = waiting.get_mut(&c) {
                    *w -= 1;
                    if *w == 0 {
                        ready.insert(priority(c));
                    }
                }
            }
        } else {
            // Everything below a failed node does not run, and says why.
            let failed = g[ix].id.clone();
            let mut stack = children;
            while let Some(c) = stack.pop() {
                if results.contains_key(&c) {
                    continue;
                }
                let r = NodeResult::new(Outcome::DependencyFailed {
                    node: failed.clone(),
                });
                observe(SchedEvent::Finished {
                    node: c,
                    result: &r,
                });
                results.insert(c, r);
                stack.extend(g.neighbors_directed(c, Direction::Outgoing));
            }
        }
    }
    // Whatever never started was cancelled.
    for ix in g.node_indices() {
        if let std::collections::hash_map::Entry::Vacant(e) = results.entry(ix) {
            let r = NodeResult::new(Outcome::Cancelled);
            observe(SchedEvent::Finished {
                node: ix,
                result: &r,
            });
            e.insert(r);
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::plan::Plan;

    fn plan(suites: usize) -> Plan {
        let m = crate::plan::tests::sample_matrix(2, suites);
        Plan::build(&m, None)
    }

    /// Work that takes `ms` and fails for the ids in `fail`, recording concurrency.
    async fn fake(
        ix: NodeIndex,
        plan: &Plan,
        fail: &[&str],
        live: &Mutex<(usize, usize)>,
    ) -> NodeResult {
        {
            let mut l = live.lock().unwrap();
            l.0 += 1;
            l.1 = l.1.max(l.0);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        live.lock().unwrap().0 -= 1;
        if fail.contains(&plan.graph[ix].id.as_str()) {
            NodeResult::new(Outcome::Failed { reason: "x".into() })
        } else {
            NodeResult::new(Outcome::Passed)
        }
    }

    fn limits(jobs: usize) -> Limits {
        Limits {
            jobs,
            build_jobs: 1,
            fail_fast: false,
        }
    }

    #[tokio::test]
    async fn runs_everything_in_dependency_order_within_limits() {
        let p = plan(5);
        let live = Mutex::new((0, 0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let o2 = order.clone();
        let results = run(
            &p,
            &HashMap::new(),
            &limits(3),
            &CancellationToken::new(),
            |ix, _| fake(ix, &p, &[], &live),
            |e| {
                if let SchedEvent::Started { node } = e {
                    o2.lock().unwrap().push(p.graph[node].id.clone());
                }
            },
        )
        .await;
        assert_eq!(results.len(), p.len());
        assert!(results.values().all(|r| r.outcome == Outcome::Passed));
        assert!(live.lock().unwrap().1 <= 3);
        let order = order.lock().unwrap();
        let pos = |id: &str| order.iter().position(|x| x == id).unwrap();
        assert!(pos("base:d0") < pos("image:d0") && pos("image:d0") < pos("provision:d0"));
        assert!(pos("provision:d0") < pos("suite:d0:s0"));
    }

    #[tokio::test]
    async fn a_failed_provision_marks_its_suites_not_run() {
        let p = plan(3);
        let live = Mutex::new((0, 0));
        let results = run(
            &p,
            &HashMap::new(),
            &limits(2),
            &CancellationToken::new(),
            |ix, _| fake(ix, &p, &["provision:d1"], &live),
            |_| {},
        )
        .await;
        let r = &results[&p.index_of("suite:d1:s2").unwrap()];
        assert_eq!(
            r.outcome,
            Outcome::DependencyFailed {
                node: "provision:d1".into()
            }
        );
        assert_eq!(
            results[&p.index_of("suite:d0:s2").unwrap()].outcome,
            Outcome::Passed
        );
    }

    #[tokio::test]
    async fn exclusive_resources_are_never_held_twice() {
        let p = plan(6);
        let mut facts = HashMap::new();
        for ix in p.suite_nodes() {
            facts.insert(
                ix,
                NodeFacts {
                    exclusive: vec!["aur".into()],
                    expected: None,
                },
            );
        }
        let live = Mutex::new((0, 0));
        let suites_live = Mutex::new((0usize, 0usize));
        let results = run(
            &p,
            &facts,
            &limits(8),
            &CancellationToken::new(),
            |ix, _| {
                let is_suite = p.graph[ix].kind == NodeKind::Suite;
                let (live, suites_live) = (&live, &suites_live);
                let p = &p;
                async move {
                    if is_suite {
                        let mut s = suites_live.lock().unwrap();
                        s.0 += 1;
                        s.1 = s.1.max(s.0);
                    }
                    let r = fake(ix, p, &[], live).await;
                    if is_suite {
                        suites_live.lock().unwrap().0 -= 1;
                    }
                    r
                }
            },
            |_| {},
        )
        .await;
        assert!(results.values().all(|r| r.outcome == Outcome::Passed));
        assert_eq!(
            suites_live.lock().unwrap().1,
            1,
            "two holders of one exclusive resource"
        );
    }

    #[tokio::test]
    async fn fail_fast_cancels_what_has_not_started() {
        let p = plan(10);
        let live = Mutex::new((0, 0));
        let cancel = CancellationToken::new();
        let l = Limits {
            jobs: 1,
            build_jobs: 1,
            fail_fast: true,
        };
        let results = run(
            &p,
            &HashMap::new(),
            &l,
            &cancel,
            |ix, _| fake(ix, &p, &["suite:d0:s0"], &live),
            |_| {},
        )
        .await;
        assert!(cancel.is_cancelled());
        let cancelled = results
            .values()
            .filter(|r| r.outcome == Outcome::Cancelled)
            .count();
        assert!(cancelled > 0);
        assert_eq!(results.len(), p.len());
    }
}
