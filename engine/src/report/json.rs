//! The JSON report of a run (`--report PATH`, and always `.engine/runs/<id>/report.json`).

use serde::Serialize;

use crate::exec::run::RunResult;
use crate::exec::NodeResult;
use crate::plan::{Node, Skipped};

#[derive(Serialize)]
pub struct Report<'a> {
    pub version: u32,
    pub run_id: &'a str,
    pub exit_code: i32,
    pub interrupted: bool,
    pub nodes: Vec<ReportNode<'a>>,
    pub skipped: &'a [Skipped],
}

#[derive(Serialize)]
pub struct ReportNode<'a> {
    #[serde(flatten)]
    pub node: &'a Node,
    #[serde(flatten)]
    pub result: &'a NodeResult,
    pub log: String,
}

pub fn render(run: &RunResult, skipped: &[Skipped], log_of: impl Fn(&str) -> std::path::PathBuf) -> String {
    let report = Report {
        version: 1,
        run_id: &run.run_id,
        exit_code: run.exit_code(),
        interrupted: run.interrupted,
        nodes: run
            .results
            .iter()
            .map(|(n, r)| ReportNode {
                node: n,
                result: r,
                log: log_of(&n.id).display().to_string(),
            })
            .collect(),
        skipped,
    };
    let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
    s.push('\n');
    s
}
