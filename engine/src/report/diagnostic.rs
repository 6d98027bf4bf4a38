//! Printing an error that is a miette diagnostic, the same way for every command.

/// Print `e` on stderr with its code, help and labels, 100 columns wide.
pub fn print<E: miette::Diagnostic + Send + Sync + 'static>(e: E, color: bool) {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let _ = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .render_report(&mut out, &e);
    eprint!("{out}");
}
