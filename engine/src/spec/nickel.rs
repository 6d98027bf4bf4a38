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
        // nickel-lang-core can panic on some inputs (0.18: a TOML file imported into a record
        // under a contract trips an assertion): a diagnostic, not a crash with a backtrace.
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut ctx = nickel_lang::Context::new().with_source_name(path.display().to_string());
            ctx.eval_deep_for_export(text)
                .and_then(|expr| ctx.expr_to_json(&expr))
        }));
        std::panic::set_hook(quiet);
        let evaluated = match outcome {
            Ok(evaluated) => evaluated,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                return Err(SpecDiagnostic::error(
                    Code::NickelEval,
                    format!("the Nickel evaluator failed inside ({why})"),
                )
                .in_file_ref(FileRef::named(name))
                .help(
                    "a bug of the Nickel library the engine embeds, not of your file as such; \
                     a known trigger is a TOML file imported into a record that a contract \
                     checks (`import \"x.toml\"` under `| engine.Matrix`): write that part in \
                     Nickel, or apply the contract to the Nickel parts only",
                ));
            }
        };
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
/// file: the message from `error: ...` (with its detail line), the place from the first
/// `┌─ file:LINE:COL` in this file and its `^^^ label`, and Nickel's notes as help. A broken
/// contract of the engine's (`schema/engine.ncl`) is placed more precisely and explained from
/// the schema: an extra field underlines that field's key and lists the known ones; a value
/// Nickel names without a place in this file (a string enum checked after conversion) is found
/// by its field and value; the help is the field's description (and its allowed values).
/// Falls back to the whole rendering as the message.
pub fn from_rendered(path: &Path, name: &str, text: &str, rendered: &str) -> SpecDiagnostic {
    let r = Rendered::parse(path, rendered);
    let file = super::source::SourceFile {
        path: path.to_path_buf(),
        name: name.to_string(),
        text: text.into(),
        spans: SpanMap::default(),
    };
    let message = match &r.detail {
        Some(detail) => format!("{}: {detail}", r.message),
        None => r.message.clone(),
    };
    let field = r.field();
    let place = r
        .place_in(text)
        .map(|(span, label)| match r.extra_field() {
            // Nickel points at the whole record: the key is the place to fix.
            Some(extra) => (
                find_key(text, &extra, span.start)
                    .filter(|k| k.end <= span.end)
                    .unwrap_or(span),
                format!("`{extra}` is not a field here"),
            ),
            // Nickel's "applied to this expression" says less than its detail line.
            None if label == "applied to this expression" => {
                (span, r.detail.clone().unwrap_or(label))
            }
            None => (span, label),
        })
        .or_else(|| {
            let field = field.as_deref()?;
            let span = value_of(text, field, r.value.as_deref())?;
            Some((span, r.detail.clone().unwrap_or_else(|| message.clone())))
        });
    let Some((span, label)) = place else {
        return SpecDiagnostic::error(
            Code::NickelEval,
            format!("Nickel evaluation failed\n\n{rendered}"),
        )
        .in_file_ref(FileRef::named(name))
        .help(r.notes.join("\n"));
    };
    let mut help = Vec::new();
    // Only a contract of the engine's own file is explained from the schema.
    if let (Some(field), Some(line)) = (&field, &r.engine_contract_line) {
        match r.extra_field() {
            Some(_) => {
                help.extend(super::schema_nickel::explain(field, line));
                if let Some(known) = super::schema_nickel::fields_of(field) {
                    help.push(format!("`{field}` takes: {}", known.join(", ")));
                }
            }
            None => help.extend(super::schema_nickel::explain(field, line)),
        }
    }
    if help.is_empty() {
        help = r.notes.clone();
    }
    if help.is_empty() {
        help.push("`nickel export` shows the same error".into());
    }
    SpecDiagnostic::error(Code::NickelEval, message)
        .in_file(&file)
        .at(span, label)
        .help(help.join("\n"))
}

/// The parts of Nickel's rendered error that matter here.
struct Rendered {
    message: String,
    /// The line under the message (`tag not in the enum type`, `extra field `x``).
    detail: Option<String>,
    /// The first place in this file: line, column, underline length, label.
    place: Option<(usize, usize, usize, String)>,
    /// The value Nickel says a contract broke on, as it shows it (`'fial`, `"four"`).
    value: Option<String>,
    /// The line of `schema/engine.ncl` (the engine's contracts) whose contract broke.
    engine_contract_line: Option<String>,
    notes: Vec<String>,
}

impl Rendered {
    fn parse(path: &Path, rendered: &str) -> Rendered {
        let lines: Vec<&str> = rendered.lines().collect();
        let message = lines
            .first()
            .and_then(|l| l.strip_prefix("error: "))
            .unwrap_or("Nickel evaluation failed")
            .trim()
            .to_string();
        let detail = lines
            .get(1)
            .filter(|l| !l.trim_start().starts_with('┌') && !l.trim().is_empty())
            .map(|l| l.trim().to_string());
        let path_str = path.display().to_string();
        let place = lines.iter().enumerate().find_map(|(i, l)| {
            let rest = l.split("┌─ ").nth(1)?;
            let rest = rest.strip_prefix(&path_str)?.strip_prefix(':')?;
            let mut it = rest.trim().split(':');
            let line: usize = it.next()?.parse().ok()?;
            let col: usize = it.next()?.parse().ok()?;
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
            Some((line, col, len, label))
        });
        // `1 │ 'fial` above `  │ ----- evaluated to this value`.
        let value = lines.iter().enumerate().find_map(|(i, l)| {
            if !l.contains("evaluated to this value") || i == 0 {
                return None;
            }
            let snippet = lines[i - 1].split('│').nth(1)?.trim();
            (!snippet.is_empty()).then(|| snippet.to_string())
        });
        let notes = lines
            .iter()
            .filter_map(|l| l.trim_start().strip_prefix("= "))
            .map(str::to_string)
            .collect();
        // `┌─ .../engine.ncl:L:C`, then `L │ <the contract's line>`.
        let contracts = format!("/{}:", super::schema_nickel::FILE);
        let engine_contract_line = lines.iter().enumerate().find_map(|(i, l)| {
            let at = l.split("┌─ ").nth(1)?;
            if !at.contains(&contracts) {
                return None;
            }
            lines[i + 1..].iter().take(3).find_map(|l| {
                let (num, code) = l.split_once('│')?;
                (!num.trim().is_empty()).then(|| code.trim().to_string())
            })
        });
        Rendered {
            message,
            detail,
            place,
            value,
            engine_contract_line,
            notes,
        }
    }

    /// The field of `contract broken by the value of `FIELD``.
    fn field(&self) -> Option<String> {
        let rest = self.message.split("the value of `").nth(1)?;
        Some(rest.split('`').next()?.to_string())
    }

    /// The field of `extra field `X``.
    fn extra_field(&self) -> Option<String> {
        let rest = self.detail.as_deref()?.strip_prefix("extra field `")?;
        Some(rest.split('`').next()?.to_string())
    }

    /// Nickel's place in this file as a byte span of `text`, and its label.
    fn place_in(&self, text: &str) -> Option<(std::ops::Range<usize>, String)> {
        let (line, col, len, label) = self.place.clone()?;
        let offset = text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum::<usize>()
            + col.saturating_sub(1);
        let label = if label.is_empty() {
            self.message.clone()
        } else {
            label
        };
        Some((offset..(offset + len.max(1)).min(text.len()), label))
    }
}

/// The value of `field = VALUE` in `text`: the one whose value is `shown` (Nickel shows a
/// string converted to a tag as `'tag`), else the first.
fn value_of(text: &str, field: &str, shown: Option<&str>) -> Option<std::ops::Range<usize>> {
    let wanted = shown.map(|v| v.trim_start_matches('\'').trim_matches('"').to_string());
    let mut first = None;
    let mut from = 0;
    while let Some(key) = find_key(text, field, from) {
        from = key.end;
        let Some(eq) = text[key.end..].find('=').map(|i| key.end + i + 1) else {
            continue;
        };
        let start = eq + text[eq..].len() - text[eq..].trim_start().len();
        let span = start..value_end(text, start);
        let literal = text[span.clone()]
            .trim_start_matches('\'')
            .trim_matches('"');
        if wanted.as_deref() == Some(literal) {
            return Some(span);
        }
        first.get_or_insert(span);
    }
    first
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
                    map.insert(
                        ptr.clone(),
                        Spans {
                            key: Some(key.clone()),
                            value: vstart..value_end(text, vstart),
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

/// Where the Nickel value starting at `start` ends: a string at its closing quote, a record or
/// an array at its matching bracket, anything else (a number, a name, a call) at the first
/// `,`, `}`, `]` or end of line outside brackets and strings.
fn value_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = start;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => {
                    in_string = false;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
        } else {
            match c {
                b'"' => in_string = true,
                b'{' | b'[' | b'(' => depth += 1,
                b'}' | b']' | b')' if depth == 0 => break,
                b'}' | b']' | b')' => {
                    depth -= 1;
                    if depth == 0 && (c == b'}' || c == b']') && i > start {
                        let opener = bytes[start];
                        if opener == b'{' || opener == b'[' {
                            return i + 1;
                        }
                    }
                }
                b',' | b'\n' if depth == 0 => break,
                _ => {}
            }
        }
        i += 1;
    }
    start + text[start..i].trim_end().len()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_ends_where_nickel_would_end_it() {
        let text = r#"engine = { concurrency = "four", fail_fast = false, x = [1, { a = "}" }], y = f 1 },"#;
        let at = |needle: &str| text.find(needle).unwrap();
        let end = |needle: &str| &text[at(needle)..value_end(text, at(needle))];
        assert_eq!(end("\"four\""), "\"four\"");
        assert_eq!(end("false"), "false");
        assert_eq!(end("[1,"), r#"[1, { a = "}" }]"#);
        assert_eq!(end("f 1"), "f 1");
        assert_eq!(
            end("{ concurrency"),
            &text[at("{ concurrency")..text.len() - 1]
        );
    }

    #[test]
    fn the_value_nickel_names_is_found_by_its_field_and_value() {
        let text = "a = { p = \"fail\" },\nb = { p = \"fial\" },\n";
        let span = value_of(text, "p", Some("'fial")).unwrap();
        assert_eq!(&text[span], "\"fial\"");
        let span = value_of(text, "p", None).unwrap();
        assert_eq!(&text[span], "\"fail\"");
        assert_eq!(value_of(text, "q", None), None);
    }
}
