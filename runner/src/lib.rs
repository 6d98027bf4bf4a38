//! The in-container runner of the distro test-matrix engine, and the types both sides use.
//!
//! - [`protocol`]: the JSON Lines events the runner writes and the engine reads.
//! - [`spec`]: what the engine asks (provision, suite).

pub mod protocol;
pub mod spec;

/// The runner's version, part of the provision cache key.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
