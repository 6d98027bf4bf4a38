//! Locale names as users write them: `de_DE.UTF-8` and `de_DE.utf8` are one locale.

/// Whether two locale names name the same locale (the charset compares without case or `-`).
pub fn same_locale(a: &str, b: &str) -> bool {
    canonical_locale(a) == canonical_locale(b)
}

/// `lang.charset` with the charset lower-cased and without `-` (`de_DE.UTF-8` -> `de_DE.utf8`).
pub fn canonical_locale(l: &str) -> String {
    match l.split_once('.') {
        Some((lang, cs)) => {
            let cs = cs.to_ascii_lowercase().replace('-', "");
            format!("{lang}.{cs}")
        }
        None => l.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charsets_compare_without_case_or_dashes() {
        assert!(same_locale("de_DE.UTF-8", "de_DE.utf8"));
        assert!(same_locale("C.UTF-8", "C.utf8"));
        assert!(!same_locale("de_DE.UTF-8", "de_AT.UTF-8"));
        assert!(!same_locale("de_DE.UTF-8", "de_DE.ISO-8859-1"));
        assert_eq!(canonical_locale("POSIX"), "POSIX");
    }
}
