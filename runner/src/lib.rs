//! The in-container runner of the distro test-matrix engine, and the types both sides use.
//!
//! - [`protocol`]: the JSON Lines events the runner writes and the engine reads.
//! - [`spec`]: what the engine asks (provision, suite).
//! - [`probe`], [`provision`], [`suite`]: the three commands; [`step`] runs one shell step.

pub mod locales;
pub mod osrelease;
pub mod probe;
pub mod protocol;
pub mod provision;
pub mod spec;
pub mod step;
pub mod suite;
pub mod system;
pub mod users;

/// The runner's version, part of the provision cache key.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
