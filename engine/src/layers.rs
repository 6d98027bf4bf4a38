//! The guard of the architecture: each top-level module of the engine may use only the modules
//! below it in [`LAYERS`], so no two modules import each other, directly or through others, and
//! nothing but `cli` imports `cli`. Read from the sources, tests included.

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first. A module may import the modules listed before it, never one after it or one
/// on its own line.
const LAYERS: &[&[&str]] = &[
    // Leaves: no engine module below them.
    &["files", "build_context", "runner_binary"],
    // A workspace from a source archive, unpacked into the machine cache.
    &["archive"],
    // The checked model of the user's files.
    &["spec"],
    // The graph of work, from the model; the shell lint of its scripts.
    &["plan", "lint"],
    // The daemon, which knows nothing of matrices or plans.
    &["docker"],
    // The run's vocabulary: what exec produces and report consumes.
    &["events"],
    // Producing: the scheduler and each node's work on Docker.
    &["exec"],
    // Consuming: displays and files.
    &["report"],
    // Composing: the command line.
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules a source text names through `crate::NAME`.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        // `engine::crate::` does not exist; `$crate::` only in macros, which we do not write.
        let before = text[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let name: String = text[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// Every `.rs` file of a module: `src/NAME.rs` or everything under `src/NAME/`.
fn files_of(src: &Path, module: &str) -> Vec<std::path::PathBuf> {
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut out = Vec::new();
    let mut stack = vec![src.join(module)];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let mut problems = Vec::new();
    for module in &declared {
        let Some(own) = layer_of(module) else {
            problems.push(format!("`{module}` is in no layer: add it to LAYERS"));
            continue;
        };
        for file in files_of(&src, module) {
            let text = std::fs::read_to_string(&file).unwrap();
            if text.contains("super::super") {
                problems.push(format!(
                    "{}: names a sibling module through super::super; use crate::",
                    file.display()
                ));
            }
            for used in imports(&text) {
                if used == *module {
                    continue;
                }
                match layer_of(&used) {
                    Some(l) if l < own => {}
                    Some(_) => problems.push(format!(
                        "{}: `{module}` imports `{used}`, which is not below it",
                        file.strip_prefix(&src).unwrap_or(&file).display()
                    )),
                    None => {}
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Every layer's module exists, so the list stays true to the code.
    for m in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(
            declared.contains(m),
            "LAYERS names `{m}`, which lib.rs does not declare"
        );
    }
}

#[test]
fn the_guard_sees_imports_in_every_form() {
    let text =
        "use crate::plan::Node;\nlet x = crate::cli::exit::OK;\n// $crate::no\nfoo_crate::no";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["cli", "plan"]);
}
