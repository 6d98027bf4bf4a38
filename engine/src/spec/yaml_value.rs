//! The seed's `task.yaml`: YAML text -> JSON value, with spans for its keys (the legacy format is
//! flat, so top-level keys and the entries of `environment`/`distro-check` are enough).

use serde_json::Value;

use super::source::{child, SpanMap, Spans};
use super::toml_value::SyntaxError;

pub fn parse(text: &str) -> (Value, SpanMap, Vec<SyntaxError>) {
    let mut spans = SpanMap::default();
    spans.insert(
        String::new(),
        Spans {
            key: None,
            value: 0..text.len(),
        },
    );
    let value = match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Null) => Value::Object(Default::default()),
        Ok(v) => v,
        Err(e) => {
            let span = e
                .location()
                .map(|l| l.index()..(l.index() + 1).min(text.len()))
                .unwrap_or(0..0);
            return (
                Value::Null,
                spans,
                vec![SyntaxError {
                    message: e.to_string(),
                    span,
                }],
            );
        }
    };
    index_keys(text, &mut spans);
    (value, spans, Vec::new())
}

/// Record top-level `key:` lines and the indented entries under them.
fn index_keys(text: &str, spans: &mut SpanMap) {
    let mut offset = 0;
    let mut parent: Option<String> = None;
    let mut item = 0usize;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let indent = content.len() - content.trim_start().len();
        let trimmed = content.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            offset += line.len();
            continue;
        }
        if indent == 0 {
            item = 0;
            if let Some(colon) = trimmed.find(':') {
                let key = &trimmed[..colon];
                let ptr = child("", key);
                let vstart = offset
                    + colon
                    + 1
                    + (content[colon + 1..].len() - content[colon + 1..].trim_start().len());
                spans.insert(
                    ptr.clone(),
                    Spans {
                        key: Some(offset..offset + colon),
                        value: vstart..offset + content.len(),
                    },
                );
                parent = Some(ptr);
            }
        } else if let Some(p) = &parent {
            let start = offset + indent;
            if let Some(rest) = trimmed.strip_prefix("- ") {
                let v = start + 2;
                spans.insert(
                    child(p, &item.to_string()),
                    Spans {
                        key: None,
                        value: v..v + rest.len(),
                    },
                );
                item += 1;
            } else if let Some(colon) = trimmed.find(':') {
                let key = &trimmed[..colon];
                spans.insert(
                    child(p, key),
                    Spans {
                        key: Some(start..start + colon),
                        value: start + colon + 1..offset + content.len(),
                    },
                );
            }
        }
        offset += line.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_task_keys_have_spans() {
        let text = "summary: hi\ndistro-check:\n  - arch\n  - manjaro\nexecute: |\n  true\n";
        let (v, spans, errs) = parse(text);
        assert!(errs.is_empty());
        assert_eq!(v["distro-check"][1], "manjaro");
        let s = spans.get("/distro-check/1").unwrap();
        assert_eq!(&text[s.value.clone()], "manjaro");
        let k = spans.get("/execute").unwrap();
        assert_eq!(&text[k.key.clone().unwrap()], "execute");
    }
}
