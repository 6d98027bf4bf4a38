//! Exit codes shared by every command (see DESIGN.md section 2).

/// Everything passed.
pub const OK: i32 = 0;
/// A suite failed (a product failure).
pub const SUITE_FAILED: i32 = 1;
/// The matrix (or the command line) is invalid.
pub const INVALID: i32 = 2;
/// The infrastructure failed: the daemon, an image build, an unmet expectation of a distro.
pub const INFRA: i32 = 3;
/// The selection left no suite to run (`--allow-empty` makes that a success).
pub const NOTHING_TO_RUN: i32 = 4;
/// Interrupted by Ctrl-C or SIGTERM.
pub const INTERRUPTED: i32 = 130;
