//! The files a matrix is made of, and where each JSON pointer of their value sits in the text.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Byte spans of one value in a source file: its key (when it has one) and the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spans {
    pub key: Option<Range<usize>>,
    pub value: Range<usize>,
}

/// JSON pointer (`/distros/arch/locales/1`) -> spans in the file text.
#[derive(Debug, Clone, Default)]
pub struct SpanMap {
    map: HashMap<String, Spans>,
}

impl SpanMap {
    pub fn insert(&mut self, pointer: String, spans: Spans) {
        self.map.insert(pointer, spans);
    }

    pub fn get(&self, pointer: &str) -> Option<&Spans> {
        self.map.get(pointer)
    }

    /// The spans of `pointer`, or of its nearest ancestor that has spans (a value the file did not
    /// write, such as a missing key, is reported at the table that should hold it).
    pub fn nearest(&self, pointer: &str) -> Option<(&str, &Spans)> {
        let mut p = pointer;
        loop {
            if let Some((k, s)) = self.map.get_key_value(p) {
                return Some((k.as_str(), s));
            }
            if p.is_empty() {
                return None;
            }
            p = match p.rfind('/') {
                Some(i) => &p[..i],
                None => "",
            };
        }
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &Spans)> {
        self.map.iter().map(|(k, s)| (k.as_str(), s))
    }

    /// The key span of the first entry directly under `pointer` (where a table's content starts).
    pub fn first_key(&self, pointer: &str) -> Option<std::ops::Range<usize>> {
        self.map
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(pointer)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|rest| !rest.contains('/'))
            })
            .filter_map(|(_, s)| s.key.clone())
            .min_by_key(|r| r.start)
    }
}

/// Escape one segment of a JSON pointer (RFC 6901).
pub fn escape_segment(seg: &str) -> String {
    seg.replace('~', "~0").replace('/', "~1")
}

/// Join a pointer and a segment.
pub fn child(pointer: &str, seg: &str) -> String {
    format!("{pointer}/{}", escape_segment(seg))
}

/// The last segment of a pointer, unescaped.
pub fn last_segment(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap_or("")
}

/// Identifies a file in [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub usize);

/// One file the user wrote.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Absolute path.
    pub path: PathBuf,
    /// The name shown in diagnostics: relative to the current directory when possible.
    pub name: String,
    pub text: Arc<str>,
    pub spans: SpanMap,
}

/// Every file loaded for one matrix.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, path: &Path, text: Arc<str>, spans: SpanMap) -> FileId {
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            name: display_name(path),
            text,
            spans,
        });
        FileId(self.files.len() - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    pub fn get_mut(&mut self, id: FileId) -> &mut SourceFile {
        &mut self.files[id.0]
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// A path as the user would type it: relative to the current directory when it is below it.
pub fn display_name(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let cwd = cwd.and_then(|c| c.canonicalize().ok());
    match cwd.as_deref().and_then(|c| path.strip_prefix(c).ok()) {
        Some(rel) => rel.display().to_string(),
        None => path.display().to_string(),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, col)
}
