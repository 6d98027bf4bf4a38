//! The command line: argument types (clap derive) and one module per subcommand.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub mod clean;
pub mod completions;
pub mod doctor;
pub mod error;
pub mod graph;
pub mod plan_cmd;
pub mod report_cmd;
pub mod run;
pub mod schema_cmd;
pub mod selection;
pub mod shell;
pub mod validate;

pub use crate::events::exit;

/// Test one piece of software on many Linux distributions at once, each in clean containers.
///
/// The matrix (matrix.toml or matrix.ncl) declares the distros, the cache mounts and the suites;
/// the engine checks it, plans the work as a graph and runs it in parallel on Docker.
#[derive(Debug, Parser)]
#[command(
    name = "engine",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The matrix file. Default: the nearest matrix.toml (else matrix.ncl) here or in a folder
    /// above.
    #[arg(
        short = 'm',
        long = "matrix",
        global = true,
        env = "ENGINE_MATRIX",
        value_name = "PATH"
    )]
    pub matrix: Option<PathBuf>,

    /// When to use colours.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Colours for stderr (errors, live lines, bars).
    pub fn stderr(self) -> bool {
        self.on(std::io::stderr().is_terminal(), &|k| std::env::var(k).ok())
    }

    /// Colours for stdout (the verdict grid).
    pub fn stdout(self) -> bool {
        self.on(std::io::stdout().is_terminal(), &|k| std::env::var(k).ok())
    }

    /// `--color always|never` win; under `auto`: a non-empty `NO_COLOR` turns colours off,
    /// else a `CLICOLOR_FORCE` other than 0 turns them on, else `CLICOLOR=0` turns them off,
    /// else colours when the stream is a terminal.
    fn on(self, terminal: bool, var: &dyn Fn(&str) -> Option<String>) -> bool {
        let set = |k: &str| var(k).filter(|v| !v.is_empty());
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if set("NO_COLOR").is_some() => false,
            ColorChoice::Auto if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") => true,
            ColorChoice::Auto if set("CLICOLOR").is_some_and(|v| v == "0") => false,
            ColorChoice::Auto => terminal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ColorChoice;

    #[test]
    fn colour_rules() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let auto = ColorChoice::Auto;
        assert!(auto.on(true, &env(&[])));
        assert!(!auto.on(false, &env(&[])));
        assert!(!auto.on(true, &env(&[("NO_COLOR", "1")])));
        assert!(
            auto.on(true, &env(&[("NO_COLOR", "")])),
            "an empty NO_COLOR is unset"
        );
        assert!(auto.on(false, &env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!auto.on(false, &env(&[("CLICOLOR_FORCE", "0")])));
        assert!(!auto.on(true, &env(&[("CLICOLOR", "0")])));
        assert!(!auto.on(false, &env(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")])));
        assert!(ColorChoice::Always.on(false, &env(&[("NO_COLOR", "1")])));
        assert!(!ColorChoice::Never.on(true, &env(&[("CLICOLOR_FORCE", "1")])));
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the matrix, its distro files and its suites; report every problem with its place.
    Validate(validate::Args),
    /// Print or write the JSON Schemas of the matrix, distro and suite files.
    Schema(schema_cmd::Args),
    /// Show the plan as a graph: base -> image -> provision -> suites, per distro.
    Graph(graph::GraphArgs),
    /// List the nodes of the plan, one per line.
    List(graph::ListArgs),
    /// Export the plan for a CI system: shards as a job matrix.
    Plan(plan_cmd::PlanArgs),
    /// Build, provision and run the suites on Docker, in parallel, and report.
    Run(run::RunArgs),
    /// Work with reports: `engine report merge` makes one result of a fan-out's shards.
    Report(report_cmd::ReportArgs),
    /// Build and provision the images only (no suites).
    Build(run::BuildArgs),
    /// Remove containers left by crashed or killed runs (by label; running runs are left alone).
    Clean(clean::CleanArgs),
    /// An interactive shell in a fresh container of a distro's provisioned image (with a
    /// suite's environment when one is named), removed on exit.
    Shell(shell::ShellArgs),
    /// Check what a run needs (Docker endpoint and socket, disk space, the runner, tools) and say
    /// what to fix; exit 3 when a run cannot go.
    Doctor(doctor::DoctorArgs),
    /// Print a shell's completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff): `engine man > ~/.local/share/man/man1/engine.1`.
    Man,
}

/// The matrix path the user meant.
/// `-m`, else the nearest `matrix.toml` (else `matrix.ncl`) in this folder or one above it, as
/// cargo finds Cargo.toml; else `matrix.toml` here (whose absence is then reported).
pub fn matrix_path(cli: &Cli) -> PathBuf {
    if let Some(m) = &cli.matrix {
        return m.clone();
    }
    let here = PathBuf::from(".");
    let cwd = std::env::current_dir().unwrap_or_else(|_| here.clone());
    for dir in cwd.ancestors() {
        for name in ["matrix.toml", "matrix.ncl"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                // Relative when it is here, so that messages read as before.
                return if dir == cwd {
                    PathBuf::from(name)
                } else {
                    candidate
                };
            }
        }
    }
    here.join("matrix.toml")
        .strip_prefix(".")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("matrix.toml"))
}

/// Parse the command line and run; returns the process exit code.
pub fn main() -> i32 {
    use clap::{CommandFactory, FromArgMatches};
    // `--version` also says which runner this engine mounts into containers.
    let long_version: &'static str = Box::leak(
        format!(
            "{}\n{}",
            env!("CARGO_PKG_VERSION"),
            crate::runner_binary::version_note()
        )
        .into_boxed_str(),
    );
    let matches = Cli::command().long_version(long_version).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let result = match &cli.command {
        Command::Validate(args) => validate::run(&cli, args),
        Command::Schema(args) => schema_cmd::run(args),
        Command::Graph(args) => graph::graph(&cli, args),
        Command::List(args) => graph::list(&cli, args),
        Command::Plan(args) => plan_cmd::plan(&cli, args),
        Command::Run(args) => run::run(&cli, args),
        Command::Report(args) => report_cmd::run(&cli, args),
        Command::Build(args) => run::build(&cli, args),
        Command::Clean(args) => clean::run(&cli, args),
        Command::Shell(args) => shell::run(&cli, args),
        Command::Doctor(args) => doctor::run(&cli, args),
        Command::Completions(args) => completions::completions(args),
        Command::Man => completions::man(),
    };
    error::finish(result, cli.color.stderr())
}
