//! Executing a plan: the scheduler over the DAG, and the work of each kind of node on Docker.

pub mod base;
pub mod context;
pub mod diagnostics;
pub mod events;
pub mod host;
pub mod image;
pub mod locks;
pub mod log;
pub mod provision;
pub mod run;
pub mod runs;
pub mod scheduler;
pub mod shell;
pub mod specs;
pub mod status;
pub mod suite;
pub mod why;

pub use crate::events::{NodeResult, Outcome};
