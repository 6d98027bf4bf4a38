//! Output of suites is arbitrary bytes: before a line goes into a log line for people (plain
//! lines, progress bars, GitHub annotations) its terminal escapes and control characters go,
//! so they cannot move the cursor, recolour the terminal or break a CI log.

use std::borrow::Cow;

/// `line` without ANSI escape sequences (a terminal parser, `strip-ansi-escapes`, finds them)
/// and control characters (a tab becomes a space).
pub fn clean(line: &str) -> Cow<'_, str> {
    if !line.chars().any(|c| c.is_control()) {
        return Cow::Borrowed(line);
    }
    // The parser drops tabs with the other controls: keep them as spaces.
    let stripped = strip_ansi_escapes::strip_str(line.replace('\t', " "));
    Cow::Owned(stripped.chars().filter(|c| !c.is_control()).collect())
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn escapes_and_controls_are_removed() {
        assert_eq!(clean("\u{1b}[1;31mred\u{1b}[0m text"), "red text");
        assert_eq!(clean("a\tb\rc\u{7}d"), "a bcd");
        assert_eq!(clean("\u{1b}]0;title\u{7}after"), "after");
        assert_eq!(clean("\u{1b}]8;;http://x\u{1b}\\link"), "link");
        assert_eq!(clean("plain ünïcode"), "plain ünïcode");
        assert!(matches!(clean("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
