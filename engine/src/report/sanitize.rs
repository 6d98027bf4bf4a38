//! Output of suites is arbitrary bytes: before a line goes into a log line for people (plain
//! lines, progress bars, GitHub annotations) its terminal escapes and control characters go,
//! so they cannot move the cursor, recolour the terminal or break a CI log.

use std::borrow::Cow;

/// `line` without ANSI escape sequences and control characters (a tab becomes a space).
pub fn clean(line: &str) -> Cow<'_, str> {
    if !line.chars().any(|c| c.is_control()) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// After ESC: a CSI sequence (`[` params final-byte), an OSC sequence (`]` ... BEL or ESC `\`),
/// or a single character.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => {
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    break;
                }
            }
        }
        Some(']') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' {
                    break;
                }
                if c == '\u{1b}' {
                    chars.next_if_eq(&'\\');
                    break;
                }
            }
        }
        _ => {}
    }
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
