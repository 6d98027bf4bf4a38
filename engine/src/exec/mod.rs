//! Executing a plan: the scheduler over the DAG, and the work of each kind of node on Docker.

pub mod outcome;
pub mod scheduler;

pub use outcome::{NodeResult, Outcome};
