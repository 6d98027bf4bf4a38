//! The HTML report (`--html PATH` on `engine run` and `engine report merge`): the distro x suite
//! grid of the summary as one self-contained page, what people open from a CI job's artifacts.
//!
//! One file with its style inline and no script, no font, no image and no link to fetch: it
//! opens the same offline, on a phone (the grid scrolls sideways inside the page; the rest
//! reflows) and on paper. Each cell is a `<details>` that opens to its verdict, duration,
//! reason, diagnostic and output tail; the same details for every cell that did not pass follow
//! the grid, always open, for print. Cells carry `data-distro`, `data-suite` and `data-status`
//! for tools (and the test that reads the page through a browser's DOM).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::summary::{counts_line, symbol, Grid, NOT_APPLICABLE};
use crate::events::{NodeResult, Outcome, RunResult};
use crate::plan::{Node, NodeKind, Skipped};

const STYLE: &str = "
:root { color-scheme: light; --ok: #1a7f37; --fail: #cf222e; --infra: #8250df; --skip: #6e7781; }
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 1rem; color: #1f2328; }
h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
.meta, .counts { color: #57606a; margin: .2rem 0; overflow-wrap: anywhere; }
.verdict { font-weight: 600; }
.wrap { overflow-x: auto; margin: 1rem 0; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: center; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
th.suite { text-align: left; white-space: nowrap; }
summary { cursor: pointer; list-style: none; font-weight: 600; white-space: nowrap; }
summary::-webkit-details-marker { display: none; }
details[open] > summary { text-decoration: underline; }
.cell { text-align: left; min-width: 9rem; max-width: 40rem; font-size: .9rem; margin-top: .3rem; }
.passed, .cached, .flaky { color: var(--ok); }
.failed, .timed_out { color: var(--fail); }
.infra, .dependency_failed { color: var(--infra); }
.skipped, .xfail, .cancelled, .na { color: var(--skip); }
pre { background: #f6f8fa; padding: .4rem; overflow-x: auto; font-size: .8rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.problem { border-left: 4px solid currentColor; padding: .2rem .8rem; margin: .8rem 0; }
.problem > div { color: #1f2328; }
.legend span { margin-right: 1rem; white-space: nowrap; }
@media print { .wrap { overflow: visible; } summary { text-decoration: none; } pre { white-space: pre-wrap; } }
";

/// The status word of an outcome, as report.json spells it (also the cell's CSS class).
fn status(o: &Outcome) -> String {
    serde_json::to_value(super::json::Status::from(o))
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The symbol shown with a cell's word, so that the grid reads without colour too.
fn mark(o: &Outcome) -> &'static str {
    match o {
        Outcome::Passed | Outcome::Cached => "\u{2713}",
        Outcome::Flaky { .. } => "\u{2248}",
        Outcome::Failed { .. } => "\u{2717}",
        Outcome::TimedOut { .. } => "\u{25d4}",
        Outcome::Infra { .. } | Outcome::DependencyFailed { .. } => "\u{26a0}",
        Outcome::Skipped { .. } | Outcome::Xfail => "\u{21b7}",
        Outcome::Cancelled => "\u{25a0}",
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page of `run`; `log_of` names each node's log (on the machine that ran it).
pub fn render(
    run: &RunResult,
    skipped: &[Skipped],
    log_of: impl Fn(&str) -> PathBuf,
    title: &str,
) -> String {
    let code = run.exit_code();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body>\n\
         <h1>{t}</h1>\n<p class=\"meta\">run {id}: <span class=\"verdict\">{v} (exit {code})</span></p>\n\
         <p class=\"counts\">{c}</p>\n",
        t = esc(title),
        id = esc(&run.run_id),
        v = esc(super::reporter::verdict(code)),
        c = esc(&counts_line(run, skipped)),
    );
    grid_table(&mut h, run, skipped, &log_of);
    legend(&mut h);
    problems(&mut h, run, &log_of);
    h.push_str("</body></html>\n");
    h
}

/// The distro x suite table, with the provision row first.
fn grid_table(
    h: &mut String,
    run: &RunResult,
    skipped: &[Skipped],
    log_of: &impl Fn(&str) -> PathBuf,
) {
    let grid = Grid::new(run, skipped);
    let mut by_pair: BTreeMap<(&str, &str), (&Node, &NodeResult)> = BTreeMap::new();
    for (n, r) in &run.results {
        let suite = match (n.kind, &n.suite) {
            (NodeKind::Suite, Some(s)) => s.as_str(),
            (NodeKind::Provision, _) => PROVISION_ROW,
            _ => continue,
        };
        by_pair.insert((suite, n.distro.as_str()), (n, r));
    }
    let reason_na: BTreeMap<(&str, &str), &str> = skipped
        .iter()
        .map(|s| ((s.suite.as_str(), s.distro.as_str()), s.reason.as_str()))
        .collect();
    h.push_str("<div class=\"wrap\"><table id=\"grid\">\n<tr><th class=\"suite\"></th>");
    for d in &grid.distros {
        let _ = write!(h, "<th scope=\"col\">{}</th>", esc(d));
    }
    h.push_str("</tr>\n");
    for s in std::iter::once(&PROVISION_ROW).chain(&grid.suites) {
        let _ = write!(h, "<tr><th class=\"suite\" scope=\"row\">{}</th>", esc(s));
        for d in &grid.distros {
            match by_pair.get(&(*s, *d)) {
                Some((n, r)) => cell(h, d, s, n, r, log_of),
                None if *s == PROVISION_ROW || grid.cell(s, d) == NOT_APPLICABLE => {
                    let why = reason_na.get(&(*s, *d)).copied();
                    na(h, d, s, why.unwrap_or("not part of this run"));
                }
                None => {
                    let _ = write!(
                        h,
                        "<td data-distro=\"{}\" data-suite=\"{}\"></td>",
                        esc(d),
                        esc(s)
                    );
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
}

/// The row of the provision nodes, as in the terminal's grid.
const PROVISION_ROW: &str = "(provision)";

fn legend(h: &mut String) {
    h.push_str("<p class=\"legend\">");
    for o in [
        Outcome::Passed,
        Outcome::Failed {
            reason: String::new(),
        },
        Outcome::TimedOut { after_secs: 0 },
        Outcome::Infra {
            reason: String::new(),
            kind: crate::events::InfraKind::Engine,
        },
        Outcome::Skipped {
            reason: String::new(),
        },
        Outcome::Cancelled,
    ] {
        let _ = write!(
            h,
            "<span class=\"{}\">{} {}</span> ",
            status(&o),
            mark(&o),
            esc(o.word())
        );
    }
    h.push_str("<span class=\"na\">- not applicable</span></p>\n");
}

/// Every node that did not pass, its details open (what prints).
fn problems(h: &mut String, run: &RunResult, log_of: &impl Fn(&str) -> PathBuf) {
    let problems: Vec<_> = run
        .results
        .iter()
        .filter(|(_, r)| super::summary::is_problem(&r.outcome))
        .collect();
    if problems.is_empty() {
        return;
    }
    h.push_str("<h2>What did not pass</h2>\n");
    for (n, r) in problems {
        let _ = writeln!(
            h,
            "<section class=\"problem {}\" id=\"{}\"><strong>{} {}</strong>{}</section>",
            status(&r.outcome),
            esc(&n.id),
            esc(r.outcome.word()),
            esc(&n.id),
            details(n, r, log_of)
        );
    }
}

fn cell(
    h: &mut String,
    distro: &str,
    suite: &str,
    n: &Node,
    r: &NodeResult,
    log_of: &impl Fn(&str) -> PathBuf,
) {
    let st = status(&r.outcome);
    let _ = write!(
        h,
        "<td data-distro=\"{}\" data-suite=\"{}\" data-status=\"{st}\"><details><summary class=\"{st}\">{} {}</summary>{}</details></td>",
        esc(distro),
        esc(suite),
        mark(&r.outcome),
        esc(symbol(&r.outcome)),
        details(n, r, log_of)
    );
}

fn na(h: &mut String, distro: &str, suite: &str, why: &str) {
    let _ = write!(
        h,
        "<td data-distro=\"{}\" data-suite=\"{}\" data-status=\"not_applicable\" class=\"na\" title=\"{}\">-</td>",
        esc(distro),
        esc(suite),
        esc(why)
    );
}

/// A node's verdict, duration, reason, diagnostic, tail and log.
fn details(n: &Node, r: &NodeResult, log_of: &impl Fn(&str) -> PathBuf) -> String {
    let mut d = String::from("<div class=\"cell\">");
    let _ = write!(
        d,
        "<div>{} in {:.1} s{}</div>",
        esc(&n.id),
        r.duration.as_secs_f64(),
        if r.attempts > 1 {
            format!(", {} attempts", r.attempts)
        } else {
            String::new()
        }
    );
    if let Some(reason) = r.outcome.reason() {
        let _ = write!(d, "<div><strong>{}</strong></div>", esc(&reason));
    }
    if let Some(diag) = &r.diagnostic {
        let _ = write!(d, "<pre>{}</pre>", esc(&strip_escapes(diag)));
    }
    if !r.tail.is_empty() {
        let _ = write!(d, "<pre>{}</pre>", esc(&r.tail.join("\n")));
    }
    let log = log_of(&n.id);
    if !log.as_os_str().is_empty() {
        let _ = write!(
            d,
            "<div class=\"meta\">log: {}</div>",
            esc(&log.display().to_string())
        );
    }
    d.push_str("</div>");
    d
}

fn strip_escapes(s: &str) -> String {
    String::from_utf8_lossy(&strip_ansi_escapes::strip(s.as_bytes())).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::InfraKind;
    use std::time::Duration;

    fn node(id: &str) -> Node {
        let parts: Vec<&str> = id.split(':').collect();
        Node {
            id: id.into(),
            kind: match parts[0] {
                "provision" => NodeKind::Provision,
                _ => NodeKind::Suite,
            },
            distro: parts[1].into(),
            suite: parts.get(2).map(|s| (*s).to_string()),
            cache_key: None,
            cached: None,
            why: Vec::new(),
        }
    }

    #[test]
    fn a_page_with_every_kind_of_cell_escaped_and_self_contained() {
        let mut failed = NodeResult::new(Outcome::Failed {
            reason: "execute exited with 1".into(),
        });
        failed.tail = vec!["<script>alert(1)</script> & more".into()];
        failed.duration = Duration::from_millis(1500);
        let run = RunResult {
            run_id: "r1".into(),
            run_dir: PathBuf::new(),
            results: vec![
                (node("provision:arch"), NodeResult::new(Outcome::Cached)),
                (node("suite:arch:ok"), NodeResult::new(Outcome::Passed)),
                (node("suite:arch:bad"), failed),
                (
                    node("suite:b:ok"),
                    NodeResult::new(Outcome::Infra {
                        reason: "locale missing".into(),
                        kind: InfraKind::Locale,
                    }),
                ),
            ],
            interrupted: false,
        };
        let skipped = vec![Skipped {
            distro: "b".into(),
            suite: "bad".into(),
            reason: "not in the suite's `distros`".into(),
        }];
        let page = render(
            &run,
            &skipped,
            |id| PathBuf::from(format!("/logs/{id}.log")),
            "t <x>",
        );
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<title>t &lt;x&gt;</title>"));
        assert!(page.contains("data-distro=\"arch\" data-suite=\"bad\" data-status=\"failed\""));
        assert!(page.contains("data-distro=\"b\" data-suite=\"ok\" data-status=\"infra\""));
        assert!(
            page.contains("data-distro=\"b\" data-suite=\"bad\" data-status=\"not_applicable\"")
        );
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
        assert!(!page.contains("<script"), "no script, escaped output only");
        // Nothing to fetch: no link, no source, no url().
        for outside in ["http://", "https://", "src=", "href=", "url(", "@import"] {
            assert!(!page.contains(outside), "{outside} in the page");
        }
        assert!(page.contains("<h2>What did not pass</h2>"));
        assert!(page.contains("id=\"suite:arch:bad\""));
    }
}
