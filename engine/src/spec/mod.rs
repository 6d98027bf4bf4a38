//! The matrix spec: the types users write, loading (TOML with spans, Nickel), the JSON Schema check,
//! semantic checks, and diagnostics that underline the exact place in the user's file.

pub mod checks;
pub mod codes;
pub mod diag;
pub mod glob;
pub mod host_grants;
pub mod load;
pub mod locale;
pub mod matrix;
pub mod model;
pub mod nickel;
pub mod reference;
pub mod schema;
pub mod schema_nickel;
pub mod source;
pub mod suggest;
pub mod toml_value;
pub mod variants;
pub mod yaml_value;

pub use diag::SpecDiagnostic;
pub use load::{load, Loaded, Origin, Origins};
pub use matrix::Matrix;
