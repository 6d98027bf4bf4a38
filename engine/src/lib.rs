//! `engine`: a declarative test-matrix engine that runs end-to-end suites of a system tool on many
//! Linux distributions, each in clean Docker containers.
//!
//! # Architecture
//!
//! ```text
//!  matrix.toml / .ncl, distros/*.toml, suites/*/task.{toml,yaml}
//!        |
//!        v
//!  spec/      load with spans, JSON Schema check, semantic checks  -> Matrix (checked model)
//!        |                                                            + diagnostics (miette)
//!        v
//!  plan/      petgraph DAG base -> image -> provision -> suite, cache keys, selection, shards
//!        |        (build_context/: the files an image build reads, hashed for its key)
//!        v
//!  exec/      scheduler (limits, exclusive mounts, fail-fast, Ctrl-C) and each node's work
//!        |        '--> docker/   bollard only: import, build, run, commit, clean by label
//!        |        '--> runner (in the container, runner_binary/): protocol events on a file
//!        v
//!  events/    RunEvent, Outcome, RunResult, exit codes: what exec produces ...
//!        |
//!        v
//!  report/    ... and what the displays and files consume: bars, lines, summary, report.json,
//!             JUnit, JSON Lines, GitHub Actions
//!  cli/       the commands, composing the layers above; the only place that prints for a command
//! ```
//!
//! Each module imports only the modules above it in this picture (`layers.rs` checks it); `files`
//! (atomic writes) is a leaf anyone may use.

// Functions stay short enough to read at once (clippy's default limit, 100 lines).
#![warn(clippy::too_many_lines)]

pub mod archive;
pub mod build_context;
pub mod cli;
pub mod docker;
pub mod events;
pub mod exec;
pub mod files;
pub mod lint;
pub mod plan;
pub mod report;
pub mod runner_binary;
pub mod spec;

#[cfg(test)]
mod layers;
