//! `matrix.ncl`: evaluated in-process with the Nickel facade crate to the same JSON value a
//! `matrix.toml` gives, so that everything after loading is shared.

use std::path::Path;

use serde_json::Value;

use super::codes::Code;
use super::diag::{FileRef, SpecDiagnostic};
use super::source::{child, SpanMap, Spans};

/// Evaluate a Nickel file to JSON. Nickel's own errors (syntax, contracts, evaluation) are returned
/// as one diagnostic carrying Nickel's rendering, which shows the positions in the `.ncl` file.
#[allow(clippy::result_large_err)] // one diagnostic, once per run
pub fn evaluate(path: &Path, name: &str, text: &str) -> Result<Value, SpecDiagnostic> {
    #[cfg(feature = "nickel")]
    {
        let mut ctx = nickel_lang::Context::new().with_source_name(path.display().to_string());
        let evaluated = ctx
            .eval_deep_for_export(text)
            .and_then(|expr| ctx.expr_to_json(&expr));
        match evaluated {
            Ok(json) => serde_json::from_str(&json).map_err(|e| {
                SpecDiagnostic::error(
                    Code::NickelExport,
                    format!("Nickel produced invalid JSON: {e}"),
                )
                .in_file_ref(FileRef::named(name))
            }),
            Err(err) => {
                let mut buf = Vec::new();
                let _ = err.format(&mut buf, nickel_lang::ErrorFormat::Text);
                let rendered = String::from_utf8_lossy(&buf).trim_end().to_string();
                Err(from_rendered(path, name, text, &rendered))
            }
        }
    }
    #[cfg(not(feature = "nickel"))]
    {
        let _ = text;
        evaluate_with_cli(path, name)
    }
}

/// Turn Nickel's rendered error (codespan style) into a diagnostic with a real span in the `.ncl`
/// file: the message from `error: ...`, the place from `┌─ file:LINE:COL`, the label from the
/// `^^^ label` line, and Nickel's notes as help. Falls back to the whole rendering as the message.
pub fn from_rendered(path: &Path, name: &str, text: &str, rendered: &str) -> SpecDiagnostic {
    let lines: Vec<&str> = rendered.lines().collect();
    let message = lines
        .first()
        .and_then(|l| l.strip_prefix("error: "))
        .unwrap_or("Nickel evaluation failed")
        .trim()
        .to_string();
    let path_str = path.display().to_string();
    // The first location in our own file.
    let loc = lines.iter().enumerate().find_map(|(i, l)| {
        let rest = l.split("┌─ ").nth(1)?;
        let rest = rest.strip_prefix(&path_str)?.strip_prefix(':')?;
        let mut it = rest.trim().split(':');
        let line: usize = it.next()?.parse().ok()?;
        let col: usize = it.next()?.parse().ok()?;
        Some((i, line, col))
    });
    let notes: Vec<String> = lines
        .iter()
        .filter_map(|l| l.trim_start().strip_prefix("= "))
        .map(str::to_string)
        .collect();
    let file = super::source::SourceFile {
        path: path.to_path_buf(),
        name: name.to_string(),
        text: text.into(),
        spans: SpanMap::default(),
    };
    let mut d = SpecDiagnostic::error(Code::NickelEval, message.clone()).in_file(&file);
    match loc {
        Some((i, line, col)) => {
            let (len, label) = lines[i + 1..]
                .iter()
                .take(6)
                .find_map(|l| {
                    let carets = l.find('^')?;
                    let after = &l[carets..];
                    let n = after.chars().take_while(|c| *c == '^').count();
                    Some((n, after[n..].trim().to_string()))
                })
                .unwrap_or((1, String::new()));
            let offset = text
                .split_inclusive('\n')
                .take(line.saturating_sub(1))
                .map(str::len)
                .sum::<usize>()
                + col.saturating_sub(1);
            let label = if label.is_empty() {
                message.clone()
            } else {
                label
            };
            d = d.at(offset..offset + len.max(1), label);
        }
        None => {
            d = SpecDiagnostic::error(
                Code::NickelEval,
                format!("Nickel evaluation failed\n\n{rendered}"),
            )
            .in_file_ref(FileRef::named(name));
        }
    }
    if notes.is_empty() {
        d.help("`nickel export` shows the same error")
    } else {
        d.help(notes.join("\n"))
    }
}

/// Without the `nickel` feature: `nickel export` from PATH.
#[cfg(not(feature = "nickel"))]
fn evaluate_with_cli(path: &Path, name: &str) -> Result<Value, SpecDiagnostic> {
    let out = std::process::Command::new("nickel")
        .args(["export", "--format", "json"])
        .arg(path)
        .output()
        .map_err(|e| {
            SpecDiagnostic::error(
                Code::NickelUnavailable,
                format!("cannot evaluate a Nickel matrix: this engine was built without the `nickel` feature and `nickel` could not be run ({e})"),
            )
            .in_file_ref(FileRef::named(name))
            .help("rebuild with `--features nickel`, install the nickel CLI, or use matrix.toml")
        })?;
    if !out.status.success() {
        return Err(SpecDiagnostic::error(
            Code::NickelEval,
            format!(
                "Nickel evaluation failed\n\n{}",
                String::from_utf8_lossy(&out.stderr).trim_end()
            ),
        )
        .in_file_ref(FileRef::named(name)));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        SpecDiagnostic::error(
            Code::NickelExport,
            format!("Nickel produced invalid JSON: {e}"),
        )
        .in_file_ref(FileRef::named(name))
    })
}

/// Nickel gives values without positions; find each key in the text (in order, each below its
/// parent) so that schema and semantic errors can still underline a plausible place.
pub fn approximate_spans(text: &str, value: &Value) -> SpanMap {
    let mut map = SpanMap::default();
    map.insert(
        String::new(),
        Spans {
            key: None,
            value: 0..text.len(),
        },
    );
    walk(text, value, "", 0, &mut map);
    map
}

fn walk(text: &str, value: &Value, pointer: &str, from: usize, map: &mut SpanMap) {
    match value {
        Value::Object(obj) => {
            for (k, v) in obj {
                let ptr = child(pointer, k);
                if let Some(key) = find_key(text, k, from) {
                    let vstart = text[key.end..]
                        .find(['=', '|'])
                        .map_or(key.end, |i| key.end + i + 1);
                    let vstart = vstart + text[vstart..].len() - text[vstart..].trim_start().len();
                    let vend = text[vstart..].find('\n').map_or(text.len(), |i| vstart + i);
                    let vend = vstart + text[vstart..vend].trim_end().trim_end_matches(',').len();
                    map.insert(
                        ptr.clone(),
                        Spans {
                            key: Some(key.clone()),
                            value: vstart..vend.max(vstart),
                        },
                    );
                    walk(text, v, &ptr, key.end, map);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(text, v, &child(pointer, &i.to_string()), from, map);
            }
        }
        _ => {}
    }
}

fn find_key(text: &str, key: &str, from: usize) -> Option<std::ops::Range<usize>> {
    let quoted = format!("\"{key}\"");
    let mut at = from;
    while at < text.len() {
        let rest = &text[at..];
        let (i, len) = match (rest.find(key), rest.find(&quoted)) {
            (Some(a), Some(b)) if b < a => (b, quoted.len()),
            (Some(a), _) => (a, key.len()),
            (None, Some(b)) => (b, quoted.len()),
            (None, None) => return None,
        };
        let start = at + i;
        let end = start + len;
        let before_ok = start == 0
            || !text[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
        let after = text[end..].trim_start();
        if before_ok && (after.starts_with('=') || after.starts_with('|')) {
            return Some(start..end);
        }
        at = end;
    }
    None
}
