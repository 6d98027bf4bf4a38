//! Loading a matrix: read every file, parse it keeping spans, check it against its schema, then
//! resolve it into the typed [`Matrix`]. Every problem of every file is collected, not just the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::checks;
use super::codes::Code;
use super::diag::{FileRef, SpecDiagnostic};
use super::glob::expand;
use super::matrix::Matrix;
use super::model::{DistroFile, MatrixFile, SpreadOnly, SpreadTask, SuiteFile};
use super::nickel;
use super::schema::{self, FileKind};
use super::source::{FileId, SourceFile, Sources};
use super::{toml_value, yaml_value};

/// Where a distro or suite was declared: a file, and the pointer of its table in that file.
#[derive(Debug, Clone)]
pub struct Origin {
    pub file: FileId,
    /// `""` for a file of its own, `/distros/NAME` for an inline distro.
    pub base: String,
    /// For suites: the format, because legacy files name some keys differently.
    pub legacy: bool,
}

impl Origin {
    /// The pointer, in the declaring file, of a field named as in the native format.
    pub fn pointer(&self, native: &str) -> String {
        let native = if self.legacy {
            match native.split('/').nth(1) {
                Some("distros") => native.replacen("/distros", "/distro-check", 1),
                Some("timeout") => native.replacen("/timeout", "/kill-timeout", 1),
                Some("warn_timeout") => native.replacen("/warn_timeout", "/warn-timeout", 1),
                _ => native.to_string(),
            }
        } else {
            native.to_string()
        };
        format!("{}{}", self.base, native)
    }
}

/// Where each part of the matrix came from, for diagnostics at plan and run time.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    pub matrix: Option<FileId>,
    pub distros: BTreeMap<String, Origin>,
    pub suites: BTreeMap<String, Origin>,
}

/// The result of loading: the matrix when it is valid, and every diagnostic found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub matrix: Option<Matrix>,
    pub sources: Sources,
    pub origins: Origins,
    pub diagnostics: Vec<SpecDiagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(SpecDiagnostic::is_error)
    }

    /// A diagnostic pointing at `pointer` (native field names) in a distro's declaration.
    pub fn distro_diagnostic(
        &self,
        distro: &str,
        pointer: &str,
        d: SpecDiagnostic,
        label: &str,
    ) -> SpecDiagnostic {
        match self.origins.distros.get(distro) {
            Some(o) => locate(d, self.sources.get(o.file), &o.pointer(pointer), label),
            None => d,
        }
    }

    /// A diagnostic pointing at `pointer` in a suite's task file.
    pub fn suite_diagnostic(
        &self,
        suite: &str,
        pointer: &str,
        d: SpecDiagnostic,
        label: &str,
    ) -> SpecDiagnostic {
        match self.origins.suites.get(super::matrix::family(suite)) {
            Some(o) => locate(d, self.sources.get(o.file), &o.pointer(pointer), label),
            None => d,
        }
    }
}

/// Attach `file` and the span of `pointer` (or its nearest ancestor) to a diagnostic.
pub fn locate(d: SpecDiagnostic, file: &SourceFile, pointer: &str, label: &str) -> SpecDiagnostic {
    let d = d.in_file(file);
    match file.spans.nearest(pointer) {
        Some((_, s)) => d.at(s.value.clone(), label),
        None => d,
    }
}

/// The key span of `pointer` when it has one (for "this key" errors), else the value span.
pub fn key_span(file: &SourceFile, pointer: &str) -> std::ops::Range<usize> {
    file.spans
        .nearest(pointer)
        .map(|(_, s)| s.key.clone().unwrap_or_else(|| s.value.clone()))
        .unwrap_or(0..0)
}

/// What the matrix declares, by name: the parsed file and where it was declared.
type Declared<T> = BTreeMap<String, (T, Origin)>;

/// Load and validate the matrix at `path` (TOML or Nickel, by extension).
pub fn load(path: &Path) -> Loaded {
    let mut out = Loaded::default();
    let Some((file_id, mut value)) = read_matrix(path, &mut out) else {
        return out;
    };
    out.origins.matrix = Some(file_id);
    // Inline distros are checked against the distro schema, each at its own place.
    let inline: Option<serde_json::Map<String, Value>> = match value.get_mut("distros") {
        Some(Value::Object(m)) => Some(std::mem::take(m)),
        _ => None,
    };
    if inline.is_some() {
        if let Some(obj) = value.as_object_mut() {
            obj.remove("distros");
        }
    }
    let matrix_file: Option<MatrixFile> = check_and_parse(
        FileKind::Matrix,
        value,
        out.sources.get(file_id),
        "",
        &mut out.diagnostics,
    );
    // Everything resolves against the matrix file's real folder, so that paths handed to
    // scripts and to Docker are absolute whatever the current directory.
    let root = out
        .sources
        .get(file_id)
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let (distros, distros_complete) = match inline {
        Some(inline) => inline_distros(inline, file_id, &mut out),
        None => distro_files(&root, matrix_file.as_ref(), file_id, &mut out),
    };
    let workspace = workspace_folder(&root, matrix_file.as_ref(), file_id, &mut out);
    let (suites, suites_complete) = suites(
        &root,
        workspace.as_deref(),
        matrix_file.as_ref(),
        file_id,
        &mut out,
    );
    for (name, (_, o)) in &distros {
        out.origins.distros.insert(name.clone(), o.clone());
    }
    for (name, (_, o)) in &suites {
        out.origins.suites.insert(name.clone(), o.clone());
    }
    let Some(matrix_file) = matrix_file else {
        sort_diagnostics(&mut out);
        return out;
    };
    let input = checks::Input {
        root: &root,
        matrix: &matrix_file,
        matrix_file: file_id,
        distros: &distros,
        suites: &suites,
        distros_complete,
        suites_complete,
        workspace: workspace.as_deref(),
    };
    let (matrix, diags) = checks::resolve(&input, &out.sources);
    out.diagnostics.extend(diags);
    sort_diagnostics(&mut out);
    if !out.has_errors() && distros_complete && suites_complete {
        out.matrix = matrix;
    }
    out
}

/// `[distros.NAME]` tables of the matrix, each checked at its own place; and whether all parsed.
fn inline_distros(
    inline: serde_json::Map<String, Value>,
    file_id: FileId,
    out: &mut Loaded,
) -> (Declared<DistroFile>, bool) {
    let mut distros = Declared::new();
    let mut distros_complete = true;
    for (name, v) in inline {
        let base = super::source::child("/distros", &name);
        match check_and_parse::<DistroFile>(
            FileKind::Distro,
            v,
            out.sources.get(file_id),
            &base,
            &mut out.diagnostics,
        ) {
            Some(d) => {
                distros.insert(
                    name,
                    (
                        d,
                        Origin {
                            file: file_id,
                            base,
                            legacy: false,
                        },
                    ),
                );
            }
            None => distros_complete = false,
        }
    }
    (distros, distros_complete)
}

/// One file per distro, from the matrix's `distros` glob (default `distros/*.toml`); and whether
/// all parsed.
fn distro_files(
    root: &Path,
    matrix_file: Option<&MatrixFile>,
    file_id: FileId,
    out: &mut Loaded,
) -> (Declared<DistroFile>, bool) {
    let pattern = matrix_file
        .and_then(|m| match &m.distros {
            Some(super::model::DistrosField::Glob(g)) => Some(g.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "distros/*.toml".to_string());
    let mut distros = Declared::new();
    let mut distros_complete = true;
    let files = expand(root, &pattern, false);
    if files.is_empty() {
        let f = out.sources.get(file_id);
        let d = SpecDiagnostic::error(
            Code::CheckNoDistros,
            format!("no distro file matches `{pattern}`"),
        );
        out.diagnostics.push(
                locate(d, f, "/distros", "matches no file")
                    .help("add one file per distro (e.g. distros/arch.toml), or declare [distros.NAME] tables inline"),
            );
        distros_complete = false;
    }
    for file in files {
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        match load_file::<DistroFile>(&file, FileKind::Distro, out) {
            Some((d, id)) => {
                distros.insert(
                    name,
                    (
                        d,
                        Origin {
                            file: id,
                            base: String::new(),
                            legacy: false,
                        },
                    ),
                );
            }
            None => distros_complete = false,
        }
    }
    (distros, distros_complete)
}

/// Suite folders from the matrix's `suites` glob or globs (default `suites/*`; a glob starting
/// with `!` leaves out the folders it matches); and whether all parsed. A matched folder without
/// a task file is a support folder (a note); a glob that yields no suite at all is an error.
fn suites(
    root: &Path,
    workspace: Option<&Path>,
    matrix_file: Option<&MatrixFile>,
    file_id: FileId,
    out: &mut Loaded,
) -> (Declared<SuiteFile>, bool) {
    let field = matrix_file.and_then(|m| m.suites.clone());
    let several = matches!(field, Some(super::model::SuitesField::Globs(ref gs)) if gs.len() > 1);
    let patterns: Vec<String> = match field {
        Some(super::model::SuitesField::Glob(g)) => vec![g],
        Some(super::model::SuitesField::Globs(gs)) => gs,
        None => vec!["suites/*".to_string()],
    };
    // `{workspace}/tests/*` is relative to the workspace; without one (an archive that could
    // not be unpacked, already reported) it matches nothing more.
    let expand_in = |pattern: &str| match pattern.strip_prefix(WORKSPACE_PREFIX) {
        Some(rest) => workspace.map(|w| expand(w, rest, true)).unwrap_or_default(),
        None => expand(root, pattern, true),
    };
    let left_out: Vec<PathBuf> = patterns
        .iter()
        .filter_map(|p| p.strip_prefix('!'))
        .flat_map(expand_in)
        .collect();
    let mut suites = Declared::new();
    let mut suites_complete = true;
    for (i, pattern) in patterns.iter().enumerate() {
        if pattern.starts_with('!') {
            continue;
        }
        let pointer = if several {
            format!("/suites/{i}")
        } else {
            "/suites".to_string()
        };
        if pattern.starts_with(WORKSPACE_PREFIX) && workspace.is_none() {
            suites_complete = false;
            continue;
        }
        let dirs: Vec<PathBuf> = expand_in(pattern)
            .into_iter()
            .filter(|d| !left_out.iter().any(|x| d.starts_with(x)))
            .collect();
        let mut found = 0;
        for dir in &dirs {
            match suite_folder(dir, &pointer, file_id, &mut suites, out) {
                Folder::Suite => found += 1,
                Folder::Support => {}
                Folder::Broken => suites_complete = false,
            }
        }
        if found == 0 && suites_complete {
            let f = out.sources.get(file_id);
            let (message, help) = if dirs.is_empty() {
                (
                    format!("no suite folder matches `{pattern}`"),
                    "each suite is a folder holding task.toml (or the seed's task.yaml)",
                )
            } else {
                (
                    format!("no folder that `{pattern}` matches holds a task file"),
                    "add a task.toml (or task.yaml) to the suite folders, or fix the glob",
                )
            };
            let d = SpecDiagnostic::error(Code::CheckNoSuites, message);
            out.diagnostics
                .push(locate(d, f, &pointer, "yields no suite").help(help));
        }
    }
    (suites, suites_complete)
}

/// Suite globs with this prefix are relative to the workspace folder.
const WORKSPACE_PREFIX: &str = "{workspace}/";

/// The workspace folder on the host: `[workspace] source`, or the `archive` unpacked into the
/// machine cache (an archive that cannot be is an error at its place). None when unknown.
fn workspace_folder(
    root: &Path,
    matrix_file: Option<&MatrixFile>,
    file_id: FileId,
    out: &mut Loaded,
) -> Option<PathBuf> {
    let ws = matrix_file.map(|m| &m.workspace);
    let Some(archive) = ws.and_then(|w| w.archive.as_deref()) else {
        let source = ws.and_then(|w| w.source.as_deref()).unwrap_or(".");
        return Some(checks::relative_to(root, source));
    };
    match crate::archive::unpacked(&checks::relative_to(root, archive)) {
        Ok(dir) => Some(dir),
        Err(e) => {
            let d = SpecDiagnostic::error(Code::CheckWorkspaceArchive, e.to_string());
            let f = out.sources.get(file_id);
            out.diagnostics
                .push(locate(d, f, "/workspace/archive", "this archive").help(
                "give a .tar or .tar.gz of the repository under test, relative to the matrix file",
            ));
            None
        }
    }
}

/// What a folder matched by a suites glob turned out to be.
enum Folder {
    Suite,
    /// No task file: support files of the suites (the seed's `tests/lib`), not a suite.
    Support,
    /// A task file that could not be loaded, or two of them.
    Broken,
}

/// One folder matched by a suites glob (`pointer` in the matrix): its task file loaded into
/// `suites`. False when it could not be.
fn suite_folder(
    dir: &Path,
    pointer: &str,
    file_id: FileId,
    suites: &mut Declared<SuiteFile>,
    out: &mut Loaded,
) -> Folder {
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let toml = dir.join("task.toml");
    let yaml = dir.join("task.yaml");
    let (has_toml, has_yaml) = (toml.is_file(), yaml.is_file());
    if has_toml && has_yaml {
        let f = out.sources.get(file_id);
        let d = SpecDiagnostic::error(
            Code::CheckAmbiguousSuite,
            format!("suite `{name}` has both task.toml and task.yaml"),
        );
        out.diagnostics
            .push(locate(d, f, pointer, "this glob matches it").help("keep one of the two files"));
        return Folder::Broken;
    }
    if !has_toml && !has_yaml {
        let shown = super::source::display_name(dir);
        let message = format!("{shown}: no task.toml or task.yaml, not a suite");
        // Once, even when two globs match the folder.
        if !out.diagnostics.iter().any(|d| d.message == message) {
            out.diagnostics.push(
                SpecDiagnostic::error(Code::CheckSupportFolder, message)
                    .note()
                    .help("support files of the suites (as the seed's tests/lib); leave it out with a `!` glob to silence this"),
            );
        }
        return Folder::Support;
    }
    if suites.contains_key(&name) {
        let f = out.sources.get(file_id);
        let d = SpecDiagnostic::error(
            Code::CheckDuplicateSuite,
            format!("two suite folders are named `{name}`"),
        );
        out.diagnostics.push(
            locate(d, f, pointer, "matched twice")
                .help("suite names must be unique: rename one folder"),
        );
        return Folder::Suite;
    }
    let parsed = if has_toml {
        load_file::<SuiteFile>(&toml, FileKind::Suite, out).map(|(s, id)| (s, id, false))
    } else {
        load_file::<SpreadTask>(&yaml, FileKind::LegacySuite, out).map(|(t, id)| {
            let order = key_order(&out.sources.get(id).spans, "/environment");
            (spread_to_native(t, &order), id, true)
        })
    };
    match parsed {
        Some((s, id, legacy)) => {
            suites.insert(
                name,
                (
                    s,
                    Origin {
                        file: id,
                        base: String::new(),
                        legacy,
                    },
                ),
            );
            Folder::Suite
        }
        None => Folder::Broken,
    }
}

/// Order diagnostics as a reader goes through the files: by file (in loading order), then by place.
fn sort_diagnostics(out: &mut Loaded) {
    let order: std::collections::HashMap<String, usize> = (0..out.sources.len())
        .map(|i| (out.sources.get(FileId(i)).name.clone(), i))
        .collect();
    out.diagnostics.sort_by_key(|d| {
        let file = d
            .file
            .as_ref()
            .and_then(|f| order.get(&f.name).copied())
            .unwrap_or(usize::MAX);
        let at = d.primary.as_ref().map_or(0, |(r, _)| r.start);
        (file, at)
    });
}

fn read_matrix(path: &Path, out: &mut Loaded) -> Option<(FileId, Value)> {
    let abs = match path.canonicalize() {
        Ok(p) => p,
        Err(e) => {
            out.diagnostics.push(
                SpecDiagnostic::error(
                    Code::LoadNotFound,
                    format!("cannot read matrix `{}`: {e}", path.display()),
                )
                .help("run in the folder holding matrix.toml, or pass -m PATH"),
            );
            return None;
        }
    };
    let text = read_source(&abs, out)?;
    if abs.extension().is_some_and(|e| e == "ncl") {
        let name = super::source::display_name(&abs);
        match nickel::evaluate(&abs, &name, &text) {
            Ok(value) => {
                let spans = nickel::approximate_spans(&text, &value);
                let id = out.sources.add(&abs, text, spans);
                Some((id, value))
            }
            Err(d) => {
                out.diagnostics.push(d);
                None
            }
        }
    } else {
        let (value, spans, errors) = toml_value::parse(&text);
        let id = out.sources.add(&abs, text, spans);
        if !errors.is_empty() {
            push_syntax_errors(out, id, errors, Code::TomlSyntax);
            return None;
        }
        Some((id, value))
    }
}

/// A file's text, or a diagnostic: unreadable, or not UTF-8 (underlined at the first bad byte,
/// with its line and column, in a lossy copy of the text).
fn read_source(abs: &Path, out: &mut Loaded) -> Option<Arc<str>> {
    let name = super::source::display_name(abs);
    let bytes = match std::fs::read(abs) {
        Ok(b) => b,
        Err(e) => {
            out.diagnostics.push(
                SpecDiagnostic::error(Code::LoadUnreadable, format!("cannot read `{name}`: {e}"))
                    .in_file_ref(FileRef::named(&name)),
            );
            return None;
        }
    };
    match String::from_utf8(bytes) {
        Ok(t) => Some(t.into()),
        Err(e) => {
            let bytes = e.as_bytes();
            let at = e.utf8_error().valid_up_to();
            let (line, col) = line_col(bytes, at);
            let lossy: Arc<str> = String::from_utf8_lossy(bytes).into_owned().into();
            // The lossy text equals the input up to `at`, where U+FFFD (3 bytes) stands in.
            let id = out.sources.add(abs, lossy, Default::default());
            out.diagnostics.push(
                SpecDiagnostic::error(
                    Code::LoadNotUtf8,
                    format!(
                        "`{name}` is not valid UTF-8: byte 0x{:02x} at line {line}, column {col}",
                        bytes[at]
                    ),
                )
                .in_file(out.sources.get(id))
                .at(at..at + '\u{FFFD}'.len_utf8(), "not UTF-8")
                .help("save the file as UTF-8 (for example `iconv -f latin1 -t utf-8`)"),
            );
            None
        }
    }
}

/// 1-based line and column (in characters) of byte `at`, which ends a valid UTF-8 prefix.
fn line_col(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at];
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

fn push_syntax_errors(
    out: &mut Loaded,
    id: FileId,
    errors: Vec<toml_value::SyntaxError>,
    code: Code,
) {
    let f = out.sources.get(id);
    for e in errors {
        let msg = e
            .message
            .lines()
            .next()
            .unwrap_or("syntax error")
            .trim()
            .to_string();
        out.diagnostics.push(
            SpecDiagnostic::error(code, format!("syntax error: {msg}"))
                .in_file(f)
                .at(e.span, "here"),
        );
    }
}

/// Read, parse, schema-check and deserialize one distro or suite file.
fn load_file<T: DeserializeOwned>(
    path: &Path,
    kind: FileKind,
    out: &mut Loaded,
) -> Option<(T, FileId)> {
    let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let text = read_source(&abs, out)?;
    let (value, spans, errors) = if kind == FileKind::LegacySuite {
        yaml_value::parse(&text, SPREAD_STRING_KEYS)
    } else {
        toml_value::parse(&text)
    };
    let id = out.sources.add(&abs, text, spans);
    if !errors.is_empty() {
        let code = if kind == FileKind::LegacySuite {
            Code::YamlSyntax
        } else {
            Code::TomlSyntax
        };
        push_syntax_errors(out, id, errors, code);
        return None;
    }
    let parsed = check_and_parse(kind, value, out.sources.get(id), "", &mut out.diagnostics)?;
    Some((parsed, id))
}

/// The keys of a spread task whose scalars spread reads as the text written (`A: 1.50` is
/// "1.50"): its string maps and scripts.
const SPREAD_STRING_KEYS: &[&str] = &[
    "environment",
    "summary",
    "details",
    "prepare",
    "execute",
    "restore",
    "debug",
    "skip",
];

/// Schema-check a value, then deserialize it. When the schema finds problems, the offending parts
/// are pruned and deserialization is still tried, so that semantic checks can report the file's
/// other problems in the same run (the result is then only used for checking).
fn check_and_parse<T: DeserializeOwned>(
    kind: FileKind,
    mut value: Value,
    file: &SourceFile,
    base: &str,
    diags: &mut Vec<SpecDiagnostic>,
) -> Option<T> {
    let problems = schema::check(kind, &value, file, base);
    if !problems.is_empty() {
        let pointers: Vec<String> = problems.iter().filter_map(|p| p.prune.clone()).collect();
        diags.extend(problems.into_iter().map(|p| lenient(kind, p.diagnostic)));
        prune(&mut value, pointers);
    }
    match serde_json::from_value::<T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            if !diags
                .iter()
                .any(|d| d.file.as_ref().is_some_and(|f| f.name == file.name))
            {
                diags.push(
                    SpecDiagnostic::error(
                        Code::SchemaInvalid,
                        format!(
                            "invalid {}: {e}",
                            kind.schema_file().trim_end_matches(".schema.json")
                        ),
                    )
                    .in_file(file),
                );
            }
            None
        }
    }
}

/// The seed's task.yaml files may carry keys the format does not know (the seed's runner ignores
/// them, and so does spread): a warning there, and the key is left out. Native files stay strict.
fn lenient(kind: FileKind, d: SpecDiagnostic) -> SpecDiagnostic {
    if kind == FileKind::LegacySuite && d.code == Code::SchemaUnknownKey {
        d.warning()
    } else {
        d
    }
}

/// Remove the values at `pointers`; array elements are removed from the highest index down so
/// that earlier removals do not shift later ones.
fn prune(value: &mut Value, mut pointers: Vec<String>) {
    let key = |p: &String| -> Vec<(u64, String)> {
        p.split('/')
            .map(|s| (s.parse::<u64>().unwrap_or(u64::MAX), s.to_string()))
            .collect()
    };
    pointers.sort_by_key(|p| std::cmp::Reverse(key(p)));
    pointers.dedup();
    for p in pointers {
        if p.is_empty() {
            continue;
        }
        let (parent, last) = p.rsplit_once('/').unwrap_or(("", &p));
        let last = last.replace("~1", "/").replace("~0", "~");
        match value.pointer_mut(parent) {
            Some(Value::Object(m)) => {
                m.remove(&last);
            }
            Some(Value::Array(a)) => {
                if let Ok(i) = last.parse::<usize>() {
                    if i < a.len() {
                        a.remove(i);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A spread task in the native model. What has no native key (systems, backends, variants)
/// travels in `spread`, for the checks to resolve and report.
fn spread_to_native(t: SpreadTask, order: &[String]) -> SuiteFile {
    SuiteFile {
        summary: t.summary,
        details: t.details,
        // The seed's runner: an empty (or absent) distro-check means every distro.
        distros: t.distro_check.filter(|d| !d.is_empty()),
        requires: None,
        timeout: t.kill_timeout,
        warn_timeout: t.warn_timeout,
        retries: None,
        // spread reads 0 as unset.
        samples: t.samples.filter(|&n| n > 0),
        expect: t.expect,
        // Resolved with the variants, from `spread.environment`.
        environment: BTreeMap::new(),
        variants: BTreeMap::new(),
        prepare: t.prepare,
        execute: t.execute,
        restore: t.restore,
        debug: t.debug,
        priority: t.priority,
        manual: t.manual,
        skip: t.skip,
        artifacts: t.artifacts,
        user: None,
        pass_env: Vec::new(),
        container: None,
        spread: Some(SpreadOnly {
            systems: t.systems,
            backends: t.backends,
            environment: in_order(t.environment, order),
            variants: t.variants,
        }),
    }
}

/// The keys directly under `pointer`, in the order the file writes them (their spans' order).
fn key_order(spans: &super::source::SpanMap, pointer: &str) -> Vec<String> {
    let prefix = format!("{pointer}/");
    let mut keys: Vec<(usize, String)> = spans
        .entries()
        .filter_map(|(k, s)| {
            let rest = k.strip_prefix(&prefix)?;
            (!rest.contains('/')).then(|| (s.key.as_ref().map_or(0, |r| r.start), unescape(rest)))
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// A map's entries in `order` (keys it lacks are skipped, keys `order` lacks come last).
fn in_order(mut map: BTreeMap<String, String>, order: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = order.iter().filter_map(|k| map.remove_entry(k)).collect();
    out.extend(map);
    out
}
