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
    let mut w = HashMap::new();
    w.insert("suite:a:s0".to_string(), 100.0);
    let a = shard::assign(&plan, 2, &w);
    let with_s0 = a["suite:a:s0"];
    assert!(a
        .iter()
        .filter(|(k, _)| *k != "suite:a:s0")
        .all(|(_, s)| *s != with_s0));
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
    }
}

/// `n` distros named d0.. and `s` suites named s0.. that run everywhere.
pub(crate) fn sample_matrix(n: usize, s: usize) -> Matrix {
    matrix(
        (0..n).map(|i| distro(&format!("d{i}"), &[])).collect(),
        (0..s).map(|i| suite(&format!("s{i}"), None, &[])).collect(),
    )
}
