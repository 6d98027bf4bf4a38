//! The scheduler: runs the plan's DAG with bounded parallelism.
//!
//! Admission rules live in [`Admission`], applied in one place and in a deterministic order: a
//! node starts when its dependencies succeeded, fewer than `jobs` nodes run (fewer than
//! `build_jobs` for base and image nodes), and none of its exclusive resources (e.g. an
//! `exclusive` cache mount) is held by a running node. Among ready nodes, builds go first, then
//! provisioning, then suites with the longest expected duration. A failed node marks its
//! dependants as not run; under fail-fast a failed suite cancels the rest; a cancelled token
//! stops admission.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use futures_util::stream::{FuturesUnordered, StreamExt};
use petgraph::graph::NodeIndex;
use petgraph::Direction;
use tokio_util::sync::CancellationToken;

use crate::events::{NodeResult, Outcome};
use crate::plan::{Node, NodeKind, Plan};

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
    /// The suite's priority (spread's `priority`): higher first, before durations.
    pub priority: i64,
}

/// The order among ready nodes: builds, then provisioning, then suites; higher priority first;
/// longer expected first; then by id, so that equal nodes start in a stable order.
type Rank = (u8, Reverse<i64>, Reverse<u128>, String, NodeIndex);

/// A ready node as admission sees it.
#[derive(Debug, Clone)]
struct Candidate {
    rank: Rank,
    is_build: bool,
    exclusive: Vec<String>,
}

impl Candidate {
    fn of(ix: NodeIndex, node: &Node, facts: Option<&NodeFacts>) -> Candidate {
        let class = match node.kind {
            NodeKind::Base | NodeKind::Image => 0,
            NodeKind::Provision => 1,
            NodeKind::Suite => 2,
        };
        let expected = facts.and_then(|f| f.expected).map_or(0, |d| d.as_millis());
        let priority = facts.map_or(0, |f| f.priority);
        Candidate {
            rank: (
                class,
                Reverse(priority),
                Reverse(expected),
                node.id.clone(),
                ix,
            ),
            is_build: class == 0,
            exclusive: facts.map(|f| f.exclusive.clone()).unwrap_or_default(),
        }
    }
}

/// Which ready nodes may start: the limits and the exclusive resources of what runs.
struct Admission {
    jobs: usize,
    build_jobs: usize,
    ready: BTreeSet<Rank>,
    candidates: HashMap<NodeIndex, Candidate>,
    running: usize,
    building: usize,
    held: HashSet<String>,
}

impl Admission {
    fn new(limits: &Limits) -> Admission {
        Admission {
            jobs: limits.jobs.max(1),
            build_jobs: limits.build_jobs.max(1),
            ready: BTreeSet::new(),
            candidates: HashMap::new(),
            running: 0,
            building: 0,
            held: HashSet::new(),
        }
    }

    fn ready(&mut self, c: Candidate) {
        self.ready.insert(c.rank.clone());
        self.candidates.insert(c.rank.4, c);
    }

    /// The ready nodes that start now, best first; from here on they count as running.
    fn admit(&mut self) -> Vec<NodeIndex> {
        let mut started = Vec::new();
        for rank in self.ready.iter() {
            if self.running >= self.jobs {
                break;
            }
            let c = &self.candidates[&rank.4];
            if c.is_build && self.building >= self.build_jobs {
                continue;
            }
            if c.exclusive.iter().any(|r| self.held.contains(r)) {
                continue;
            }
            self.running += 1;
            self.building += usize::from(c.is_build);
            self.held.extend(c.exclusive.iter().cloned());
            started.push(rank.4);
        }
        for ix in &started {
            let rank = self.candidates[ix].rank.clone();
            self.ready.remove(&rank);
        }
        started
    }

    /// A running node ended: its slot and its resources are free again.
    fn finished(&mut self, ix: NodeIndex) {
        if let Some(c) = self.candidates.remove(&ix) {
            self.running -= 1;
            self.building -= usize::from(c.is_build);
            for r in &c.exclusive {
                self.held.remove(r);
            }
        }
    }
}

/// How many dependencies of each node have yet to succeed.
struct Waiting<'g> {
    plan: &'g Plan,
    left: HashMap<NodeIndex, usize>,
}

impl<'g> Waiting<'g> {
    fn new(plan: &'g Plan) -> Waiting<'g> {
        let g = &plan.graph;
        let left = g
            .node_indices()
            .map(|ix| (ix, g.neighbors_directed(ix, Direction::Incoming).count()))
            .collect();
        Waiting { plan, left }
    }

    /// Nodes with nothing to wait for.
    fn roots(&self) -> Vec<NodeIndex> {
        self.left
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(ix, _)| *ix)
            .collect()
    }

    /// `ix` succeeded: the dependants that now have nothing left to wait for.
    fn succeeded(&mut self, ix: NodeIndex) -> Vec<NodeIndex> {
        let mut now_ready = Vec::new();
        for c in self.plan.graph.neighbors_directed(ix, Direction::Outgoing) {
            if let Some(w) = self.left.get_mut(&c) {
                *w -= 1;
                if *w == 0 {
                    now_ready.push(c);
                }
            }
        }
        now_ready
    }
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
    let candidate = |ix: NodeIndex| Candidate::of(ix, &g[ix], facts.get(&ix));
    let mut admission = Admission::new(limits);
    let mut waiting = Waiting::new(plan);
    for ix in waiting.roots() {
        admission.ready(candidate(ix));
    }
    let mut results: HashMap<NodeIndex, NodeResult> = HashMap::new();
    let mut inflight = FuturesUnordered::new();
    let mut stopped = false;
    loop {
        stopped |= cancel.is_cancelled();
        if !stopped {
            for ix in admission.admit() {
                observe(SchedEvent::Started { node: ix });
                inflight.push(timed(ix, work(ix, cancel.child_token())));
            }
        }
        if inflight.is_empty() {
            break;
        }
        let next = tokio::select! {
            n = inflight.next() => n,
            _ = cancel.cancelled(), if !stopped => { stopped = true; continue; }
        };
        let Some((ix, result)) = next else {
            break;
        };
        admission.finished(ix);
        let ok = result.outcome.unblocks();
        if !ok && limits.fail_fast && (result.outcome.is_failure() || result.outcome.is_infra()) {
            cancel.cancel();
        }
        observe(SchedEvent::Finished {
            node: ix,
            result: &result,
        });
        results.insert(ix, result);
        if ok {
            for c in waiting.succeeded(ix) {
                admission.ready(candidate(c));
            }
        } else {
            not_run_below(plan, ix, &mut results, &mut observe);
        }
    }
    cancel_the_rest(plan, &mut results, &mut observe);
    results
}

/// Runs `work` and stamps its result with start, end and (when the work did not) duration.
async fn timed(ix: NodeIndex, work: impl Future<Output = NodeResult>) -> (NodeIndex, NodeResult) {
    let started = SystemTime::now();
    let clock = Instant::now();
    let mut r = work.await;
    r.started = Some(started);
    r.finished = Some(SystemTime::now());
    if r.duration.is_zero() {
        r.duration = clock.elapsed();
    }
    (ix, r)
}

/// Everything below a failed node does not run, and says why.
fn not_run_below(
    plan: &Plan,
    failed: NodeIndex,
    results: &mut HashMap<NodeIndex, NodeResult>,
    observe: &mut impl FnMut(SchedEvent<'_>),
) {
    let g = &plan.graph;
    let mut stack: Vec<NodeIndex> = g.neighbors_directed(failed, Direction::Outgoing).collect();
    while let Some(c) = stack.pop() {
        if results.contains_key(&c) {
            continue;
        }
        let r = NodeResult::new(Outcome::DependencyFailed {
            node: g[failed].id.clone(),
        });
        observe(SchedEvent::Finished {
            node: c,
            result: &r,
        });
        results.insert(c, r);
        stack.extend(g.neighbors_directed(c, Direction::Outgoing));
    }
}

/// Whatever never started was cancelled.
fn cancel_the_rest(
    plan: &Plan,
    results: &mut HashMap<NodeIndex, NodeResult>,
    observe: &mut impl FnMut(SchedEvent<'_>),
) {
    for ix in plan.graph.node_indices() {
        if let std::collections::hash_map::Entry::Vacant(e) = results.entry(ix) {
            let r = NodeResult::new(Outcome::Cancelled);
            observe(SchedEvent::Finished {
                node: ix,
                result: &r,
            });
            e.insert(r);
        }
    }
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

    /// A candidate for the admission tests: kind by id prefix.
    fn cand(ix: usize, id: &str, expected_ms: u64, exclusive: &[&str]) -> Candidate {
        let kind = match id.split(':').next() {
            Some("image") => NodeKind::Image,
            Some("provision") => NodeKind::Provision,
            _ => NodeKind::Suite,
        };
        let node = Node {
            id: id.into(),
            kind,
            distro: "d".into(),
            suite: None,
            cache_key: None,
            cached: None,
            why: Vec::new(),
        };
        let facts = NodeFacts {
            priority: if id.ends_with(":urgent") { 10 } else { 0 },
            exclusive: exclusive.iter().map(|s| s.to_string()).collect(),
            expected: Some(Duration::from_millis(expected_ms)),
        };
        Candidate::of(NodeIndex::new(ix), &node, Some(&facts))
    }

    fn admission(jobs: usize, build_jobs: usize) -> Admission {
        Admission::new(&Limits {
            jobs,
            build_jobs,
            fail_fast: false,
        })
    }

    fn ids(v: &[NodeIndex]) -> Vec<usize> {
        v.iter().map(|ix| ix.index()).collect()
    }

    #[test]
    fn admission_never_runs_more_than_jobs() {
        let mut a = admission(2, 2);
        for i in 0..3 {
            a.ready(cand(i, &format!("suite:d:s{i}"), 0, &[]));
        }
        assert_eq!(ids(&a.admit()), [0, 1]);
        assert!(a.admit().is_empty(), "a third while two run");
        a.finished(NodeIndex::new(0));
        assert_eq!(ids(&a.admit()), [2]);
    }

    #[test]
    fn admission_limits_builds_but_lets_others_pass() {
        let mut a = admission(4, 1);
        a.ready(cand(0, "image:a", 0, &[]));
        a.ready(cand(1, "image:b", 0, &[]));
        a.ready(cand(2, "suite:d:s", 0, &[]));
        assert_eq!(
            ids(&a.admit()),
            [0, 2],
            "one build, and the suite beside it"
        );
        a.finished(NodeIndex::new(0));
        assert_eq!(ids(&a.admit()), [1]);
    }

    #[test]
    fn admission_never_gives_one_exclusive_resource_twice() {
        let mut a = admission(4, 1);
        a.ready(cand(0, "suite:d:a", 0, &["aur"]));
        a.ready(cand(1, "suite:d:b", 0, &["aur"]));
        a.ready(cand(2, "suite:d:c", 0, &["pacman"]));
        assert_eq!(ids(&a.admit()), [0, 2]);
        assert!(a.admit().is_empty());
        a.finished(NodeIndex::new(0));
        assert_eq!(ids(&a.admit()), [1]);
    }

    #[test]
    fn admission_order_is_builds_then_provisioning_then_longest_suites() {
        let mut a = admission(10, 10);
        a.ready(cand(0, "suite:d:short", 10, &[]));
        a.ready(cand(1, "suite:d:long", 900, &[]));
        a.ready(cand(2, "provision:d", 0, &[]));
        a.ready(cand(3, "image:d", 0, &[]));
        a.ready(cand(4, "suite:d:a-unknown", 0, &[]));
        assert_eq!(ids(&a.admit()), [3, 2, 1, 0, 4]);
    }

    #[test]
    fn a_higher_priority_goes_before_a_longer_suite() {
        let mut a = admission(10, 10);
        a.ready(cand(0, "suite:d:long", 900, &[]));
        a.ready(cand(1, "suite:d:urgent", 10, &[]));
        assert_eq!(ids(&a.admit()), [1, 0]);
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
                    priority: 0,
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
