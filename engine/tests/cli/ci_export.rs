//! The CI exports: `examples/ci/github-actions.yml` and `engine plan --format gitlab`, checked
//! against the GitHub Actions and GitLab CI JSON Schemas that `check-jsonschema` ships, for
//! their structure, and for every `engine` command in them against the engine's own options.
//! `actionlint` also runs on the workflow where it is installed.

use std::path::Path;
use std::process::Command;

use crate::common::{engine, repo_root, stderr, stdout};

/// check-jsonschema and Python's yaml are test dependencies (scripts/install-test-deps.sh);
/// without them, a loud skip (a failure under CI=true).
fn have_tools() -> bool {
    let ok = Command::new("check-jsonschema")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("python3")
            .args(["-c", "import yaml"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "check-jsonschema and python3's yaml are required under CI (scripts/install-test-deps.sh)"
        );
        eprintln!("\n=== SKIP CI export tests: no check-jsonschema or python3 yaml ===\n");
    }
    ok
}

fn schema_check(builtin: &str, file: &Path) {
    let out = Command::new("check-jsonschema")
        .args(["--builtin-schema", builtin])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} is not valid against {builtin}:\n{}{}",
        file.display(),
        stdout(&out),
        stderr(&out)
    );
}

/// A YAML file as JSON, read by Python's yaml (an independent reader).
fn yaml(file: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every `--flag` of every `engine SUBCOMMAND ...` line in `script` is one the subcommand has.
fn engine_commands_exist(script: &str) -> usize {
    let mut checked = 0;
    for line in script.lines() {
        let Some(rest) = line.trim().strip_prefix("engine ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let sub: Vec<&str> = match words.next() {
            Some("report") => vec!["report", words.next().unwrap_or("")],
            Some(s) => vec![s],
            None => continue,
        };
        let mut help_args = sub.clone();
        help_args.push("--help");
        let help = engine(&repo_root(), &help_args);
        assert!(
            help.status.success(),
            "`engine {}` does not exist",
            sub.join(" ")
        );
        let help = stdout(&help);
        for flag in words.filter(|w| w.starts_with("--")) {
            let flag = flag.split('=').next().unwrap_or(flag);
            assert!(
                help.contains(flag),
                "`engine {}` has no {flag} (in `{line}`)",
                sub.join(" ")
            );
        }
        checked += 1;
    }
    checked
}

#[test]
fn the_example_github_workflow_is_valid_and_wired_as_documented() {
    if !have_tools() {
        return;
    }
    let file = repo_root().join("examples/ci/github-actions.yml");
    schema_check("vendor.github-workflows", &file);
    schema_check("custom.github-workflows-require-timeout", &file);
    if Command::new("actionlint").arg("-version").output().is_ok() {
        let out = Command::new("actionlint").arg(&file).output().unwrap();
        assert!(out.status.success(), "actionlint:\n{}", stdout(&out));
    }
    let w = yaml(&file);
    let jobs = &w["jobs"];
    assert_eq!(
        jobs["plan"]["outputs"]["matrix"],
        "${{ steps.plan.outputs.matrix }}"
    );
    assert_eq!(
        jobs["shard"]["strategy"]["matrix"],
        "${{ fromJSON(needs.plan.outputs.matrix) }}"
    );
    assert_eq!(jobs["shard"]["strategy"]["fail-fast"], false);
    assert_eq!(jobs["merge"]["needs"], "shard");
    assert_eq!(jobs["merge"]["if"], "always()");
    // The scripts' engine commands, with the plan's own job command for the matrix's.
    let plan = stdout(&engine(&repo_root(), &["plan", "--shards", "4"]));
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let command = plan["include"][0]["command"].as_str().unwrap();
    let mut scripts = String::new();
    for job in jobs.as_object().unwrap().values() {
        for step in job["steps"].as_array().unwrap() {
            if let Some(run) = step["run"].as_str() {
                scripts.push_str(&run.replace("${{ matrix.command }}", command));
                scripts.push('\n');
            }
        }
    }
    // The plan's arguments, all that the script may give it.
    let all_args = "--shards 4 --timings timings.json --rerun-failed rerun/report.json";
    let checked = engine_commands_exist(&scripts.replace("\"${args[@]}\"", all_args));
    // engine plan, engine run (the matrix's command), engine report merge.
    assert_eq!(checked, 3, "{scripts}");
}

#[test]
fn the_gitlab_pipeline_is_valid_with_a_job_per_shard_and_a_merge() {
    if !have_tools() {
        return;
    }
    let out = engine(
        &repo_root(),
        &["plan", "--format", "gitlab", "--shards", "3", ":enable-*"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("engine-pipeline.yml");
    std::fs::write(&file, stdout(&out)).unwrap();
    schema_check("vendor.gitlab-ci", &file);
    let p = yaml(&file);
    assert_eq!(p["stages"], serde_json::json!(["test", "report"]));
    let mut scripts = String::new();
    for k in 1..=3 {
        let job = &p[format!("engine shard {k}/3")];
        assert_eq!(job["stage"], "test", "{p}");
        let script = job["script"][0].as_str().unwrap();
        assert_eq!(
            script,
            format!(
                "engine run --shard {k}/3 ':enable-*' --report report-{k}.json --junit junit-{k}.xml"
            )
        );
        assert_eq!(job["artifacts"]["when"], "always");
        assert_eq!(
            job["artifacts"]["reports"]["junit"],
            format!("junit-{k}.xml")
        );
        scripts.push_str(script);
        scripts.push('\n');
    }
    let merge = &p["engine merge"];
    assert_eq!(merge["when"], "always");
    let script = merge["script"][0].as_str().unwrap();
    assert_eq!(
        script,
        "engine report merge report-1.json report-2.json report-3.json --report report.json --junit junit.xml"
    );
    scripts.push_str(script);
    assert_eq!(engine_commands_exist(&scripts), 4);
}
