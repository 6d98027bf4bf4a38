//! What a matrix makes the engine run on the host, outside any container: the grants a reviewer
//! must see. `engine validate` lists them (also in `--format json`), `engine run` prints those
//! of its selection before anything runs, and `--no-host-exec` refuses them all.

use serde::Serialize;

use super::matrix::{Base, Matrix};
use super::source::display_name;

/// One thing run on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostGrant {
    pub kind: HostGrantKind,
    /// Whose it is: `distro arch`, `suite probe`.
    pub by: String,
    /// The distro or the suite (as in node ids).
    pub name: String,
    /// What runs: the script with its arguments, or the command of a `$(HOST: ...)` value.
    pub runs: String,
    /// When it runs.
    pub when: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostGrantKind {
    /// A `base_rootfs` script.
    RootfsScript,
    /// A spread `$(HOST: ...)` environment value.
    HostValue,
}

/// One line per command, naming everyone who runs it: `distros arch, manjaro run
/// `docker/bootstrap/debian.sh`, when its base image is missing`.
pub fn describe(grants: &[&HostGrant]) -> Vec<String> {
    let mut lines: Vec<(HostGrantKind, &str, &str, Vec<&str>)> = Vec::new();
    for g in grants {
        match lines
            .iter_mut()
            .find(|(k, runs, when, _)| *k == g.kind && *runs == g.runs && *when == g.when)
        {
            Some((_, _, _, names)) => names.push(&g.name),
            None => lines.push((g.kind, &g.runs, g.when, vec![&g.name])),
        }
    }
    lines
        .into_iter()
        .map(|(kind, runs, when, names)| {
            let (one, many) = match kind {
                HostGrantKind::RootfsScript => ("distro", "distros"),
                HostGrantKind::HostValue => ("suite", "suites"),
            };
            let (who, verb) = if names.len() == 1 {
                (format!("{one} {}", names[0]), "runs")
            } else {
                (format!("{many} {}", names.join(", ")), "run")
            };
            format!("{who} {verb} `{runs}`, {when}")
        })
        .collect()
}

/// Every host execution of the matrix, distros first.
pub fn host_grants(m: &Matrix) -> Vec<HostGrant> {
    let mut out = Vec::new();
    for (name, d) in &m.distros {
        if let Base::Rootfs { script, args, .. } = &d.base {
            let shown = script
                .strip_prefix(&m.root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| display_name(script));
            let runs = std::iter::once(shown)
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ");
            out.push(HostGrant {
                kind: HostGrantKind::RootfsScript,
                by: format!("distro {name}"),
                name: name.clone(),
                runs,
                when: "when its base image is missing",
            });
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in m.suites.values() {
        let family = s.family();
        for v in s.environment.values() {
            for (_, command) in host_expressions(v) {
                // Variants share their suite's values: one grant per suite and command.
                if seen.insert((family.to_string(), command.to_string())) {
                    out.push(HostGrant {
                        kind: HostGrantKind::HostValue,
                        by: format!("suite {family}"),
                        name: family.to_string(),
                        runs: command.to_string(),
                        when: "once per run that selects the suite",
                    });
                }
            }
        }
    }
    out
}

/// The `$(HOST: command)` parts of a value, in order: (the whole expression, the command).
pub fn host_expressions(value: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut offset = 0;
    while let Some(found) = value[offset..].find("$(HOST:") {
        let start = offset + found;
        let body = start + "$(HOST:".len();
        // The matching parenthesis (commands may hold their own).
        let mut depth = 1;
        let mut end = None;
        for (i, c) in value[body..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(body + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        out.push((&value[start..=end], value[body..end].trim()));
        offset = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_expressions_are_found_with_nested_parentheses() {
        let v = "a $(HOST: echo $(date +%s)) b $(HOST:uname -m)";
        assert_eq!(
            host_expressions(v),
            [
                ("$(HOST: echo $(date +%s))", "echo $(date +%s)"),
                ("$(HOST:uname -m)", "uname -m")
            ]
        );
        assert!(host_expressions("$(HOST: unclosed").is_empty());
        assert!(host_expressions("$(date)").is_empty());
    }
}
