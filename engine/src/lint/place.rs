//! Where a line of a script sits in the file that declares it: the script is a string value
//! (a TOML multi-line string, a YAML block scalar, a one-line string), so each of its lines is
//! found in the file text from the value's start on, in order, by its content.

use std::ops::Range;

/// Where one script line's content (after its own indentation) starts in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// Byte offset in the file of the line's first non-blank character.
    pub at: usize,
    /// The script line's own indentation (columns before `at` in the script).
    pub indent: usize,
}

/// For each line of `script`, where it is in `text` (the value starts at `value.start`); `None`
/// for blank lines and lines that cannot be found (an escaped string, say).
pub fn script_lines(text: &str, value: Range<usize>, script: &str) -> Vec<Option<Anchor>> {
    // Start at the beginning of the line holding the value.
    let mut cursor = text[..value.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |n| n + 1);
    let mut out = Vec::new();
    for line in script.lines() {
        let content = line.trim_start();
        if content.trim_end().is_empty() {
            out.push(None);
            continue;
        }
        let indent = line.len() - content.len();
        let mut found = None;
        let mut start = cursor;
        while start < text.len() {
            let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
            if let Some(p) = text[start..end].find(content.trim_end()) {
                found = Some((start + p, end));
                break;
            }
            start = end + 1;
        }
        match found {
            Some((at, line_end)) => {
                out.push(Some(Anchor { at, indent }));
                cursor = line_end.min(text.len());
            }
            None => out.push(None),
        }
    }
    out
}

/// The byte offset in `text` of 1-based `column` of a script line anchored at `anchor`.
pub fn offset(text: &str, anchor: Anchor, column: usize) -> usize {
    let line_end = text[anchor.at..]
        .find('\n')
        .map_or(text.len(), |n| anchor.at + n);
    let shift = column.saturating_sub(1).saturating_sub(anchor.indent);
    (anchor.at + shift).min(line_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(text: &str, key: &str, script: &str, line: usize, column: usize) -> String {
        let start = text.find(key).unwrap();
        let lines = script_lines(text, start..text.len(), script);
        let a = lines[line - 1].unwrap();
        let at = offset(text, a, column);
        text[at..].lines().next().unwrap().to_string()
    }

    #[test]
    fn toml_multi_line_strings() {
        let text = "execute = \"\"\"\necho a\n! test -L /usr/bin/date\necho b\n\"\"\"\n";
        let script = "echo a\n! test -L /usr/bin/date\necho b\n";
        assert_eq!(
            place(text, "execute", script, 2, 1),
            "! test -L /usr/bin/date"
        );
        assert_eq!(
            place(text, "execute", script, 2, 3),
            "test -L /usr/bin/date"
        );
    }

    #[test]
    fn yaml_block_scalars_strip_the_indentation() {
        let text =
            "summary: x\nexecute: |\n    echo a\n    if true; then\n      ! test -L /x\n    fi\n";
        let script = "echo a\nif true; then\n  ! test -L /x\nfi\n";
        assert_eq!(place(text, "execute", script, 3, 3), "! test -L /x");
        assert_eq!(place(text, "execute", script, 3, 5), "test -L /x");
    }

    #[test]
    fn repeated_lines_are_found_in_order_and_blank_lines_have_no_place() {
        let text = "prepare: |\n  echo same\n\n  echo same\n";
        let script = "echo same\n\necho same\n";
        let lines = script_lines(text, 0..text.len(), script);
        assert_eq!(lines[1], None);
        let (a, b) = (lines[0].unwrap().at, lines[2].unwrap().at);
        assert!(b > a, "{a} {b}");
        assert_eq!(&text[b..b + 9], "echo same");
    }
}
