//! "Did you mean" suggestions.

/// The candidate closest to `input`, when it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_l = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let score = strsim::jaro_winkler(&input_l, &c.to_ascii_lowercase());
            let normalized =
                input_l.replace(['-', '_'], "") == c.to_ascii_lowercase().replace(['-', '_'], "");
            (if normalized { 2.0 } else { score }, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_suggested() {
        assert_eq!(
            did_you_mean("base_imgae", ["base_image", "base_rootfs", "pull"]),
            Some("base_image")
        );
        assert_eq!(
            did_you_mean("on-missing-locale", ["on_missing_locale", "locales"]),
            Some("on_missing_locale")
        );
        assert_eq!(did_you_mean("zzz", ["base_image", "pull"]), None);
    }
}
