//! TOML text -> JSON value, keeping the byte span of every key and value.
//!
//! The schema check runs on `serde_json::Value`; the span map turns each error's JSON pointer back
//! into the exact place in the user's file.

use std::ops::Range;

use serde_json::{Map, Number, Value};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::source::{child, SpanMap, Spans};

/// A TOML syntax error with its place.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub span: Range<usize>,
}

/// Parse TOML, recovering from errors so that every syntax error of the file is reported at once.
pub fn parse(text: &str) -> (Value, SpanMap, Vec<SyntaxError>) {
    let (table, errors) = DeTable::parse_recoverable(text);
    let mut spans = SpanMap::default();
    let root_span = table.span();
    spans.insert(
        String::new(),
        Spans {
            key: None,
            value: root_span,
        },
    );
    let value = convert_table(table.get_ref(), "", &mut spans);
    let errors = errors
        .into_iter()
        .map(|e| SyntaxError {
            message: e.message().to_string(),
            span: e.span().unwrap_or(0..0),
        })
        .collect();
    (value, spans, errors)
}

fn convert_table(table: &DeTable<'_>, pointer: &str, spans: &mut SpanMap) -> Value {
    let mut out = Map::new();
    for (key, value) in table.iter() {
        let name = key.get_ref().to_string();
        let ptr = child(pointer, &name);
        spans.insert(
            ptr.clone(),
            Spans {
                key: Some(key.span()),
                value: value.span(),
            },
        );
        out.insert(name, convert(value, &ptr, spans));
    }
    Value::Object(out)
}

fn convert(value: &Spanned<DeValue<'_>>, pointer: &str, spans: &mut SpanMap) -> Value {
    match value.get_ref() {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => Value::Number(n.into()),
                // Out of i64 range: keep the text, the schema reports the wrong type at its span.
                Err(_) => Value::String(i.as_str().to_string()),
            }
        }
        DeValue::Float(f) => {
            let text = f.as_str().replace('_', "");
            text.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(text))
        }
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let ptr = child(pointer, &i.to_string());
                spans.insert(
                    ptr.clone(),
                    Spans {
                        key: None,
                        value: item.span(),
                    },
                );
                out.push(convert(item, &ptr, spans));
            }
            Value::Array(out)
        }
        DeValue::Table(t) => convert_table(t, pointer, spans),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "a = 1\n[t]\nname = \"x\"\nlist = [\"p\", \"q\"]\n";
        let (value, spans, errors) = parse(text);
        assert!(errors.is_empty());
        assert_eq!(value["t"]["name"], "x");
        let s = spans.get("/t/name").unwrap();
        assert_eq!(&text[s.key.clone().unwrap()], "name");
        assert_eq!(&text[s.value.clone()], "\"x\"");
        let q = spans.get("/t/list/1").unwrap();
        assert_eq!(&text[q.value.clone()], "\"q\"");
    }

    #[test]
    fn syntax_errors_are_all_reported_with_spans() {
        let text = "a = \nb = [1,\nc = \"ok\"\n";
        let (_, _, errors) = parse(text);
        assert!(!errors.is_empty());
        assert!(errors.iter().all(|e| e.span.end <= text.len()));
    }

    #[test]
    fn numbers_convert() {
        let (v, _, e) = parse("h = 0x10\nf = 1.5\nu = 1_000\n");
        assert!(e.is_empty());
        assert_eq!(v["h"], 16);
        assert_eq!(v["f"], 1.5);
        assert_eq!(v["u"], 1000);
    }
}
