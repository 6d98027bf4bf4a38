//! Colours for verdicts on a terminal: `ok` green, `FAIL`/`TIME` red, `INFRA` magenta, `skip`
//! and `-` dim, `flaky`/`stop` yellow. Only the callers decide whether to paint (the
//! `--color`, `NO_COLOR` and `CLICOLOR` rules live with the command line).

/// `text` in the colour of the verdict `symbol` (a grid symbol or an outcome word).
pub fn verdict(symbol: &str, text: &str) -> String {
    let code = match symbol {
        "ok" | "passed" | "cached" | "xfail" => "32",
        "FAIL" | "TIME" | "failed" | "timed out" => "1;31",
        "INFRA" | "infra error" | "not run" => "1;35",
        "flaky" | "stop" | "cancelled" => "33",
        "skip" | "skipped" | "-" => "2",
        _ => return text.to_string(),
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `text` right-aligned in `width` columns, its visible part painted as `symbol`: padding is
/// counted before the escapes are added.
pub fn cell(symbol: &str, width: usize, paint: bool) -> String {
    let padded = format!("{symbol:>width$}");
    if !paint {
        return padded;
    }
    let pad = padded.len() - symbol.len();
    format!("{}{}", &padded[..pad], verdict(symbol, symbol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_keep_their_width_and_paint_only_the_symbol() {
        assert_eq!(cell("ok", 6, false), "    ok");
        assert_eq!(cell("ok", 6, true), "    \x1b[32mok\x1b[0m");
        assert_eq!(cell("FAIL", 4, true), "\x1b[1;31mFAIL\x1b[0m");
        assert_eq!(verdict("unknown", "x"), "x");
    }
}
