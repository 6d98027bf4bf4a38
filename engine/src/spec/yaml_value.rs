//! spread's `task.yaml`: YAML text -> JSON value, with the byte span of every key and value.
//!
//! Built on saphyr-parser's events, which carry spans, so that flow maps, block scalars,
//! anchors and trailing comments are placed right at any depth. Scalars resolve as YAML 1.2's
//! core schema says (plain `1` is a number, quoted `"1"` a string), except under the keys the
//! caller names: there every scalar stays the text as written, as spread reads its string maps
//! (`A: 1.50` is "1.50", `B: yes` is "yes"). Anchors and aliases work, and so do merge keys
//! (`<<: *base`), which spread's YAML library applies and which large spread projects use to
//! share environments; explicit keys win over merged ones.

use std::collections::HashMap;
use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use super::source::{child, SpanMap, Spans};
use super::toml_value::SyntaxError;

/// Parse YAML; scalars anywhere under the top-level keys in `raw_keys` stay strings as written.
pub fn parse(text: &str, raw_keys: &[&str]) -> (Value, SpanMap, Vec<SyntaxError>) {
    let mut builder = Builder {
        text,
        offsets: CharOffsets::new(text),
        raw_keys,
        spans: SpanMap::default(),
        anchors: HashMap::new(),
        stack: Vec::new(),
        root: None,
        documents: 0,
    };
    builder.spans.insert(
        String::new(),
        Spans {
            key: None,
            value: 0..text.len(),
        },
    );
    let mut parser = Parser::new_from_str(text);
    let error = loop {
        match parser.next() {
            None => break None,
            Some(Ok((event, span))) => {
                if let Err(e) = builder.event(event, span) {
                    break Some(e);
                }
            }
            Some(Err(e)) => {
                let at = builder.offsets.byte(e.marker().index());
                let message = match builder.open_flow() {
                    Some(opened) => format!("{}, inside the {opened}", e.info()),
                    None => e.info().to_string(),
                };
                break Some(SyntaxError {
                    message,
                    span: at..(at + 1).min(text.len()),
                });
            }
        }
    };
    let mut spans = builder.spans;
    if let Some(e) = error {
        return (Value::Null, spans, vec![e]);
    }
    let value = match builder.root {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v) => v,
    };
    // The whole file is the root's place, whatever the root node's own span.
    spans.insert(
        String::new(),
        Spans {
            key: None,
            value: 0..text.len(),
        },
    );
    (value, spans, Vec::new())
}

/// saphyr's markers count characters; spans are bytes.
struct CharOffsets {
    /// Byte offset of each character, or `None` when the text is ASCII (they are the same).
    bytes: Option<Vec<usize>>,
    len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> Self {
        let bytes = (!text.is_ascii()).then(|| text.char_indices().map(|(i, _)| i).collect());
        CharOffsets {
            bytes,
            len: text.len(),
        }
    }

    fn byte(&self, index: usize) -> usize {
        match &self.bytes {
            None => index.min(self.len),
            Some(v) => v.get(index).copied().unwrap_or(self.len),
        }
    }
}

/// A collection being filled.
enum Frame {
    Map {
        map: Map<String, Value>,
        ptr: String,
        start: usize,
        anchor: usize,
        /// The key read, waiting for its value.
        key: Option<(String, Range<usize>)>,
        /// Merge sources (`<<`), in order: values and the pointer whose spans they carry.
        merges: Vec<(Value, String)>,
        /// Where the last entry's value ends (a block map ends there).
        last_end: usize,
    },
    Seq {
        items: Vec<Value>,
        ptr: String,
        start: usize,
        anchor: usize,
        last_end: usize,
    },
}

struct Builder<'t, 'k> {
    text: &'t str,
    offsets: CharOffsets,
    raw_keys: &'k [&'k str],
    spans: SpanMap,
    /// Anchor id -> the anchored value and the pointer its spans were recorded under.
    anchors: HashMap<usize, (Value, String)>,
    stack: Vec<Frame>,
    root: Option<Value>,
    documents: usize,
}

impl Builder<'_, '_> {
    fn range(&self, span: Span) -> Range<usize> {
        self.offsets.byte(span.start.index())..self.offsets.byte(span.end.index())
    }

    /// The innermost flow collection still open, as "`[` opened at line L, column C": an
    /// unclosed bracket is the usual cause of an error the scanner finds lines later.
    fn open_flow(&self) -> Option<String> {
        self.stack.iter().rev().find_map(|frame| {
            let start = match frame {
                Frame::Map { start, .. } | Frame::Seq { start, .. } => *start,
            };
            let bracket = self.text[start..].chars().find(|c| !c.is_whitespace())?;
            if bracket != '[' && bracket != '{' {
                return None;
            }
            let at = start + self.text[start..].find(bracket)?;
            let line = self.text[..at].matches('\n').count() + 1;
            let column = at - self.text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
            Some(format!(
                "`{bracket}` opened at line {line}, column {column}"
            ))
        })
    }

    fn error(&self, message: impl Into<String>, span: Range<usize>) -> SyntaxError {
        SyntaxError {
            message: message.into(),
            span,
        }
    }

    /// The pointer the next value will have, and whether it lies under a raw key.
    fn next_pointer(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq { items, ptr, .. }) => child(ptr, &items.len().to_string()),
            Some(Frame::Map { ptr, key, .. }) => match key {
                Some((k, _)) => child(ptr, k),
                None => ptr.clone(),
            },
        }
    }

    fn is_raw(&self, pointer: &str) -> bool {
        let top = pointer.split('/').nth(1).unwrap_or("");
        self.raw_keys.contains(&top) && pointer.len() > top.len() + 1
    }

    fn awaiting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        let at = self.range(span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self.error("a task file holds one YAML document", at));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let at = trim_block(self.text, at, style);
                if self.awaiting_key() {
                    return self.key(text.to_string(), at);
                }
                let ptr = self.next_pointer();
                let raw = self.is_raw(&ptr);
                let tag = tag.map(|t| t.suffix.clone());
                let value = scalar(&text, style, tag.as_deref(), raw);
                self.finish(value, ptr, at, anchor)?;
            }
            Event::Alias(id) => {
                let Some((value, from)) = self.anchors.get(&id).cloned() else {
                    return Err(self.error("an alias to an anchor not defined before it", at));
                };
                if self.awaiting_key() {
                    let key = scalar_text(&value);
                    return self.key(key, at);
                }
                let ptr = self.next_pointer();
                self.copy_spans(&from, &ptr);
                self.finish(value, ptr, at, 0)?;
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.awaiting_key() => {
                return Err(self.error("a key must be a plain value, not a list or a map", at));
            }
            Event::SequenceStart(anchor, _) => {
                let ptr = self.next_pointer();
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    ptr,
                    start: at.start,
                    anchor,
                    last_end: at.end,
                });
            }
            Event::MappingStart(anchor, _) => {
                let ptr = self.next_pointer();
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    ptr,
                    start: at.start,
                    key: None,
                    anchor,
                    merges: Vec::new(),
                    last_end: at.end,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                // A flow collection ends at its one-byte bracket (the event's span may run on over a
                // comment); a block one at its last value.
                let flow = !at.is_empty();
                match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        ptr,
                        start,
                        anchor,
                        last_end,
                    }) => {
                        let end = if flow {
                            at.start + 1
                        } else {
                            last_end.max(start)
                        };
                        self.finish(Value::Array(items), ptr, start..end, anchor)?;
                    }
                    Some(Frame::Map {
                        mut map,
                        ptr,
                        start,
                        anchor,
                        merges,
                        last_end,
                        ..
                    }) => {
                        self.apply_merges(&mut map, &ptr, merges)?;
                        let end = if flow {
                            at.start + 1
                        } else {
                            last_end.max(start)
                        };
                        self.finish(Value::Object(map), ptr, start..end, anchor)?;
                    }
                    None => {}
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn key(&mut self, name: String, at: Range<usize>) -> Result<(), SyntaxError> {
        let duplicate = match self.stack.last() {
            Some(Frame::Map { map, .. }) => name != "<<" && map.contains_key(&name),
            _ => false,
        };
        if duplicate {
            return Err(self.error(format!("the key `{name}` appears twice in this map"), at));
        }
        if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
            *key = Some((name, at));
        }
        Ok(())
    }

    /// A value is complete: record its spans and anchor, and put it in its parent.
    fn finish(
        &mut self,
        value: Value,
        ptr: String,
        at: Range<usize>,
        anchor: usize,
    ) -> Result<(), SyntaxError> {
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), ptr.clone()));
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(value);
            }
            Some(Frame::Seq {
                items, last_end, ..
            }) => {
                *last_end = at.end;
                self.spans.insert(
                    ptr,
                    Spans {
                        key: None,
                        value: at,
                    },
                );
                items.push(value);
            }
            Some(Frame::Map {
                map,
                key,
                merges,
                last_end,
                ..
            }) => {
                let Some((name, key_at)) = key.take() else {
                    return Ok(());
                };
                *last_end = at.end;
                if name == "<<" {
                    merges.push((value, ptr));
                    return Ok(());
                }
                self.spans.insert(
                    ptr,
                    Spans {
                        key: Some(key_at),
                        value: at,
                    },
                );
                map.insert(name, value);
            }
        }
        Ok(())
    }

    /// `<<: *a` or `<<: [*a, *b]`: keys the map lacks come from the sources, earlier first.
    fn apply_merges(
        &mut self,
        map: &mut Map<String, Value>,
        ptr: &str,
        merges: Vec<(Value, String)>,
    ) -> Result<(), SyntaxError> {
        for (value, from) in merges {
            let sources: Vec<(Value, String)> = match value {
                Value::Array(items) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (v, child(&from, &i.to_string())))
                    .collect(),
                other => vec![(other, from.clone())],
            };
            for (source, source_ptr) in sources {
                let Value::Object(entries) = source else {
                    let at = self
                        .spans
                        .get(&source_ptr)
                        .map_or(0..0, |s| s.value.clone());
                    return Err(self.error("a merge key (`<<`) takes a map or a list of maps", at));
                };
                for (k, v) in entries {
                    if map.contains_key(&k) {
                        continue;
                    }
                    let target = child(ptr, &k);
                    self.copy_spans(&child(&source_ptr, &k), &target);
                    map.insert(k, v);
                }
            }
        }
        Ok(())
    }

    /// Give the nodes under `to` the places of those under `from` (an alias or a merged key is
    /// reported where its value was written).
    fn copy_spans(&mut self, from: &str, to: &str) {
        let copies: Vec<(String, Spans)> = self
            .spans
            .entries()
            .filter_map(|(k, s)| {
                let rest = k.strip_prefix(from)?;
                (rest.is_empty() || rest.starts_with('/'))
                    .then(|| (format!("{to}{rest}"), s.clone()))
            })
            .collect();
        for (k, s) in copies {
            self.spans.insert(k, s);
        }
    }
}

/// A block scalar's span runs to the next key: end it at its last content character.
fn trim_block(text: &str, at: Range<usize>, style: ScalarStyle) -> Range<usize> {
    match style {
        ScalarStyle::Literal | ScalarStyle::Folded => {
            let end = trim_trailing(text, at.end).max(at.start);
            at.start..end
        }
        _ => at,
    }
}

/// Back over blank space before `end`.
fn trim_trailing(text: &str, end: usize) -> usize {
    text[..end.min(text.len())].trim_end().len()
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// YAML 1.2 core schema resolution of one scalar (or the text itself under a raw key).
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>, raw: bool) -> Value {
    let plain = style == ScalarStyle::Plain;
    if raw || tag == Some("str") || (!plain && tag.is_none()) {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = integer(text) {
        return Value::Number(n.into());
    }
    let looks_float = text
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && !text.contains(char::is_whitespace);
    if looks_float {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

fn integer(text: &str) -> Option<i64> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let (radix, digits) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i64::from_str_radix(digits, radix).ok().map(|n| sign * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'t>(text: &'t str, spans: &SpanMap, ptr: &str) -> &'t str {
        &text[spans.get(ptr).unwrap().value.clone()]
    }

    #[test]
    fn task_keys_have_spans() {
        let text = "summary: hi\ndistro-check:\n  - arch\n  - manjaro\nexecute: |\n  true\n";
        let (v, spans, errs) = parse(text, &[]);
        assert!(errs.is_empty());
        assert_eq!(v["distro-check"][1], "manjaro");
        assert_eq!(at(text, &spans, "/distro-check/1"), "manjaro");
        let k = spans.get("/execute").unwrap();
        assert_eq!(&text[k.key.clone().unwrap()], "execute");
        assert_eq!(at(text, &spans, "/execute"), "true");
    }

    #[test]
    fn flow_maps_block_scalars_and_comments_are_placed() {
        let text = "env: {A: 1, B: [x, \"y\"]}  # note\nexecute: |\n  echo a\n  echo b\n\n# gone\nlast: z\n";
        let (v, spans, errs) = parse(text, &[]);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(v["env"]["A"], 1);
        assert_eq!(at(text, &spans, "/env/B/1"), "\"y\"");
        assert_eq!(at(text, &spans, "/env"), "{A: 1, B: [x, \"y\"]}");
        assert_eq!(at(text, &spans, "/execute"), "echo a\n  echo b");
        assert_eq!(at(text, &spans, "/last"), "z");
    }

    #[test]
    fn nested_block_maps_end_at_their_last_value() {
        let text = "environment:\n  A: 1\n  B: two   \n  # trailing comment\nexecute: x\n";
        let (_, spans, _) = parse(text, &["environment"]);
        assert_eq!(at(text, &spans, "/environment"), "A: 1\n  B: two");
        assert_eq!(at(text, &spans, "/environment/B"), "two");
    }

    #[test]
    fn raw_keys_keep_the_text_as_written() {
        let text =
            "environment:\n  A: 1.50\n  B: yes\n  C: true\n  D: ~\npriority: 10\nmanual: true\n";
        let (v, _, _) = parse(text, &["environment"]);
        assert_eq!(v["environment"]["A"], "1.50");
        assert_eq!(v["environment"]["C"], "true");
        assert_eq!(v["environment"]["D"], "~");
        assert_eq!(v["priority"], 10);
        assert_eq!(v["manual"], true);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let text = "base: &b\n  A: one\n  B: two\nenvironment:\n  <<: *b\n  B: mine\nlist: [*b]\n";
        let (v, spans, errs) = parse(text, &["environment"]);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(v["environment"]["A"], "one");
        assert_eq!(v["environment"]["B"], "mine");
        assert_eq!(v["list"][0]["B"], "two");
        assert!(v["environment"].get("<<").is_none());
        // A merged key is reported where it was written.
        assert_eq!(at(text, &spans, "/environment/A"), "one");
        assert_eq!(at(text, &spans, "/environment/B"), "mine");
        assert_eq!(at(text, &spans, "/list/0/A"), "one");
    }

    #[test]
    fn duplicates_and_syntax_errors_are_placed() {
        let text = "a: 1\nb: 2\na: 3\n";
        let (_, _, errs) = parse(text, &[]);
        assert_eq!(&text[errs[0].span.clone()], "a");
        assert!(errs[0].message.contains("twice"));
        let text = "a: [1, 2\nb: 3\n";
        let (_, _, errs) = parse(text, &[]);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].span.end <= text.len());
    }

    #[test]
    fn multi_byte_text_keeps_byte_spans() {
        let text = "summary: größer\nexecute: échec\n";
        let (v, spans, _) = parse(text, &[]);
        assert_eq!(v["execute"], "échec");
        assert_eq!(at(text, &spans, "/execute"), "échec");
    }

    #[test]
    fn core_schema_scalars() {
        let (v, _, _) = parse(
            "a: 0x10\nb: -3\nc: 1.5\nd: \"1\"\ne: ~\nf: 1.2.3\ng: !!str 5\n",
            &[],
        );
        assert_eq!(v["a"], 16);
        assert_eq!(v["b"], -3);
        assert_eq!(v["c"], 1.5);
        assert_eq!(v["d"], "1");
        assert!(v["e"].is_null());
        assert_eq!(v["f"], "1.2.3");
        assert_eq!(v["g"], "5");
    }

    #[test]
    fn an_empty_file_is_an_empty_map() {
        let (v, _, errs) = parse("# only a comment\n", &[]);
        assert!(errs.is_empty());
        assert_eq!(v, Value::Object(Map::new()));
    }
}
