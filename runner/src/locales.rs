//! Locale names, `locale -a`, definitions, and /etc/locale.gen.

/// One spelling per locale: `de_DE.utf8` and `de_DE.UTF-8` are `de_DE.UTF-8`.
pub fn canonical(name: &str) -> String {
    let name = name.trim();
    match name.split_once('.') {
        Some((lang, cs)) => {
            let (cs, modifier) = match cs.split_once('@') {
                Some((c, m)) => (c, Some(m)),
                None => (cs, None),
            };
            let cs = match cs.to_ascii_lowercase().replace('-', "").as_str() {
                "utf8" => "UTF-8".to_string(),
                "iso88591" => "ISO-8859-1".to_string(),
                "iso885915" => "ISO-8859-15".to_string(),
                _ => cs.to_string(),
            };
            match modifier {
                Some(m) => format!("{lang}.{cs}@{m}"),
                None => format!("{lang}.{cs}"),
            }
        }
        None => name.to_string(),
    }
}

/// The language part (`de_DE` of `de_DE.UTF-8`): the name of its definition file.
pub fn definition_name(locale: &str) -> &str {
    locale.split(['.', '@']).next().unwrap_or(locale)
}

/// `locale -a` output -> canonical names, sorted, without duplicates.
pub fn parse_locale_a(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(canonical)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The charset word locale.gen expects after the name.
fn charmap(locale: &str) -> String {
    match locale.split_once('.') {
        Some((_, cs)) => cs.split('@').next().unwrap_or(cs).to_string(),
        None => "ISO-8859-1".to_string(),
    }
}

/// Enable `locale` in the text of /etc/locale.gen: uncomment its line (`#de_DE.UTF-8 UTF-8` or
/// `# de_DE.UTF-8 UTF-8`), or append one. Returns the new text.
pub fn enable_in_locale_gen(text: &str, locale: &str) -> String {
    let want = canonical(locale);
    let mut found = false;
    let mut out = String::new();
    for line in text.lines() {
        let body = line.trim_start_matches('#').trim();
        let name = body.split_whitespace().next().unwrap_or("");
        if !found
            && !name.is_empty()
            && canonical(name) == want
            && body.split_whitespace().count() == 2
        {
            out.push_str(body);
            found = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !found {
        out.push_str(&format!("{want} {}\n", charmap(&want)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names() {
        assert_eq!(canonical("de_DE.utf8"), "de_DE.UTF-8");
        assert_eq!(canonical("de_DE.UTF-8"), "de_DE.UTF-8");
        assert_eq!(canonical("C.utf8"), "C.UTF-8");
        assert_eq!(canonical("POSIX"), "POSIX");
        assert_eq!(canonical("sr_RS.utf8@latin"), "sr_RS.UTF-8@latin");
        assert_eq!(definition_name("de_DE.UTF-8"), "de_DE");
    }

    #[test]
    fn locale_a_output() {
        assert_eq!(
            parse_locale_a("C\nC.utf8\nPOSIX\nen_US.utf8\nC.UTF-8\n"),
            ["C", "C.UTF-8", "POSIX", "en_US.UTF-8"]
        );
    }

    #[test]
    fn locale_gen_editing() {
        let arch = "# comment\n#de_DE.UTF-8 UTF-8\n#de_DE ISO-8859-1\n#en_US.UTF-8 UTF-8\n";
        let t = enable_in_locale_gen(arch, "de_DE.UTF-8");
        assert!(t.contains("\nde_DE.UTF-8 UTF-8\n"), "{t}");
        assert!(t.contains("#de_DE ISO-8859-1"));
        assert!(t.contains("#en_US.UTF-8 UTF-8"));
        let debian = "# de_DE.UTF-8 UTF-8\n";
        assert_eq!(
            enable_in_locale_gen(debian, "de_DE.utf8"),
            "de_DE.UTF-8 UTF-8\n"
        );
        assert_eq!(
            enable_in_locale_gen("", "fr_FR.UTF-8"),
            "fr_FR.UTF-8 UTF-8\n"
        );
        // A comment mentioning the name is not a locale line.
        let t = enable_in_locale_gen("# see de_DE.UTF-8 for more info\n", "de_DE.UTF-8");
        assert!(
            t.ends_with("de_DE.UTF-8 UTF-8\n") && t.starts_with("# see"),
            "{t}"
        );
    }
}
