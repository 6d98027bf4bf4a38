//! Tells dependents where this crate's sources are (`DEP_ENGINE_RUNNER_SRC`): the engine's build
//! script builds the runner binary from them for a static target and embeds it. Through `links`
//! metadata this works in the workspace and for a crate installed from a registry alike.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    println!("cargo:src={dir}");
    println!("cargo:rerun-if-changed=build.rs");
}
