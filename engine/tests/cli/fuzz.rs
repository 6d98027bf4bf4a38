//! No input makes the loader panic: random text and mutations of real files (10,000 cases in
//! the full tier, see [`cases`]), fed through the whole loading pipeline (parse, schema, checks)
//! on a temporary project.

use std::path::Path;

use proptest::prelude::*;

fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    crate::common::copy_tree(
        &crate::common::repo_root().join("engine/tests/corpus/_base"),
        tmp.path(),
    );
    tmp
}

fn load_with(root: &Path, file: &str, text: &str) {
    std::fs::write(root.join(file), text).unwrap();
    let loaded = engine::spec::load(&root.join("matrix.toml"));
    // Whatever the input, every diagnostic must render (spans inside their file).
    for d in &loaded.diagnostics {
        let _ = engine::spec::diag::render(
            d,
            engine::spec::diag::RenderOptions {
                color: false,
                width: 80,
            },
        );
        let _ = d.to_json();
    }
}

const SEEDS: &[(&str, &str)] = &[
    ("matrix.toml", include_str!("../corpus/_base/matrix.toml")),
    (
        "distros/arch.toml",
        include_str!("../corpus/_base/distros/arch.toml"),
    ),
    (
        "suites/smoke/task.toml",
        include_str!("../corpus/_base/suites/smoke/task.toml"),
    ),
    (
        "suites/legacy/task.yaml",
        include_str!("../corpus/_base/suites/legacy/task.yaml"),
    ),
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    Replace(usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just("=".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("\"".to_string()),
        Just("'''".to_string()),
        Just("\n".to_string()),
        Just("[[x]]\n".to_string()),
        Just("{distro}".to_string()),
        Just("../".to_string()),
        Just("é\u{0}".to_string()),
        "[a-z_]{1,8}".prop_map(|s| s),
        "[0-9.+-]{1,6}".prop_map(|s| s),
    ];
    prop_oneof![
        (any::<usize>(), token.clone()).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<usize>(), 1usize..20).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), token).prop_map(|(i, t)| Edit::Replace(i, t)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for e in edits {
        match e {
            Edit::Insert(i, t) => {
                let at = i % (s.len() + 1);
                s.splice(at..at, t.chars());
            }
            Edit::Delete(i, n) => {
                if !s.is_empty() {
                    let at = i % s.len();
                    let end = (at + n).min(s.len());
                    s.drain(at..end);
                }
            }
            Edit::Replace(i, t) => {
                if !s.is_empty() {
                    let at = i % s.len();
                    s.splice(at..at + 1, t.chars());
                }
            }
        }
    }
    s.into_iter().collect()
}

/// Cases in all: `PROPTEST_CASES` (scripts/test.sh sets 10,000), else 1,000 for a quick
/// `cargo test`; 60% mutations of real files, 40% random text.
fn cases(percent: u32) -> u32 {
    let all = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1000);
    (all * percent / 100).max(1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(60), failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn mutated_files_never_panic(seed in 0usize..SEEDS.len(), edits in proptest::collection::vec(edit(), 1..6)) {
        let tmp = project();
        let (file, text) = SEEDS[seed];
        load_with(tmp.path(), file, &apply(text, &edits));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(40), failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn random_text_never_panics(seed in 0usize..SEEDS.len(), text in "[\\PC\n=\\[\\]{}\"',.#-]{0,200}") {
        let tmp = project();
        load_with(tmp.path(), SEEDS[seed].0, &text);
    }
}
