//! `engine validate`: load and check the matrix, print every diagnostic, or a one-line summary.

use std::io::Write;

use clap::ValueEnum;
use serde::Serialize;

use crate::spec::host_grants::{describe, host_grants, HostGrant};

use super::{exit, matrix_path, Cli};
use crate::spec::diag::{render, JsonDiagnostic, RenderOptions};
use crate::spec::{self, Loaded};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format of the diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Print the resolved matrix (defaults applied, paths absolute) as JSON.
    #[arg(long)]
    pub dump: bool,
    /// List every diagnostic code with what it means, and exit.
    #[arg(long)]
    pub list_codes: bool,
    /// Also check every suite script and provision step with shellcheck, as the runner runs
    /// them (`bash -eu`); findings are warnings, or errors with `--lint=error`.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "warn", value_name = "LEVEL")]
    pub lint: Option<LintLevel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintLevel {
    /// Findings are warnings: the matrix stays valid.
    Warn,
    /// Findings are errors: exit 2.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Serialize)]
struct JsonOutput<'a> {
    valid: bool,
    matrix: String,
    summary: Option<Summary>,
    diagnostics: Vec<JsonDiagnostic>,
    /// What the matrix makes the engine run on the host (rootfs scripts, `$(HOST: ...)`).
    host_exec: Vec<HostGrant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved: Option<&'a spec::Matrix>,
}

#[derive(Serialize)]
struct Summary {
    distros: usize,
    suites: usize,
    cache_mounts: usize,
    /// Distro x suite pairs that run (the plan's suite nodes).
    suite_runs: usize,
    /// Pairs that do not apply (a suite's `distros` list, a locale the distro does not declare).
    not_applicable: usize,
}

fn summary(m: &spec::Matrix) -> Summary {
    let plan = crate::plan::Plan::build(m, None);
    Summary {
        distros: m.distros.len(),
        suites: m.suites.len(),
        cache_mounts: m.caches.mounts.len(),
        suite_runs: plan.suite_nodes().count(),
        not_applicable: plan.skipped.len(),
    }
}

/// Print the diagnostics of a load for people, on stderr.
pub fn print_diagnostics(loaded: &Loaded, color: bool) {
    let width = terminal_width();
    let mut err = std::io::stderr().lock();
    for d in &loaded.diagnostics {
        let _ = write!(err, "{}", render(d, RenderOptions { color, width }));
    }
    let n = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
    if n > 0 {
        let _ = writeln!(
            err,
            "error: the matrix is invalid ({n} problem{})",
            if n == 1 { "" } else { "s" }
        );
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

/// The verdict of validation is the exit code: 0 valid, 2 invalid.
pub fn run(cli: &Cli, args: &Args) -> super::error::CliResult {
    if args.list_codes {
        print!("{}", crate::spec::codes::table());
        return Ok(exit::OK);
    }
    let path = matrix_path(cli);
    let mut loaded = spec::load(&path);
    if let (Some(level), Some(m)) = (args.lint, &loaded.matrix) {
        if !loaded.has_errors() {
            let found = crate::lint::lint(&loaded, m, level == LintLevel::Error)
                .map_err(super::error::CliError::Lint)?;
            loaded.diagnostics.extend(found);
        }
    }
    let name = loaded
        .origins
        .matrix
        .map(|id| loaded.sources.get(id).name.clone())
        .unwrap_or_else(|| path.display().to_string());
    let valid = !loaded.has_errors() && loaded.matrix.is_some();
    match args.format {
        Format::Json => {
            let out = JsonOutput {
                valid,
                matrix: name,
                summary: loaded.matrix.as_ref().map(summary),
                diagnostics: loaded.diagnostics.iter().map(|d| d.to_json()).collect(),
                host_exec: loaded.matrix.as_ref().map(host_grants).unwrap_or_default(),
                resolved: if args.dump {
                    loaded.matrix.as_ref()
                } else {
                    None
                },
            };
            let mut stdout = std::io::stdout().lock();
            let _ = serde_json::to_writer_pretty(&mut stdout, &out);
            let _ = writeln!(stdout);
        }
        Format::Human => {
            print_diagnostics(&loaded, cli.color.stderr());
            if let (true, Some(m)) = (valid, &loaded.matrix) {
                if args.dump {
                    let mut stdout = std::io::stdout().lock();
                    let _ = serde_json::to_writer_pretty(&mut stdout, m);
                    let _ = writeln!(stdout);
                } else {
                    let s = summary(m);
                    let na = if s.not_applicable > 0 {
                        format!(
                            " ({} pairs not applicable: `engine list --why`)",
                            s.not_applicable
                        )
                    } else {
                        String::new()
                    };
                    println!(
                        "{name} is valid: {} distros, {} suites, {} cache mounts, {} suite runs{na}",
                        s.distros, s.suites, s.cache_mounts, s.suite_runs
                    );
                    let grants = host_grants(m);
                    if !grants.is_empty() {
                        println!(
                            "runs on the host, as {} (refuse with --no-host-exec):",
                            host_user()
                        );
                        for line in describe(&grants.iter().collect::<Vec<_>>()) {
                            println!("  {line}");
                        }
                    }
                }
            }
        }
    }
    Ok(if valid { exit::OK } else { exit::INVALID })
}

/// Who host commands run as: the engine's own user.
pub fn host_user() -> String {
    match rustix::process::getuid().as_raw() {
        0 => "root".to_string(),
        uid => std::env::var("USER")
            .map(|u| format!("{u} (uid {uid})"))
            .unwrap_or_else(|_| format!("uid {uid}")),
    }
}
