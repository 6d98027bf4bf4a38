//! The fast tier: the engine's command line without Docker. `cargo test` runs it (with the unit
//! tests) in seconds once built; the Docker tier (`tests/docker/`) runs under scripts/test.sh.
//!
//! - [`archive`]: a workspace given as a source archive, unpacked into the cache
//! - [`ci_export`]: the example GitHub workflow and `engine plan --format gitlab`, schema-checked
//! - [`completions`]: `engine completions SHELL` and `engine man`
//! - [`validate`]: `engine validate` and `engine schema` on the repository's files
//! - [`corpus`]: every broken file of `engine/tests/corpus/` reported at its place (snapshots)
//! - [`plan`]: `graph`, `list` and `plan` output (snapshots), selection and shards
//! - [`host`]: host execution as a grant (validate lists it; scripts stay in the project)
//! - [`keys`]: which edits change which cache keys (on a copy of the root matrix)
//! - [`lint`]: `validate --lint` with the real shellcheck, findings at their place in the task file
//! - [`fuzz`]: no input makes the loader panic (property tests; `PROPTEST_CASES` scales them)
//! - [`spread`]: spread's task.yaml keys (systems, backends, variants, manual, priority, debug) and their list rules
//! - [`variants`]: task.toml's `[variants.NAME]`, each variant a node
//! - [`seed_tree`]: the seed project's `tests/` tree as it is (support folders, task.yaml rules)

mod archive;
mod ci_export;
mod common;
mod completions;
mod corpus;
mod fuzz;
mod host;
mod keys;
mod lint;
mod plan;
mod seed_tree;
mod spread;
mod validate;
mod variants;
