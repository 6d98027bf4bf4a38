//! `engine schema`: the JSON Schemas generated from the model, and the Nickel contracts made from
//! them (`schema/engine.ncl`), printed or written to `schema/`.

use std::path::PathBuf;

use super::error::{CliError, CliResult};
use super::exit;
use crate::spec::schema::{render, to_text, FileKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write every schema into the folder instead of printing the matrix schema.
    #[arg(long)]
    pub write: bool,
    /// Fail (exit 2) when the files in the folder differ from the generated schemas.
    #[arg(long, conflicts_with = "write")]
    pub check: bool,
    /// Folder of the schema files.
    #[arg(long, default_value = "schema", value_name = "DIR")]
    pub dir: PathBuf,
    /// Which schema to print.
    #[arg(long, value_enum, default_value_t = Which::Matrix)]
    pub kind: Which,
    /// `nickel`: print the Nickel contracts for the matrix, distro and suite files (the
    /// committed `schema/engine.ncl`) instead of a JSON Schema.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Nickel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Matrix,
    Distro,
    Suite,
    SuiteYaml,
    /// The JSON report of `engine run` (not a file users write).
    Report,
}

pub fn run(args: &Args) -> CliResult {
    if args.write || args.check {
        let mut stale = Vec::new();
        for (file, want) in every_schema() {
            let path = args.dir.join(file);
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            if have == want {
                continue;
            }
            if args.check {
                stale.push(path.display().to_string());
                continue;
            }
            std::fs::create_dir_all(&args.dir)
                .and_then(|_| std::fs::write(&path, want))
                .map_err(|source| CliError::Write {
                    path: path.clone(),
                    source,
                })?;
            eprintln!("wrote {}", path.display());
        }
        if !stale.is_empty() {
            return Err(CliError::StaleSchemas(stale.join(", ")));
        }
        return Ok(exit::OK);
    }
    if args.format == Format::Nickel {
        print!("{}", crate::spec::schema_nickel::render());
        return Ok(exit::OK);
    }
    let text = match args.kind {
        Which::Matrix => render(FileKind::Matrix),
        Which::Distro => render(FileKind::Distro),
        Which::Suite => render(FileKind::Suite),
        Which::SuiteYaml => render(FileKind::LegacySuite),
        Which::Report => to_text(&crate::report::json::schema()),
    };
    print!("{text}");
    Ok(exit::OK)
}

/// Every committed schema: (file name under `schema/`, text). The files users write, then the
/// run report.
fn every_schema() -> Vec<(&'static str, String)> {
    let mut all: Vec<_> = FileKind::ALL
        .into_iter()
        .map(|k| (k.schema_file(), render(k)))
        .collect();
    all.push((
        crate::report::json::SCHEMA_FILE,
        to_text(&crate::report::json::schema()),
    ));
    all.push((
        crate::spec::schema_nickel::FILE,
        crate::spec::schema_nickel::render(),
    ));
    all
}
