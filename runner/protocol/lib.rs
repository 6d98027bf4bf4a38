//! What the engine and the runner say to each other, and nothing else: this library is all the
//! engine links of the runner package (the runner's own work, users, setuid and all, lives in
//! its binary, `runner/src/`).
//!
//! - [`protocol`]: the JSON Lines events the runner writes and the engine reads.
//! - [`spec`]: what the engine asks (provision, suite), with the locale and AUR-helper policies
//!   that the matrix declares (their JSON Schema behind the `schema` feature, for the engine).

#[path = "events.rs"]
pub mod protocol;
pub mod spec;

/// The runner's version, part of the provision cache key.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
