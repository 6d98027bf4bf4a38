//! A made-up run with every verdict the engine can give, for the unit tests of the renderings
//! (no Docker needed: the renderings only read results).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::events::RunResult;
use crate::events::{NodeResult, Outcome};
use crate::plan::{Node, NodeKind, Skipped};

fn node(kind: NodeKind, distro: &str, suite: Option<&str>) -> Node {
    Node {
        id: Node::id_for(kind, distro, suite),
        kind,
        distro: distro.into(),
        suite: suite.map(Into::into),
        cache_key: (kind != NodeKind::Suite).then(|| "0123456789abcdef0123".into()),
        cached: None,
        why: Vec::new(),
    }
}

fn timed(outcome: Outcome, secs: u64) -> NodeResult {
    let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut r = NodeResult::new(outcome);
    r.started = Some(started);
    r.finished = Some(started + Duration::from_secs(secs));
    r.duration = Duration::from_millis(secs * 1000 + 250);
    r.attempts = 1;
    r
}

/// arch: everything ran, with one suite per verdict; manjaro: provisioning failed, so its
/// suite did not run.
pub fn every_outcome() -> RunResult {
    use NodeKind::*;
    let suite = |d: &str, s: &str| node(Suite, d, Some(s));
    let mut flaky = timed(Outcome::Flaky { attempts: 2 }, 4);
    flaky.attempts = 2;
    let results = vec![
        (node(Base, "arch", None), timed(Outcome::Cached, 0)),
        (node(Image, "arch", None), timed(Outcome::Passed, 5)),
        (node(Provision, "arch", None), timed(Outcome::Passed, 7)),
        (suite("arch", "ok"), timed(Outcome::Passed, 2)),
        (
            suite("arch", "bad"),
            timed(
                Outcome::Failed {
                    reason: "execute exited with 1".into(),
                },
                1,
            )
            .with_tail(vec![
                "+ test -L /usr/bin/ls".into(),
                "<boom> & \"quotes\" \u{1b}[31mred\u{1b}[0m".into(),
            ]),
        ),
        (
            suite("arch", "slow"),
            timed(Outcome::TimedOut { after_secs: 3 }, 3).with_tail(vec!["sleeping".into()]),
        ),
        (suite("arch", "retry"), flaky),
        (suite("arch", "known"), timed(Outcome::Xfail, 1)),
        (
            suite("arch", "german"),
            NodeResult::new(Outcome::Skipped {
                reason: "locale de_DE.UTF-8 is missing on arch (on_missing_locale = \"skip\")"
                    .into(),
            }),
        ),
        (
            suite("arch", "killed"),
            timed(
                Outcome::Infra {
                    reason: "the suite container was killed from outside".into(),
                    kind: crate::events::InfraKind::Killed,
                },
                1,
            )
            .with_tail(vec!["last words".into()]),
        ),
        (suite("arch", "stop"), NodeResult::new(Outcome::Cancelled)),
        (node(Base, "manjaro", None), timed(Outcome::Cached, 0)),
        (node(Image, "manjaro", None), timed(Outcome::Cached, 0)),
        (
            node(Provision, "manjaro", None),
            timed(
                Outcome::Infra {
                    reason: "AUR helper yay is missing (policy require)".into(),
                    kind: crate::events::InfraKind::AurHelper,
                },
                2,
            )
            .with_diagnostic(Some(
                "  × no AUR helper\n   ╭─[distros/manjaro.toml:3:1]\n".into(),
            )),
        ),
        (
            suite("manjaro", "ok"),
            NodeResult::new(Outcome::DependencyFailed {
                node: "provision:manjaro".into(),
            }),
        ),
    ];
    RunResult {
        run_id: "20240101-000000-abcd".into(),
        run_dir: PathBuf::from("/state/.engine/runs/20240101-000000-abcd"),
        results,
        interrupted: false,
    }
}

pub fn not_applicable() -> Vec<Skipped> {
    vec![Skipped {
        distro: "manjaro".into(),
        suite: "german".into(),
        reason: "manjaro does not declare de_DE.UTF-8".into(),
    }]
}
