//! JSON Schemas generated from the model (schemars), and the schema check (jsonschema) whose
//! errors are turned into diagnostics at the right span.

use std::sync::OnceLock;

use serde_json::Value;

use super::codes::Code;
use super::diag::SpecDiagnostic;
use super::model::{DistroFile, MatrixFile, SpreadTask, SuiteFile};
use super::source::{child, last_segment, SourceFile};
use super::suggest::did_you_mean;

/// The kinds of file a matrix is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Matrix,
    Distro,
    Suite,
    LegacySuite,
}

impl FileKind {
    /// File name of the committed schema under `schema/`.
    pub fn schema_file(self) -> &'static str {
        match self {
            FileKind::Matrix => "matrix.schema.json",
            FileKind::Distro => "distro.schema.json",
            FileKind::Suite => "suite.schema.json",
            FileKind::LegacySuite => "suite-yaml.schema.json",
        }
    }

    pub const ALL: [FileKind; 4] = [
        FileKind::Matrix,
        FileKind::Distro,
        FileKind::Suite,
        FileKind::LegacySuite,
    ];
}

/// Generate the schema of one kind of file. Draft-07, for the widest editor support.
pub fn generate(kind: FileKind) -> Value {
    let gen = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = match kind {
        FileKind::Matrix => gen.into_root_schema_for::<MatrixFile>(),
        FileKind::Distro => gen.into_root_schema_for::<DistroFile>(),
        FileKind::Suite => gen.into_root_schema_for::<SuiteFile>(),
        FileKind::LegacySuite => gen.into_root_schema_for::<SpreadTask>(),
    };
    committed_form(schema, kind.schema_file())
}

/// A generated schema as the engine publishes it: no `null` branches, and an `$id` naming its
/// file under `schema/`. Also used for the run report's schema.
pub fn committed_form(schema: schemars::Schema, file: &str) -> Value {
    let mut schema = schema.to_value();
    drop_null(&mut schema);
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            Value::String(format!("https://engine.invalid/schema/{file}")),
        );
    }
    schema
}

/// Optional fields are simply not required: TOML has no null, and a `null` branch would turn every
/// type error on them into an opaque "anyOf" failure. So `anyOf [X, null]` becomes X and
/// `type: [T, "null"]` becomes T.
fn drop_null(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            if let Some(Value::Array(types)) = obj.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    obj.insert("type".into(), t);
                }
            }
            if let Some(Value::Array(branches)) = obj.get("anyOf") {
                let non_null: Vec<Value> = branches
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                    .cloned()
                    .collect();
                if non_null.len() == 1 && non_null.len() < branches.len() {
                    obj.remove("anyOf");
                    if let Value::Object(inner) = &non_null[0] {
                        for (k, val) in inner {
                            obj.entry(k.clone()).or_insert_with(|| val.clone());
                        }
                    }
                }
            }
            if let Some(Value::Array(e)) = obj.get_mut("enum") {
                e.retain(|x| !x.is_null());
            }
            for val in obj.values_mut() {
                drop_null(val);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// The schema as committed: pretty JSON with a trailing newline.
pub fn render(kind: FileKind) -> String {
    to_text(&generate(kind))
}

/// Pretty JSON with a trailing newline.
pub fn to_text(schema: &Value) -> String {
    // A Value always serializes.
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}

struct Compiled {
    schema: Value,
    validator: jsonschema::Validator,
}

fn compiled(kind: FileKind) -> &'static Compiled {
    static CELLS: [OnceLock<Compiled>; FileKind::ALL.len()] = [const { OnceLock::new() }; 4];
    let idx = FileKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    CELLS[idx].get_or_init(|| {
        let schema = generate(kind);
        // The schema is generated from our own types; failing to compile it is a bug, caught by tests.
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&schema)
            .expect("generated schema compiles");
        Compiled { schema, validator }
    })
}

/// One schema error: its diagnostic, and the part of the value (a pointer relative to the checked
/// value) to drop so that the rest can still be checked semantically.
#[derive(Debug)]
pub struct SchemaProblem {
    pub diagnostic: SpecDiagnostic,
    pub prune: Option<String>,
}

/// Check `value` (the content of `file`, found at `base` in it) against the schema of `kind`;
/// every error becomes a diagnostic at the span of the offending key or value.
pub fn check(kind: FileKind, value: &Value, file: &SourceFile, base: &str) -> Vec<SchemaProblem> {
    use jsonschema::error::ValidationErrorKind as K;
    let c = compiled(kind);
    let mut out = Vec::new();
    for err in c.validator.iter_errors(value) {
        let rel = err.instance_path().as_str().to_string();
        let pointer = format!("{base}{rel}");
        let diags = to_diagnostics(&err, &c.schema, &rel, &pointer, file);
        let prunes: Vec<Option<String>> = match err.kind() {
            K::AdditionalProperties { unexpected } => {
                unexpected.iter().map(|k| Some(child(&rel, k))).collect()
            }
            K::Required { .. } => vec![None],
            _ => vec![Some(rel.clone())],
        };
        for (i, diagnostic) in diags.into_iter().enumerate() {
            let prune = prunes.get(i).cloned().flatten();
            out.push(SchemaProblem { diagnostic, prune });
        }
    }
    out
}

fn to_diagnostics(
    err: &jsonschema::ValidationError<'_>,
    schema: &Value,
    rel: &str,
    pointer: &str,
    file: &SourceFile,
) -> Vec<SpecDiagnostic> {
    use jsonschema::error::ValidationErrorKind as K;
    let value_span = |p: &str| {
        file.spans
            .nearest(p)
            .map(|(_, s)| s.value.clone())
            .unwrap_or(0..0)
    };
    let key_span = |p: &str| {
        file.spans
            .nearest(p)
            .map(|(_, s)| s.key.clone().unwrap_or_else(|| s.value.clone()))
            .unwrap_or(0..0)
    };
    let place = if pointer.is_empty() {
        "the top level".to_string()
    } else {
        format!("`{}`", dotted(pointer))
    };
    match err.kind() {
        K::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|key| {
                let known = known_properties(schema, rel);
                let mut d = SpecDiagnostic::error(
                    Code::SchemaUnknownKey,
                    format!(
                        "unknown key `{key}` {}",
                        if pointer.is_empty() {
                            "at the top level".to_string()
                        } else {
                            format!("in {place}")
                        }
                    ),
                )
                .in_file(file)
                .at(key_span(&child(pointer, key)), "not a known key here");
                d = match did_you_mean(key, known.iter().map(String::as_str)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None if !known.is_empty() => {
                        d.help(format!("known keys here: {}", known.join(", ")))
                    }
                    None => d,
                };
                d
            })
            .collect(),
        K::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![SpecDiagnostic::error(
                Code::SchemaMissingKey,
                format!(
                    "missing required key `{name}` {}",
                    if pointer.is_empty() {
                        "at the top level".to_string()
                    } else {
                        format!("in {place}")
                    }
                ),
            )
            .in_file(file)
            .at(key_span(pointer), format!("`{name}` is required here"))
            .help(format!("add `{name} = ...`"))]
        }
        K::Enum { .. } => vec![bad_value(err, schema, rel, pointer, &place, file)],
        K::AnyOf { .. } | K::OneOfNotValid { .. } if enum_options(schema, rel).is_some() => {
            vec![bad_value(err, schema, rel, pointer, &place, file)]
        }
        K::Type { .. } | K::AnyOf { .. } | K::OneOfNotValid { .. } => {
            let expected = expected_type(schema, rel).unwrap_or_else(|| "another type".into());
            vec![SpecDiagnostic::error(
                Code::SchemaWrongType,
                format!(
                    "{place} must be {expected}, found {}",
                    json_type_name(err.instance())
                ),
            )
            .in_file(file)
            .at(value_span(pointer), format!("expected {expected}"))]
        }
        K::Minimum { .. } | K::Maximum { .. } => {
            vec![
                SpecDiagnostic::error(Code::SchemaOutOfRange, format!("{place}: {err}"))
                    .in_file(file)
                    .at(value_span(pointer), "out of range"),
            ]
        }
        _ => vec![
            SpecDiagnostic::error(Code::SchemaInvalid, format!("{place}: {err}"))
                .in_file(file)
                .at(value_span(pointer), "invalid here"),
        ],
    }
}

/// A value outside an enumeration (`enum`, or a `oneOf` of documented `const`s).
fn bad_value(
    err: &jsonschema::ValidationError<'_>,
    schema: &Value,
    rel: &str,
    pointer: &str,
    place: &str,
    file: &SourceFile,
) -> SpecDiagnostic {
    let opts = enum_options(schema, rel).unwrap_or_default();
    let span = file
        .spans
        .nearest(pointer)
        .map(|(_, s)| s.value.clone())
        .unwrap_or(0..0);
    let got = err.instance().to_string();
    let d = SpecDiagnostic::error(
        Code::SchemaBadValue,
        format!("{got} is not a valid value for {place}"),
    )
    .in_file(file)
    .at(span, format!("expected one of: {}", opts.join(", ")));
    match err
        .instance()
        .as_str()
        .and_then(|g| did_you_mean(g, opts.iter().map(String::as_str)))
    {
        Some(s) => d.help(format!("did you mean \"{s}\"?")),
        None => d.help(format!(
            "use one of: {}",
            opts.iter()
                .map(|o| format!("\"{o}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The allowed values at `rel` when the schema there is an enumeration.
fn enum_options(schema: &Value, rel: &str) -> Option<Vec<String>> {
    let nodes = nodes_at(schema, rel);
    let mut out = Vec::new();
    for n in &nodes {
        if let Some(c) = n.get("const").and_then(Value::as_str) {
            out.push(c.to_string());
        } else if let Some(e) = n.get("enum").and_then(Value::as_array) {
            out.extend(e.iter().filter_map(|v| v.as_str().map(String::from)));
        } else {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `/distros/arch/locales/1` -> `distros.arch.locales[1]`.
pub fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    // Follow local `$ref`s; a loop of refs is impossible in schemars output, but bound it anyway.
    for _ in 0..16 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) if r.starts_with('#') => match root.pointer(&r[1..]) {
                Some(n) => node = n,
                None => return node,
            },
            _ => return node,
        }
    }
    node
}

/// The schema nodes describing the instance at `rel` (several when a union is involved).
fn nodes_at<'a>(root: &'a Value, rel: &str) -> Vec<&'a Value> {
    let mut current = vec![resolve(root, root)];
    for seg in rel.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        let mut next = Vec::new();
        for node in expand(root, current) {
            if let Some(p) = node.get("properties").and_then(|p| p.get(&seg)) {
                next.push(resolve(root, p));
            } else if let Some(ap) = node.get("additionalProperties").filter(|v| v.is_object()) {
                next.push(resolve(root, ap));
            } else if let Some(items) = node.get("items").filter(|v| v.is_object()) {
                if seg.parse::<usize>().is_ok() {
                    next.push(resolve(root, items));
                }
            }
        }
        current = next;
    }
    expand(root, current)
}

/// Replace union and `allOf` wrapper nodes by their branches (schemars wraps a described `$ref`
/// in `allOf` for draft-07).
fn expand<'a>(root: &'a Value, nodes: Vec<&'a Value>) -> Vec<&'a Value> {
    let mut out = Vec::new();
    let mut queue = nodes;
    let mut guard = 0;
    while let Some(n) = queue.pop() {
        guard += 1;
        if guard > 256 {
            break;
        }
        let branches = n
            .get("anyOf")
            .or_else(|| n.get("oneOf"))
            .or_else(|| n.get("allOf"))
            .and_then(Value::as_array);
        match branches {
            Some(bs) => queue.extend(bs.iter().rev().map(|b| resolve(root, b))),
            None => out.push(n),
        }
    }
    out
}

/// The keys allowed at `rel` (for "did you mean").
pub fn known_properties(root: &Value, rel: &str) -> Vec<String> {
    let mut keys: Vec<String> = nodes_at(root, rel)
        .into_iter()
        .filter_map(|n| n.get("properties").and_then(Value::as_object))
        .flat_map(|m| m.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn expected_type(root: &Value, rel: &str) -> Option<String> {
    let mut names: Vec<&'static str> = Vec::new();
    for n in nodes_at(root, rel) {
        let types: Vec<&str> = match n.get("type") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ if n.get("enum").is_some() => vec!["string"],
            _ => vec![],
        };
        for t in types {
            let name = match t {
                "string" => "a string",
                "integer" => "an integer",
                "number" => "a number",
                "boolean" => "a boolean (true or false)",
                "array" => "an array",
                "object" => "a table",
                _ => continue,
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.retain(|n| *n != "nothing");
    match names.len() {
        0 => None,
        1 => Some(names[0].to_string()),
        _ => {
            let last = names.pop().unwrap_or_default();
            Some(format!("{} or {last}", names.join(", ")))
        }
    }
}

/// Names of keys that the schema of `kind` allows at the top level (for docs and tests).
pub fn top_level_keys(kind: FileKind) -> Vec<String> {
    known_properties(&compiled(kind).schema, "")
}

#[doc(hidden)]
pub fn last(pointer: &str) -> &str {
    last_segment(pointer)
}
