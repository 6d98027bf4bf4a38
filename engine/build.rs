//! Builds the in-container runner for a static Linux target and puts it in `OUT_DIR`, where the
//! engine embeds it (`include_bytes!`). So `cargo run`, `cargo install` and a registry install
//! all give an engine that needs no other file: the runner is written out on first use.
//!
//! The static target is `<arch>-unknown-linux-musl` for the engine's architecture: one file that
//! runs in any Linux container of that architecture (glibc of any age, musl, busybox). When the
//! target is missing, it is added through rustup; without rustup, the runner is built for the
//! engine's own target (dynamically linked) and cargo prints a warning naming what is missing.
//!
//! Set `ENGINE_RUNNER_TARGET` to choose another target.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ENGINE_RUNNER_TARGET");
    let src = match env::var("DEP_ENGINE_RUNNER_SRC") {
        Ok(s) if !s.is_empty() => PathBuf::from(s),
        _ => fail("the runner crate did not say where its sources are (DEP_ENGINE_RUNNER_SRC)"),
    };
    for watched in ["src", "protocol", "Cargo.toml", "build.rs"] {
        println!("cargo:rerun-if-changed={}", src.join(watched).display());
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    let own_target = env::var("TARGET").unwrap_or_default();

    let (target, note) = match env::var("ENGINE_RUNNER_TARGET") {
        Ok(t) if !t.is_empty() => (t, None),
        _ => choose_target(&format!("{arch}-unknown-linux-musl"), &own_target),
    };
    if let Some(note) = &note {
        println!("cargo:warning={note}");
    }
    let built = build_runner(&src, &out.join("runner-target"), &target);
    let embedded = out.join("runner");
    if let Err(e) = std::fs::copy(&built, &embedded) {
        fail(&format!(
            "cannot copy {} to {}: {e}",
            built.display(),
            embedded.display()
        ));
    }
    println!("cargo:rustc-env=ENGINE_RUNNER_TARGET={target}");
}

/// The static target when it is installed or rustup can add it; else the engine's own target,
/// with a note saying why.
fn choose_target(static_target: &str, own_target: &str) -> (String, Option<String>) {
    if target_installed(static_target) {
        return (static_target.to_string(), None);
    }
    let added = Command::new("rustup")
        .args(["target", "add", static_target])
        .stdout(std::io::stderr())
        .status();
    match added {
        Ok(s) if s.success() && target_installed(static_target) => {
            (static_target.to_string(), None)
        }
        Ok(_) | Err(_) if own_target.contains("linux") => (
            own_target.to_string(),
            Some(format!(
                "the static target {static_target} is not installed and rustup could not add it: \
                 the runner is built for {own_target} (dynamically linked; containers with an \
                 older C library than this host, or none, cannot run it). Fix: \
                 `rustup target add {static_target}`"
            )),
        ),
        _ => fail(&format!(
            "the runner must be built for Linux, and the target {static_target} is not \
             installed: run `rustup target add {static_target}`"
        )),
    }
}

/// Whether the standard library for `target` is in the compiler's sysroot.
fn target_installed(target: &str) -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir()
}

/// `cargo build --release` of the runner binary in its own target folder (so it never waits on
/// the lock of the build that runs this script). Returns the binary's path.
fn build_runner(src: &Path, target_dir: &Path, target: &str) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--bin", "runner", "--target", target])
        .arg("--manifest-path")
        .arg(src.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(src)
        // A small file to embed: no symbols.
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        // This script's stdout is read by cargo as directives.
        .stdout(std::io::stderr());
    // The outer build's settings are for the engine and its target, not for this one.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "building the runner for {target} failed ({s}); the errors are above"
        )),
        Err(e) => fail(&format!("cannot run cargo to build the runner: {e}")),
    }
    target_dir.join(target).join("release").join("runner")
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
