//! Diagnostics about the user's files: a miette `Diagnostic` that underlines the exact place, and a
//! machine-readable form for editors and CI (`--format json`).

use std::fmt;
use std::ops::Range;

use miette::{LabeledSpan, NamedSource, Severity, SourceCode};
use serde::Serialize;

use super::source::{line_col, SourceFile};

/// One problem in the matrix, its distro files or its suite files.
#[derive(Debug, Clone)]
pub struct SpecDiagnostic {
    /// Stable code, e.g. `schema::unknown-key`, `check::unknown-distro`.
    pub code: String,
    pub message: String,
    pub severity: Severity,
    pub file: Option<FileRef>,
    /// Primary place and its label.
    pub primary: Option<(Range<usize>, String)>,
    /// Other places that explain the problem (e.g. the first of two mounts on one target).
    pub secondary: Vec<(Range<usize>, String)>,
    pub help: Option<String>,
}

/// The file a diagnostic points into (a copy, so that a diagnostic renders on its own).
#[derive(Debug, Clone)]
pub struct FileRef {
    pub name: String,
    pub source: NamedSource<String>,
    text_len: usize,
}

impl FileRef {
    pub fn new(file: &SourceFile) -> Self {
        FileRef {
            name: file.name.clone(),
            source: NamedSource::new(file.name.clone(), file.text.to_string()).with_language(
                if file.name.ends_with(".yaml") || file.name.ends_with(".yml") {
                    "yaml"
                } else {
                    "toml"
                },
            ),
            text_len: file.text.len(),
        }
    }

    /// A file known by name only (could not be read).
    pub fn named(name: &str) -> Self {
        FileRef {
            name: name.to_string(),
            source: NamedSource::new(name, String::new()),
            text_len: 0,
        }
    }
}

impl SpecDiagnostic {
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        SpecDiagnostic {
            code: code.into(),
            message: message.into(),
            severity: Severity::Error,
            file: None,
            primary: None,
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn in_file(mut self, file: &SourceFile) -> Self {
        self.file = Some(FileRef::new(file));
        self
    }

    pub fn in_file_ref(mut self, file: FileRef) -> Self {
        self.file = Some(file);
        self
    }

    pub fn at(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.primary = Some((self.clamp(span), label.into()));
        self
    }

    pub fn also(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        let span = self.clamp(span);
        self.secondary.push((span, label.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Information, not a problem: `engine validate` still exits 0.
    pub fn note(mut self) -> Self {
        self.severity = Severity::Advice;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    fn clamp(&self, span: Range<usize>) -> Range<usize> {
        match &self.file {
            Some(f) => span.start.min(f.text_len)..span.end.min(f.text_len),
            None => span,
        }
    }

    /// The machine-readable form.
    pub fn to_json(&self) -> JsonDiagnostic {
        let (line, column, span) = match (&self.file, &self.primary) {
            (Some(f), Some((r, _))) => {
                let (l, c) = line_col(f.source.inner(), r.start);
                (
                    Some(l),
                    Some(c),
                    Some(JsonSpan {
                        offset: r.start,
                        length: r.end - r.start,
                    }),
                )
            }
            _ => (None, None, None),
        };
        JsonDiagnostic {
            code: self.code.clone(),
            severity: match self.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Advice => "note",
            },
            message: self.message.clone(),
            file: self.file.as_ref().map(|f| f.name.clone()),
            line,
            column,
            span,
            label: self.primary.as_ref().map(|(_, l)| l.clone()),
            help: self.help.clone(),
        }
    }
}

/// `--format json` shape of a diagnostic.
#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    pub code: String,
    pub severity: &'static str,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub span: Option<JsonSpan>,
    pub label: Option<String>,
    pub help: Option<String>,
}

/// A byte span.
#[derive(Debug, Clone, Serialize)]
pub struct JsonSpan {
    pub offset: usize,
    pub length: usize,
}

impl fmt::Display for SpecDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, &self.primary) {
            // Without a span miette shows no file name, so the message carries it.
            (Some(file), None) => write!(f, "{}: {}", file.name, self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SpecDiagnostic {}

impl miette::Diagnostic for SpecDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        match (&self.file, &self.primary) {
            (Some(f), Some(_)) => Some(&f.source as &dyn SourceCode),
            _ => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (r, label) = self.primary.as_ref()?;
        let primary = LabeledSpan::new_primary_with_span(Some(label.clone()), r.clone());
        let rest = self
            .secondary
            .iter()
            .map(|(r, l)| LabeledSpan::new_with_span(Some(l.clone()), r.clone()));
        Some(Box::new(std::iter::once(primary).chain(rest)))
    }
}

/// How diagnostics are rendered for people.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub color: bool,
    pub width: usize,
}

/// Render one diagnostic as miette's graphical report.
pub fn render(diag: &SpecDiagnostic, opts: RenderOptions) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if opts.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(opts.width)
        .with_links(false);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = handler.render_report(&mut out, diag);
    out
}
