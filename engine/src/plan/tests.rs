//! Plan construction, selection and sharding on synthetic matrices.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;

use super::select::{select, suite_ids, Selection};
use super::shard::{self, Shard};
use super::{NodeKind, Plan};
use crate::spec::matrix::*;

fn distro(name: &str, locales: &[&str]) -> Distro {
    Distro {
        name: name.into(),
        base: Base::Image {
            reference: format!("{name}:latest"),
            pull: PullPolicy::Missing,
        },
        image: Image {
            dockerfile: PathBuf::from("/x/Dockerfile"),
            context: PathBuf::from("/x"),
            build_args: BTreeMap::new(),
        },
        locales: locales.iter().map(|s| s.to_string()).collect(),
        on_missing_locale: LocalePolicy::Fail,
        aur_helper: AurHelper {
            policy: AurPolicy::None,
            helpers: vec![],
            package: None,
            source: None,
            build_dir: DEFAULT_AUR_BUILD_DIR.into(),
        },
        container: Container {
            privileged: false,
            capabilities: vec![],
            network: NetworkMode::Bridge,
            memory_bytes: 1 << 30,
            cpus: None,
            pids: DEFAULT_PIDS,
            disk_bytes: None,
            tmpfs: BTreeMap::new(),
        },
        environment: BTreeMap::new(),
    }
}

fn suite(name: &str, distros: Option<&[&str]>, locales: &[&str]) -> Suite {
    Suite {
        name: name.into(),
        variant: None,
        dir: PathBuf::from("/x/suites").join(name),
        format: SuiteFormat::Native,
        summary: None,
        details: None,
        distros: distros.map(|d| d.iter().map(|s| s.to_string()).collect()),
        distros_key: "distros".into(),
        not_applicable: None,
        priority: 0,
        manual: false,
        requires_locales: locales.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(60),
        warn_timeout: None,
        retries: 0,
        samples: 1,
        expect: Expect::Pass,
        environment: BTreeMap::new(),
        environment_order: vec![],
        prepare: None,
        execute: "true".into(),
        restore: None,
        debug: None,
        skip: vec![],
        artifacts: vec![],
        user: None,
        pass_env: vec![],
        container: None,
    }
}

pub(crate) fn matrix(distros: Vec<Distro>, suites: Vec<Suite>) -> Matrix {
    Matrix {
        root: PathBuf::from("/x"),
        engine: EngineSettings {
            concurrency: None,
            build_concurrency: 2,
            fail_fast: false,
            timeout: Duration::from_secs(60),
            keep_runs: 20,
            min_free_space: 1 << 30,
        },
        workspace: Workspace {
            source: PathBuf::from("/x"),
            target: "/workspace".into(),
            writable: false,
        },
        caches: Caches {
            root: PathBuf::from("/x/.cache"),
            mounts: vec![],
        },
        provision: Provision {
            users: vec![],
            steps: vec![],
        },
        distros: distros.into_iter().map(|d| (d.name.clone(), d)).collect(),
        suites: suites.into_iter().map(|s| (s.name.clone(), s)).collect(),
        pass_env: vec![],
        environment: BTreeMap::new(),
    }
}

fn sample() -> Matrix {
    matrix(
        vec![
            distro("arch", &["en_US.UTF-8", "de_DE.UTF-8"]),
            distro("cachyos", &["en_US.UTF-8"]),
            distro("manjaro", &["en_US.UTF-8", "de_DE.utf8"]),
        ],
        vec![
            suite("smoke", None, &[]),
            suite("german", None, &["de_DE.UTF-8"]),
            suite("arch-only", Some(&["arch"]), &[]),
        ],
    )
}

#[test]
fn graph_has_a_chain_per_distro_and_suites_where_they_apply() {
    let plan = Plan::build(&sample(), None);
    assert_eq!(
        suite_ids(&plan),
        [
            "suite:arch:arch-only",
            "suite:arch:german",
            "suite:arch:smoke",
            "suite:cachyos:smoke",
            "suite:manjaro:german",
            "suite:manjaro:smoke",
        ]
    );
    let p = plan.index_of("suite:arch:smoke").unwrap();
    let deps: Vec<&str> = plan
        .deps(p)
        .into_iter()
        .map(|d| plan.graph[d].id.as_str())
        .collect();
    assert_eq!(deps, ["provision:arch"]);
    assert!(petgraph::algo::toposort(&plan.graph, None).is_ok());
    let mut skipped: Vec<(String, String)> = plan
        .skipped
        .iter()
        .map(|s| (s.distro.clone(), s.suite.clone()))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            ("cachyos".into(), "arch-only".into()),
            ("cachyos".into(), "german".into()),
            ("manjaro".into(), "arch-only".into())
        ]
    );
    let why = plan.skipped.iter().find(|s| s.suite == "german").unwrap();
    assert!(why.reason.contains("de_DE.UTF-8"), "{}", why.reason);
}

#[test]
fn selecting_one_pair_brings_its_chain_only() {
    let m = sample();
    let plan = Plan::build(&m, None);
    let sel = Selection {
        patterns: vec!["arch:german".into()],
        ..Default::default()
    };
    let p = select(&plan, &m, &sel).unwrap();
    let mut ids: Vec<&str> = p.graph.node_weights().map(|n| n.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "base:arch",
            "image:arch",
            "provision:arch",
            "suite:arch:german"
        ]
    );
}

#[test]
fn suite_globs_filters_and_excludes() {
    let m = sample();
    let plan = Plan::build(&m, None);
    let run = |patterns: &[&str], suites: &[&str], exclude: &[&str]| {
        let sel = Selection {
            patterns: patterns.iter().map(|s| s.to_string()).collect(),
            suites: suites.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        suite_ids(&select(&plan, &m, &sel).unwrap())
    };
    assert_eq!(
        run(&[":g*"], &[], &[]),
        ["suite:arch:german", "suite:manjaro:german"]
    );
    assert_eq!(run(&["cachyos"], &[], &[]), ["suite:cachyos:smoke"]);
    assert_eq!(
        run(&[], &["smoke"], &["arch"]),
        ["suite:cachyos:smoke", "suite:manjaro:smoke"]
    );
    assert_eq!(
        run(&["*:*"], &[], &[":smoke", "arch:german"]),
        ["suite:arch:arch-only", "suite:manjaro:german"]
    );
}

#[test]
fn a_pattern_matching_nothing_suggests_the_closest_name() {
    let m = sample();
    let plan = Plan::build(&m, None);
    for (pattern, hint) in [
        ("manjaor", "did you mean `manjaro`?"),
        ("arch:germna", "did you mean `arch:german`?"),
        ("smoke", "`:smoke`"),
    ] {
        let sel = Selection {
            patterns: vec![pattern.into()],
            ..Default::default()
        };
        let err = select(&plan, &m, &sel).unwrap_err();
        let text = match &err {
            super::select::SelectError::NoMatch { hint, .. } => hint.clone(),
            other => panic!("{other}"),
        };
        assert!(text.contains(hint), "{pattern}: {text}");
    }
}

#[test]
fn shard_parse() {
    assert_eq!(
        "2/4".parse::<Shard>().unwrap(),
        Shard { index: 2, count: 4 }
    );
    for bad in ["0/4", "5/4", "x/2", "2", "1/0"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
}

#[test]
fn weighted_shards_balance_by_duration() {
    let m = matrix(
        vec![distro("a", &[])],
        (0..6).map(|i| suite(&format!("s{i}"), None, &[])).collect(),
    );
    let plan = Plan::build(&m, None);
    // One long suite and five short ones: the long one gets a shard of its own.
    let mut w: HashMap<String, f64> = (1..6).map(|i| (format!("suite:a:s{i}"), 1.0)).collect();
    w.insert("suite:a:s0".to_string(), 100.0);
    let a = shard::assign(&plan, 2, &w);
    let with_s0 = a["suite:a:s0"];
    assert!(a
        .iter()
        .filter(|(k, _)| *k != "suite:a:s0")
        .all(|(_, s)| *s != with_s0));
}

#[test]
fn a_suite_the_timings_do_not_know_weighs_the_mean_of_those_they_know() {
    let m = matrix(
        vec![distro("a", &[])],
        (0..4).map(|i| suite(&format!("s{i}"), None, &[])).collect(),
    );
    let plan = Plan::build(&m, None);
    // Only s0 is known (10 s): the three new suites weigh 10 s each, two suites a shard (with
    // a weight of 1 they would all join the shard without s0).
    let w = HashMap::from([("suite:a:s0".to_string(), 10_000.0)]);
    let a = shard::assign(&plan, 2, &w);
    for k in 0..2 {
        assert_eq!(a.values().filter(|s| **s == k).count(), 2, "{a:?}");
    }
}

proptest! {
    /// The shards of any plan are disjoint, cover every suite node, and each brings the
    /// chain its suites need.
    #[test]
    fn shards_partition_the_suites(
        n_distros in 1usize..6,
        n_suites in 0usize..30,
        count in 1u32..9,
        only in proptest::collection::vec(any::<bool>(), 30),
        weights in proptest::collection::vec(0.0f64..1000.0, 0..20),
    ) {
        let names: Vec<String> = (0..n_distros).map(|i| format!("d{i}")).collect();
        let first = [names[0].as_str()];
        let m = matrix(
            names.iter().map(|n| distro(n, &[])).collect(),
            (0..n_suites).map(|i| suite(&format!("s{i}"), if only[i] { Some(&first[..]) } else { None }, &[])).collect(),
        );
        let plan = Plan::build(&m, None);
        let all: HashSet<String> = suite_ids(&plan).into_iter().collect();
        let w: HashMap<String, f64> = all.iter().zip(weights.iter()).map(|(k, v)| (k.clone(), *v)).collect();
        let mut seen = HashSet::new();
        for k in 1..=count {
            let part = shard::apply(&plan, Shard { index: k, count }, &w);
            for ix in part.suite_nodes() {
                let id = part.graph[ix].id.clone();
                prop_assert!(seen.insert(id.clone()), "{} in two shards", id);
                let distro = &part.graph[ix].distro;
                let provision = format!("provision:{distro}");
                let image = format!("image:{distro}");
                prop_assert!(part.node(&provision).is_some());
                prop_assert!(part.node(&image).is_some());
            }
            prop_assert!(part.graph.node_weights().all(|n| n.kind != NodeKind::Suite || all.contains(&n.id)));
        }
        prop_assert_eq!(seen, all);
        // Image-affine: with no more shards than distros, a distro's suites share one shard;
        // with more, a shard holds one distro's suites.
        let assignment = shard::assign(&plan, count, &w);
        let mut shard_of: HashMap<String, HashSet<u32>> = HashMap::new();
        let mut distros_of: HashMap<u32, HashSet<String>> = HashMap::new();
        for ix in plan.suite_nodes() {
            let node = &plan.graph[ix];
            let k = assignment[&node.id];
            shard_of.entry(node.distro.clone()).or_default().insert(k);
            distros_of.entry(k).or_default().insert(node.distro.clone());
        }
        // (Distros with no suite here take no shard.)
        if (count as usize) <= shard_of.len() {
            prop_assert!(shard_of.values().all(|s| s.len() == 1), "{:?}", shard_of);
        } else {
            prop_assert!(distros_of.values().all(|d| d.len() == 1), "{:?}", distros_of);
        }
    }
}

/// `n` distros named d0.. and `s` suites named s0.. that run everywhere.
pub(crate) fn sample_matrix(n: usize, s: usize) -> Matrix {
    matrix(
        (0..n).map(|i| distro(&format!("d{i}"), &[])).collect(),
        (0..s).map(|i| suite(&format!("s{i}"), None, &[])).collect(),
    )
}
