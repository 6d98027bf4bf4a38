//! /etc/os-release: parsing and normalizing the distro ID.

use std::collections::HashMap;

use crate::protocol::OsInfo;

/// IDs the engine knows by name. `endeavoros` is a spelling the seed met in the wild.
const KNOWN: &[(&str, &str)] = &[
    ("arch", "arch"),
    ("archarm", "arch"),
    ("manjaro", "manjaro"),
    ("manjaro-arm", "manjaro"),
    ("cachyos", "cachyos"),
    ("endeavouros", "endeavouros"),
    ("endeavoros", "endeavouros"),
];

/// Parse the KEY=value lines of an os-release file (quotes and backslash escapes as the
/// format allows; comments and blank lines skipped).
pub fn parse(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        out.insert(k.trim().to_string(), unquote(v.trim()));
    }
    out
}

fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    if bytes.len() >= 2
        && (bytes[0] == b'"' || bytes[0] == b'\'')
        && bytes[bytes.len() - 1] == bytes[0]
    {
        let inner = &v[1..v.len() - 1];
        if bytes[0] == b'\'' {
            return inner.to_string();
        }
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    v.to_string()
}

/// Normalize: a known ID by name; else an ID_LIKE of the Arch family gives `arch-like:<id>`;
/// else `unknown:<id>`.
pub fn info(text: &str) -> OsInfo {
    let fields = parse(text);
    let id = fields
        .get("ID")
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let id_like: Vec<String> = fields
        .get("ID_LIKE")
        .map(|s| {
            s.split_whitespace()
                .map(|w| w.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let normalized = if let Some((_, n)) = KNOWN.iter().find(|(k, _)| *k == id) {
        n.to_string()
    } else if id_like.iter().any(|l| l == "arch") {
        format!("arch-like:{id}")
    } else if id.is_empty() {
        "unknown".to_string()
    } else {
        format!("unknown:{id}")
    };
    OsInfo {
        id,
        id_like,
        normalized,
        pretty_name: fields.get("PRETTY_NAME").cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARCH: &str = r#"NAME="Arch Linux"
PRETTY_NAME="Arch Linux"
ID=arch
BUILD_ID=rolling
ANSI_COLOR="38;2;23;147;209"
HOME_URL="https://archlinux.org/"
LOGO=archlinux-logo
"#;
    const MANJARO: &str = r#"NAME="Manjaro Linux"
PRETTY_NAME="Manjaro Linux"
ID=manjaro
ID_LIKE=arch
BUILD_ID=rolling
ANSI_COLOR="32;1;24;144;200"
LOGO=manjarolinux
"#;
    const CACHYOS: &str = r#"NAME="CachyOS Linux"
PRETTY_NAME="CachyOS"
ID=cachyos
ID_LIKE=arch
BUILD_ID=rolling
ANSI_COLOR="38;2;23;147;209"
LOGO=cachyos
"#;
    const ENDEAVOUROS: &str = r#"NAME='EndeavourOS'
PRETTY_NAME='EndeavourOS'
ID='endeavouros'
ID_LIKE='arch'
BUILD_ID='2024.01.25'
ANSI_COLOR='38;2;23;147;209'
LOGO='endeavouros'
"#;
    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"#;

    #[test]
    fn the_four_and_debian() {
        assert_eq!(info(ARCH).normalized, "arch");
        assert_eq!(info(MANJARO).normalized, "manjaro");
        assert_eq!(info(CACHYOS).normalized, "cachyos");
        let e = info(ENDEAVOUROS);
        assert_eq!(e.normalized, "endeavouros");
        assert_eq!(e.id_like, ["arch"]);
        assert_eq!(e.pretty_name.as_deref(), Some("EndeavourOS"));
        assert_eq!(info(DEBIAN).normalized, "unknown:debian");
        assert_eq!(
            info(DEBIAN).pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn id_like_fallback_and_spelling() {
        assert_eq!(
            info("ID=garuda\nID_LIKE=arch\n").normalized,
            "arch-like:garuda"
        );
        assert_eq!(info("ID=\"endeavoros\"\n").normalized, "endeavouros");
        assert_eq!(info("# nothing\n").normalized, "unknown");
    }

    #[test]
    fn quoting() {
        let f = parse("A=\"x \\\"y\\\" z\"\nB='a b'\nC=plain\n#D=no\n");
        assert_eq!(f["A"], "x \"y\" z");
        assert_eq!(f["B"], "a b");
        assert_eq!(f["C"], "plain");
        assert!(!f.contains_key("D"));
    }
}
