//! "Did you mean" suggestions.

/// The candidate closest to `input`, when it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input_l = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let score = strsim::jaro_winkler(&input_l, &c.to_ascii_lowercase());
            let normalized = input_l.replace(['-', '_'], "") == c.to_ascii_lowercase().replace(['-', '_'], "");
            (if normalized { 2.0 } else { score }, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The few candidates closest to `input`, best first (for "no such name" errors).
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>, n: usize) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_suggested() {
        assert_eq!(did_you_mean("base_imgae", ["base_image", "base_rootfs", "pull"]), Some("base_image"));
        assert_eq!(did_you_mean("on-missing-locale", ["on_missing_locale", "locales"]), Some("on_missing_locale"));
        assert_eq!(did_you_mean("zzz", ["base_image", "pull"]), None);
    }
}
