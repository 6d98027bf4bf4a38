//! What a cache key is made of: named parts (`Dockerfile`, `build arg MIRRORS`, `input
//! src/main.rs`, ...), each a short content hash or a value. The key is the hash of the parts;
//! the parts travel with the image as a label, so that a later run can name what changed
//! between the image that is there and the one it wants ("why rebuilt").

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Bumped when what a key covers changes, so that old results stop matching.
const DOMAIN: &str = "engine plan cache v2";

/// Parts whose values are shown in a change (references and ids, not content hashes).
const SHOWN: [&str; 3] = ["base", "base image", "image"];

/// A key's parts, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Recipe {
    parts: BTreeMap<String, String>,
}

impl Recipe {
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.parts.insert(name.into(), value.into());
    }

    pub fn remove(&mut self, name: &str) {
        self.parts.remove(name);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.parts.get(name).map(String::as_str)
    }

    /// The key of a `kind` ("image", "provision") made of these parts.
    pub fn key(&self, kind: &str) -> String {
        let mut h = blake3::Hasher::new();
        for s in [DOMAIN, kind] {
            field(&mut h, s);
        }
        for (name, value) in &self.parts {
            field(&mut h, name);
            field(&mut h, value);
        }
        h.finalize().to_hex().to_string()
    }

    /// The parts as a label value (JSON).
    pub fn to_label(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_label(label: &str) -> Option<Recipe> {
        serde_json::from_str(label).ok()
    }

    /// What changed from `older` to this recipe, one phrase per part, at most `limit` (and a
    /// count of the rest): "Dockerfile changed", "input src/new.rs added", "base image changed
    /// (sha256:1a2b3c4d5e6f -> sha256:7a8b9c0d1e2f)".
    pub fn changes_since(&self, older: &Recipe, limit: usize) -> Vec<String> {
        let mut out = Vec::new();
        let names = older.parts.keys().chain(self.parts.keys());
        let mut seen = std::collections::BTreeSet::new();
        for name in names {
            if !seen.insert(name) {
                continue;
            }
            let phrase = match (older.parts.get(name), self.parts.get(name)) {
                (Some(a), Some(b)) if a == b => continue,
                (Some(a), Some(b)) if SHOWN.contains(&name.as_str()) => {
                    format!("{name} changed ({} -> {})", shown(a), shown(b))
                }
                (Some(_), Some(_)) => format!("{name} changed"),
                (None, Some(_)) => format!("{name} added"),
                (Some(_), None) => format!("{name} removed"),
                (None, None) => continue,
            };
            out.push(phrase);
        }
        if out.len() > limit {
            let rest = out.len() - limit;
            out.truncate(limit);
            let mut more = String::new();
            let _ = write!(more, "and {rest} more");
            out.push(more);
        }
        out
    }
}

/// A value as shown in a change: ids and digests cut to 12 hex digits after their algorithm.
fn shown(value: &str) -> String {
    match value.split_once(':') {
        Some((algo, hex)) if algo.starts_with("sha") && hex.len() > 12 => {
            format!("{algo}:{}", &hex[..12])
        }
        _ if value.len() == 64 && value.chars().all(|c| c.is_ascii_hexdigit()) => {
            value[..12].to_string()
        }
        _ => value.to_string(),
    }
}

fn field(h: &mut blake3::Hasher, s: &str) {
    // Length prefixes keep ("ab","c") and ("a","bc") apart.
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

/// 16 hex digits of the content hash of `bytes`: a part's value.
pub fn digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(parts: &[(&str, &str)]) -> Recipe {
        let mut r = Recipe::default();
        for (k, v) in parts {
            r.set(*k, *v);
        }
        r
    }

    #[test]
    fn key_depends_on_every_part_and_the_kind_and_not_on_insertion_order() {
        let a = recipe(&[("Dockerfile", "1"), ("base", "x")]);
        let b = recipe(&[("base", "x"), ("Dockerfile", "1")]);
        assert_eq!(a.key("image"), b.key("image"));
        assert_ne!(a.key("image"), a.key("provision"));
        assert_ne!(
            a.key("image"),
            recipe(&[("Dockerfile", "2"), ("base", "x")]).key("image")
        );
        assert_ne!(
            recipe(&[("ab", "c")]).key("image"),
            recipe(&[("a", "bc")]).key("image")
        );
    }

    #[test]
    fn changes_name_the_parts_and_show_ids() {
        let old = recipe(&[
            ("Dockerfile", "1"),
            ("base image", &format!("sha256:{}", "a".repeat(64))),
            ("input src/old.rs", "1"),
            ("input src/main.rs", "1"),
        ]);
        let new = recipe(&[
            ("Dockerfile", "1"),
            ("base image", &format!("sha256:{}", "b".repeat(64))),
            ("input src/new.rs", "1"),
            ("input src/main.rs", "2"),
        ]);
        assert_eq!(
            new.changes_since(&old, 10),
            [
                "base image changed (sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb)",
                "input src/main.rs changed",
                "input src/old.rs removed",
                "input src/new.rs added",
            ]
        );
        assert_eq!(
            new.changes_since(&old, 1),
            [
                "base image changed (sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb)",
                "and 3 more"
            ]
        );
        assert!(new.changes_since(&new, 10).is_empty());
    }

    #[test]
    fn the_label_round_trips() {
        let r = recipe(&[
            ("build arg MIRRORS", "abc"),
            ("base", "archlinux:base-devel"),
        ]);
        assert_eq!(Recipe::from_label(&r.to_label()), Some(r));
        assert_eq!(Recipe::from_label("not json"), None);
    }
}
