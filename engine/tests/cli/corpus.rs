//! Each file under tests/corpus/ is one defect laid over a valid project (tests/corpus/_base).
//! Its first lines say which file it replaces and what must be reported where:
//!
//!   # file: distros/arch.toml
//!   # expect: schema::bad-value at "sometimes"
//!
//! For every case: `engine validate` exits 2, reports a diagnostic with that code whose span lies
//! on a line containing the text after `at`, and the rendered report matches its snapshot.

use std::path::Path;

use crate::common::{copy_tree, engine, stderr, stdout};

struct Case {
    name: String,
    file: String,
    code: String,
    at: Option<String>,
    /// `# exit: N`, default 2; `# severity: warning` (or `note`), default error: what the
    /// seed's task.yaml rules make lenient is still reported, at its place.
    exit: i32,
    severity: String,
    text: String,
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let header = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
                .map(str::to_string)
        };
        let file =
            header("file").unwrap_or_else(|| panic!("{} has no `# file:` line", path.display()));
        let expect = header("expect")
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()));
        let (code, at) = match expect.split_once(" at ") {
            Some((c, a)) => (c.to_string(), Some(a.to_string())),
            None => (expect.clone(), None),
        };
        out.push(Case {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            file,
            code,
            at,
            exit: header("exit").map_or(2, |e| e.parse().expect("# exit: N")),
            severity: header("severity").unwrap_or_else(|| "error".into()),
            text,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[test]
fn corpus_has_enough_cases() {
    assert!(
        cases().len() >= 25,
        "the corpus must hold at least 25 defects"
    );
}

#[test]
fn every_defect_is_reported_at_its_place() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/_base");
    let mut failures = Vec::new();
    for case in cases() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        copy_tree(&base, &root);
        // Nickel cases may apply the engine's contracts: `import "schema/engine.ncl"`.
        std::fs::create_dir_all(root.join("schema")).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/engine.ncl"),
            root.join("schema/engine.ncl"),
        )
        .unwrap();
        let target = root.join(&case.file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, &case.text).unwrap();
        let matrix = if case.file.ends_with(".ncl") {
            case.file.as_str()
        } else {
            "matrix.toml"
        };

        let human = engine(&root, &["validate", "-m", matrix]);
        let json = engine(&root, &["validate", "-m", matrix, "--format", "json"]);
        if human.status.code() != Some(case.exit) || json.status.code() != Some(case.exit) {
            failures.push(format!(
                "{}: exit {:?}, want {}\n{}",
                case.name,
                human.status.code(),
                case.exit,
                stderr(&human)
            ));
            continue;
        }
        let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
        let diags = report["diagnostics"].as_array().unwrap();
        let hit = diags.iter().find(|d| d["code"] == case.code.as_str());
        let Some(hit) = hit else {
            failures.push(format!(
                "{}: no `{}` diagnostic in {}",
                case.name,
                case.code,
                stdout(&json)
            ));
            continue;
        };
        if hit["severity"] != case.severity.as_str() {
            failures.push(format!(
                "{}: `{}` is a {}, want a {}",
                case.name, case.code, hit["severity"], case.severity
            ));
            continue;
        }
        if let Some(at) = &case.at {
            let file = hit["file"].as_str().unwrap_or_default();
            let content = std::fs::read_to_string(root.join(file)).unwrap_or_default();
            let offset = hit["span"]["offset"].as_u64().map(|o| o as usize);
            let Some(offset) = offset else {
                failures.push(format!("{}: `{}` has no span", case.name, case.code));
                continue;
            };
            let len = hit["span"]["length"].as_u64().unwrap_or(0) as usize;
            let line_start = content[..offset].rfind('\n').map_or(0, |i| i + 1);
            let line_end = content[offset + len..]
                .find('\n')
                .map_or(content.len(), |i| offset + len + i);
            let lines = &content[line_start..line_end];
            if !lines.contains(at.as_str()) {
                failures.push(format!(
                    "{}: `{}` points at {:?} (in {file}), want a line containing {at:?}",
                    case.name, case.code, lines
                ));
                continue;
            }
        }
        let rendered = stderr(&human).replace(&root.display().to_string(), "[TMP]");
        insta::assert_snapshot!(case.name.clone(), rendered);
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
