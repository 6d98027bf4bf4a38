//! JUnit XML (`engine run --junit PATH`), for CI systems that merge and display test results.
//!
//! One `<testsuite>` per distro, one `<testcase>` per suite (classname = distro, name = suite).
//! The mapping keeps product and infrastructure failures apart, as every report does:
//!
//! | verdict                        | JUnit                                        |
//! |--------------------------------|----------------------------------------------|
//! | passed                         | success                                      |
//! | flaky                          | success with a `<flakyFailure>` per failed attempt |
//! | failed                         | `<failure type="failure">`, the output tail as text |
//! | timed out                      | `<failure type="timeout">`                   |
//! | infra, dependency failed       | `<error>` (not a failure: the product was not judged) |
//! | skipped, xfail, cancelled      | `<skipped>` with the reason                  |
//! | not applicable (plan.skipped)  | `<skipped type="not-applicable">`            |

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::SourceFiles;
use crate::events::RunResult;
use crate::events::{NodeResult, Outcome};
use crate::plan::{NodeKind, Skipped};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot render the JUnit XML: {0}")]
#[diagnostic(code(report::junit))]
pub struct JunitError(#[from] quick_junit::SerializeError);

/// The JUnit XML of a run, as text.
pub fn render(
    run: &RunResult,
    skipped: &[Skipped],
    files: &SourceFiles,
) -> Result<String, JunitError> {
    Ok(build(run, skipped, files).to_string()?)
}

/// The JUnit report of a run. `skipped` are the not-applicable pairs of the plan.
pub fn build(run: &RunResult, skipped: &[Skipped], files: &SourceFiles) -> Report {
    // Distros in plan order: the order people see in the live lines.
    let mut order: Vec<&str> = Vec::new();
    for (n, _) in &run.results {
        if !order.contains(&n.distro.as_str()) {
            order.push(&n.distro);
        }
    }
    let mut suites: BTreeMap<&str, TestSuite> =
        order.iter().map(|d| (*d, TestSuite::new(*d))).collect();
    let reasons: BTreeMap<&str, &NodeResult> = run
        .results
        .iter()
        .map(|(n, r)| (n.id.as_str(), r))
        .collect();
    let mut first_start: BTreeMap<&str, SystemTime> = BTreeMap::new();
    let mut total: BTreeMap<&str, Duration> = BTreeMap::new();

    for (n, r) in &run.results {
        if let Some(s) = r.started {
            first_start
                .entry(&n.distro)
                .and_modify(|t| *t = (*t).min(s))
                .or_insert(s);
        }
        let (NodeKind::Suite, Some(name)) = (n.kind, &n.suite) else {
            continue;
        };
        let mut case = TestCase::new(name.as_str(), status(r, &reasons));
        case.set_classname(n.distro.as_str());
        case.set_time(r.duration);
        if let Some(t) = r.started {
            case.set_timestamp(stamp(t));
        }
        if let Some(file) = files.suite(name) {
            case.extra
                .insert("file".into(), file.display().to_string().into());
        }
        // The attachment convention of Jenkins and GitLab: the suite's artifacts folder.
        if let Some(a) = &r.artifacts {
            let path =
                std::path::absolute(run.run_dir.join(a)).unwrap_or_else(|_| run.run_dir.join(a));
            case.set_system_out(format!("[[ATTACHMENT|{}]]", path.display()));
        }
        *total.entry(&n.distro).or_default() += r.duration;
        if let Some(s) = suites.get_mut(n.distro.as_str()) {
            s.add_test_case(case);
        }
    }
    for s in skipped {
        let Some(suite) = suites.get_mut(s.distro.as_str()) else {
            continue;
        };
        let mut st = TestCaseStatus::skipped();
        st.set_type("not-applicable").set_message(s.reason.as_str());
        let mut case = TestCase::new(s.suite.as_str(), st);
        case.set_classname(s.distro.as_str());
        suite.add_test_case(case);
    }

    let mut report = Report::new("engine");
    for d in order {
        let Some(mut s) = suites.remove(d) else {
            continue;
        };
        s.add_property(Property::new("run_id", run.run_id.as_str()));
        if run.interrupted {
            // The run stopped half-way: say so where a reader of the XML looks.
            s.add_property(Property::new("interrupted", "true"));
        }
        if let Some(t) = first_start.get(d) {
            s.set_timestamp(stamp(*t));
        }
        s.set_time(total.get(d).copied().unwrap_or_default());
        // A distro whose provisioning failed: its diagnostic belongs to every suite of it.
        if let Some((_, r)) = run
            .results
            .iter()
            .find(|(n, r)| n.distro == d && n.kind != NodeKind::Suite && r.outcome.is_infra())
        {
            s.set_system_err(chain_failure(r));
        }
        report.add_test_suite(s);
    }
    if let Some(t) = run.results.iter().filter_map(|(_, r)| r.started).min() {
        report.set_timestamp(stamp(t));
    }
    report.set_time(run.results.iter().map(|(_, r)| r.duration).sum());
    report
}

/// The status of one suite node; `others` gives the results of the nodes it depends on, to
/// explain why it did not run.
fn status(r: &NodeResult, others: &BTreeMap<&str, &NodeResult>) -> TestCaseStatus {
    let tail = r.tail.join("\n");
    match &r.outcome {
        Outcome::Passed | Outcome::Cached => TestCaseStatus::success(),
        Outcome::Flaky { attempts } => {
            let mut st = TestCaseStatus::success();
            // Every attempt before the passing one failed.
            for k in 1..*attempts {
                let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                rerun
                    .set_type("failure")
                    .set_message(format!("attempt {k} of {attempts} failed"));
                st.add_rerun(rerun);
            }
            st
        }
        Outcome::Failed { reason } => {
            non_success(NonSuccessKind::Failure, "failure", reason, &tail)
        }
        Outcome::TimedOut { .. } => non_success(
            NonSuccessKind::Failure,
            "timeout",
            &r.outcome.reason().unwrap_or_default(),
            &tail,
        ),
        Outcome::Infra { reason, kind } => {
            let text = [r.diagnostic.clone().unwrap_or_default(), tail].join("\n");
            // `type` says which part of the infrastructure failed (`image_build`, `daemon`, ...).
            non_success(NonSuccessKind::Error, kind.as_str(), reason, text.trim())
        }
        Outcome::DependencyFailed { node } => {
            let why = others
                .get(node.as_str())
                .map(|d| chain_failure(d))
                .unwrap_or_default();
            non_success(
                NonSuccessKind::Error,
                "dependency",
                &format!("not run: {node} did not succeed"),
                &why,
            )
        }
        Outcome::Skipped { reason } => skipped("skipped", reason),
        Outcome::Xfail => skipped("xfail", "known failure (expect = \"xfail\")"),
        Outcome::Cancelled => skipped(
            "cancelled",
            "cancelled: the run was interrupted or failed fast",
        ),
    }
}

fn non_success(kind: NonSuccessKind, ty: &str, message: &str, text: &str) -> TestCaseStatus {
    let mut st = TestCaseStatus::non_success(kind);
    st.set_type(ty).set_message(message);
    if !text.is_empty() {
        st.set_description(text);
    }
    st
}

fn skipped(ty: &str, message: &str) -> TestCaseStatus {
    let mut st = TestCaseStatus::skipped();
    st.set_type(ty).set_message(message);
    st
}

/// What went wrong with an image or provision node, for the suites that could not run.
fn chain_failure(r: &NodeResult) -> String {
    let mut out = format!(
        "{}: {}",
        r.outcome.word(),
        r.outcome.reason().unwrap_or_default()
    );
    if let Some(d) = &r.diagnostic {
        out.push('\n');
        out.push_str(d);
    }
    for l in &r.tail {
        out.push('\n');
        out.push_str(l);
    }
    out
}

fn stamp(t: SystemTime) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::<chrono::Utc>::from(t).fixed_offset()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testing::{every_outcome, not_applicable};
    use std::path::PathBuf;

    fn case<'a>(r: &'a Report, distro: &str, name: &str) -> &'a TestCase {
        r.test_suites
            .iter()
            .find(|s| s.name.as_str() == distro)
            .and_then(|s| s.test_cases.iter().find(|c| c.name.as_str() == name))
            .unwrap_or_else(|| panic!("no {distro}/{name}"))
    }

    #[test]
    fn one_testsuite_per_distro_and_the_counts_of_each_kind() {
        let r = build(&every_outcome(), &not_applicable(), &SourceFiles::default());
        let names: Vec<&str> = r.test_suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["arch", "manjaro"]);
        // arch: ok, bad, slow, retry, known, german, killed, stop; manjaro: ok + german (n/a)
        assert_eq!(r.tests, 10);
        assert_eq!(r.failures, 2, "failed and timed out");
        assert_eq!(r.errors, 2, "infra and dependency failed");
        assert_eq!(r.skipped, 4, "skipped, xfail, cancelled, not applicable");
    }

    #[test]
    fn verdicts_map_to_the_documented_elements() {
        let r = build(&every_outcome(), &not_applicable(), &SourceFiles::default());
        let ty = |c: &TestCase| match &c.status {
            TestCaseStatus::NonSuccess { kind, ty, .. } => {
                format!("{kind:?}/{}", ty.as_ref().unwrap().as_str())
            }
            TestCaseStatus::Skipped { ty, .. } => {
                format!("Skipped/{}", ty.as_ref().unwrap().as_str())
            }
            TestCaseStatus::Success { flaky_runs } => format!("Success/{}", flaky_runs.len()),
        };
        assert_eq!(ty(case(&r, "arch", "ok")), "Success/0");
        assert_eq!(ty(case(&r, "arch", "retry")), "Success/1");
        assert_eq!(ty(case(&r, "arch", "bad")), "Failure/failure");
        assert_eq!(ty(case(&r, "arch", "slow")), "Failure/timeout");
        // An infrastructure error's type says which part failed.
        assert_eq!(ty(case(&r, "arch", "killed")), "Error/killed");
        assert_eq!(ty(case(&r, "manjaro", "ok")), "Error/dependency");
        assert_eq!(ty(case(&r, "arch", "german")), "Skipped/skipped");
        assert_eq!(ty(case(&r, "manjaro", "german")), "Skipped/not-applicable");
        assert_eq!(ty(case(&r, "arch", "stop")), "Skipped/cancelled");
        // The failure text is the output tail; the dependency error explains the provisioning.
        let TestCaseStatus::NonSuccess {
            description,
            message,
            ..
        } = &case(&r, "arch", "bad").status
        else {
            panic!()
        };
        assert!(description
            .as_ref()
            .unwrap()
            .as_str()
            .contains("+ test -L /usr/bin/ls"));
        assert_eq!(message.as_ref().unwrap().as_str(), "execute exited with 1");
        let TestCaseStatus::NonSuccess { description, .. } = &case(&r, "manjaro", "ok").status
        else {
            panic!()
        };
        assert!(description
            .as_ref()
            .unwrap()
            .as_str()
            .contains("AUR helper yay is missing"));
    }

    #[test]
    fn the_xml_escapes_output_and_reads_back() {
        let mut files = SourceFiles::default();
        files
            .suites
            .insert("bad".into(), PathBuf::from("suites/bad/task.toml"));
        let xml = render(&every_outcome(), &not_applicable(), &files).unwrap();
        assert!(
            xml.contains("&lt;boom&gt; &amp; &quot;quotes&quot;")
                || xml.contains("&lt;boom&gt; &amp; \"quotes\""),
            "{xml}"
        );
        assert!(
            !xml.contains('\u{1b}'),
            "control characters must not reach the XML"
        );
        assert!(xml.contains("file=\"suites/bad/task.toml\""));
        let back = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(
            (back.tests, back.failures, back.errors, back.skipped),
            (10, 2, 2, 4)
        );
    }

    #[test]
    fn an_interrupted_run_is_marked_on_every_testsuite() {
        let mut run = every_outcome();
        run.interrupted = true;
        let r = build(&run, &[], &SourceFiles::default());
        assert!(r.test_suites.iter().all(|s| s
            .properties
            .iter()
            .any(|p| p.name.as_str() == "interrupted")));
    }
}
