//! Variants of a suite: spread's (`NAME/v1,v2` environment keys and the `variants` list) and
//! task.toml's (`[variants.NAME]`). Each variant becomes a suite of its own, `SUITE:VARIANT`.

use std::collections::BTreeMap;

/// A problem at a place of the task file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer under the suite file (`/environment/A~1x`, `/variants/1`).
    pub pointer: String,
    pub message: String,
}

/// What a spread task's environment and `variants` give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpreadVariants {
    /// The variant names, in order of first appearance (`+x` ones after); empty: no variants.
    pub names: Vec<String>,
    /// Every variant was removed (`variants: [-a, -b]`): the task has no job.
    pub all_removed: bool,
}

/// A `NAME/v1,v2` key split, or `None` for a plain `NAME`.
fn split_key(key: &str) -> Option<(&str, Vec<&str>)> {
    let (name, variants) = key.split_once('/')?;
    Some((name, variants.split(',').map(str::trim).collect()))
}

/// The variants a spread task declares, checked.
pub fn spread(
    environment: &[(String, String)],
    list: Option<&[String]>,
    valid_name: fn(&str) -> bool,
) -> Result<SpreadVariants, Problem> {
    let mut names: Vec<String> = Vec::new();
    for (key, _) in environment {
        let Some((var, variants)) = split_key(key) else {
            continue;
        };
        let at = format!("/environment/{}", key.replace('~', "~0").replace('/', "~1"));
        if var.is_empty() || variants.iter().any(|v| v.is_empty()) {
            return Err(Problem {
                pointer: at,
                message: format!("`{key}` is not `NAME/VARIANT` (or `NAME/V1,V2`)"),
            });
        }
        for v in variants {
            if !valid_name(v) {
                return Err(Problem {
                    pointer: at,
                    message: format!(
                        "variant `{v}` is not a valid name: lowercase letters, digits, `-`, `_` and `.`"
                    ),
                });
            }
            if !names.iter().any(|n| n == v) {
                names.push(v.to_string());
            }
        }
    }
    let Some(list) = list else {
        return Ok(SpreadVariants {
            names,
            all_removed: false,
        });
    };
    let is_delta = |e: &str| e.starts_with(['+', '-']);
    let delta = list.first().is_some_and(|e| is_delta(e));
    let mut chosen = if delta { names.clone() } else { Vec::new() };
    for (i, entry) in list.iter().enumerate() {
        let at = format!("/variants/{i}");
        if is_delta(entry) != delta {
            return Err(Problem {
                pointer: at,
                message: "mixes plain entries with `+`/`-` entries: write either the variants to run, or only `+`/`-` changes".into(),
            });
        }
        let name = entry.trim_start_matches(['+', '-']);
        if !valid_name(name) {
            return Err(Problem {
                pointer: at,
                message: format!("variant `{name}` is not a valid name"),
            });
        }
        if entry.starts_with('-') {
            if !names.iter().any(|n| n == name) {
                return Err(Problem {
                    pointer: at,
                    message: format!("removes variant `{name}`, which no environment key names"),
                });
            }
            chosen.retain(|n| n != name);
        } else if !chosen.iter().any(|n| n == name) {
            chosen.push(name.to_string());
        }
    }
    Ok(SpreadVariants {
        all_removed: chosen.is_empty() && !names.is_empty(),
        names: chosen,
    })
}

/// The variables of one variant (or of the task without variants), in the order written: a
/// `NAME/...` key that names the variant sets NAME; a later key for the same name replaces the
/// value where the name first appeared.
pub fn spread_environment(
    environment: &[(String, String)],
    variant: Option<&str>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (key, value) in environment {
        let name = match split_key(key) {
            None => key.as_str(),
            Some((name, variants)) if variant.is_some_and(|v| variants.contains(&v)) => name,
            Some(_) => continue,
        };
        match out.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.clone(),
            None => out.push((name.to_string(), value.clone())),
        }
    }
    out
}

/// task.toml's variant names, checked.
pub fn native<T>(variants: &BTreeMap<String, T>, valid_name: fn(&str) -> bool) -> Vec<Problem> {
    variants
        .keys()
        .filter(|name| !valid_name(name))
        .map(|name| Problem {
            pointer: format!("/variants/{}", name.replace('~', "~0").replace('/', "~1")),
            message: format!(
                "variant `{name}` is not a valid name: lowercase letters, digits, `-`, `_` and `.`"
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(n: &str) -> bool {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keys_name_variants_and_the_list_changes_them() {
        let e = env(&[
            ("A", "1"),
            ("L/en", "C"),
            ("L/de,fr", "de_DE"),
            ("B/fr", "x"),
        ]);
        let v = spread(&e, None, valid).unwrap();
        assert_eq!(v.names, ["en", "de", "fr"]);
        let v = spread(&e, Some(&list(&["-fr", "+extra"])), valid).unwrap();
        assert_eq!(v.names, ["en", "de", "extra"]);
        let v = spread(&e, Some(&list(&["de"])), valid).unwrap();
        assert_eq!(v.names, ["de"]);
        let v = spread(&e, Some(&list(&["-en", "-de", "-fr"])), valid).unwrap();
        assert!(v.all_removed);
    }

    #[test]
    fn bad_keys_and_lists_are_placed() {
        let p = spread(&env(&[("A/", "1")]), None, valid).unwrap_err();
        assert_eq!(p.pointer, "/environment/A~1");
        let p = spread(&env(&[("A/Bad", "1")]), None, valid).unwrap_err();
        assert!(p.message.contains("`Bad`"), "{}", p.message);
        let e = env(&[("L/en", "C")]);
        let p = spread(&e, Some(&list(&["-en", "de"])), valid).unwrap_err();
        assert_eq!(p.pointer, "/variants/1");
        let p = spread(&e, Some(&list(&["-de"])), valid).unwrap_err();
        assert!(p.message.contains("no environment key"), "{}", p.message);
    }

    #[test]
    fn a_variant_sees_plain_keys_and_its_own_in_written_order() {
        let e = env(&[("L", "C"), ("B/de", "$L.x"), ("L/de", "de_DE"), ("C", "$B")]);
        assert_eq!(
            spread_environment(&e, Some("de")),
            env(&[("L", "de_DE"), ("B", "$L.x"), ("C", "$B")])
        );
        assert_eq!(
            spread_environment(&e, Some("en")),
            env(&[("L", "C"), ("C", "$B")])
        );
        assert_eq!(
            spread_environment(&e, None),
            env(&[("L", "C"), ("C", "$B")])
        );
    }
}
