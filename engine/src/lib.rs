//! `engine`: a declarative test-matrix engine that runs end-to-end suites of a system tool on many
//! Linux distributions, each in clean Docker containers.
//!
//! Where things live: [`spec`] parses and checks the matrix; [`plan`] builds the graph of work;
//! `exec` schedules it; [`docker`] is the only place that talks to Docker; `report` writes results;
//! [`runner_binary`] is the in-container runner built into the engine; [`cli`] is the command line.

pub mod cli;
pub mod docker;
pub mod exec;
pub mod plan;
pub mod report;
pub mod runner_binary;
pub mod spec;
