//! `engine completions SHELL` and `engine man`: shell completions and a man page, generated
//! from the same clap definitions as the parser, so they never drift from the real options.

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;

use super::error::{CliError, CliResult};
use super::{exit, Cli};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The completion script of a shell, on stdout: `engine completions bash >
/// ~/.local/share/bash-completion/completions/engine`.
pub fn completions(args: &CompletionsArgs) -> CliResult {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "engine", &mut script);
    to_stdout(&script)
}

/// The man page (roff), on stdout: `engine man > ~/.local/share/man/man1/engine.1`.
pub fn man() -> CliResult {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(stdout_error)?;
    to_stdout(&page)
}

fn to_stdout(bytes: &[u8]) -> CliResult {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(stdout_error)?;
    Ok(exit::OK)
}

fn stdout_error(source: std::io::Error) -> CliError {
    CliError::Write {
        path: PathBuf::from("standard output"),
        source,
    }
}
