//! Results for people and tools: the live lines or bars, the summary grid, the JSON report, JUnit
//! XML, the JSON Lines event stream and GitHub Actions annotations.
//!
//! - [`reporter`]: ties them together for one `engine run` (what to show, where to write)
//! - [`live`]: plain timestamped lines (no terminal, CI); [`progress`]: bars on a terminal
//! - [`summary`]: the grid and problem lines, [`paint`]: their colours; [`json`]: the report and its schema's types
//! - [`junit`], [`jsonl`], [`github`]: the formats for other tools; [`html`]: the grid as one page
//! - [`merge`]: the reports of a fan-out's shards as one run (`engine report merge`)
//! - [`diagnostic`]: prints an error with miette (every command's errors look alike)

pub mod diagnostic;
pub mod github;
pub mod html;
pub mod json;
pub mod jsonl;
pub mod junit;
pub mod live;
pub mod merge;
pub mod paint;
pub mod progress;
pub mod reporter;
pub mod sanitize;
pub mod summary;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::spec::Loaded;

pub use crate::files::write_atomic;

/// The files that declare each suite and distro, as the user would type their paths: reports
/// point at them (GitHub annotations, the JUnit `file` attribute).
#[derive(Debug, Clone, Default)]
pub struct SourceFiles {
    /// suite name -> its task file.
    pub suites: BTreeMap<String, PathBuf>,
    /// distro name -> the file that declares it (its own file, or the matrix for inline ones).
    pub distros: BTreeMap<String, PathBuf>,
}

impl SourceFiles {
    pub fn of(loaded: &Loaded) -> SourceFiles {
        let path = |id| {
            PathBuf::from(crate::spec::source::display_name(
                &loaded.sources.get(id).path,
            ))
        };
        SourceFiles {
            suites: loaded
                .origins
                .suites
                .iter()
                .map(|(name, o)| (name.clone(), path(o.file)))
                .collect(),
            distros: loaded
                .origins
                .distros
                .iter()
                .map(|(name, o)| (name.clone(), path(o.file)))
                .collect(),
        }
    }

    /// The task file of a suite, or of the suite a variant (`x:de`) belongs to.
    pub fn suite(&self, name: &str) -> Option<&PathBuf> {
        self.suites.get(crate::spec::matrix::family(name))
    }
}
