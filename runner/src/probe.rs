//! `runner probe`: what this container is — distro, locales, AUR helpers, package manager.

use std::process::Stdio;

use crate::locales;
use crate::osrelease;
use crate::protocol::{HelperInfo, LocaleInfo, Probe};
use crate::system::System;

/// Helpers looked for when the spec names none.
pub const DEFAULT_HELPERS: &[&str] = &["paru", "yay", "pikaur", "trizen", "aura"];
const PACKAGE_MANAGERS: &[&str] = &["pacman", "apt-get", "dnf", "zypper", "apk"];

pub fn probe(sys: &System, helpers: &[String]) -> Probe {
    let os_text = sys
        .read("/etc/os-release")
        .or_else(|| sys.read("/usr/lib/os-release"))
        .unwrap_or_default();
    let candidates: Vec<String> = if helpers.is_empty() {
        DEFAULT_HELPERS.iter().map(|s| s.to_string()).collect()
    } else {
        helpers.to_vec()
    };
    Probe {
        os: osrelease::info(&os_text),
        locales: locale_info(sys),
        aur_helpers: candidates
            .iter()
            .filter_map(|h| detect_helper(sys, h))
            .collect(),
        package_manager: PACKAGE_MANAGERS
            .iter()
            .find(|p| sys.which(p).is_some())
            .map(|s| s.to_string()),
    }
}

/// Locales generated (`locale -a`) and definable (/usr/share/i18n/locales).
pub fn locale_info(sys: &System) -> LocaleInfo {
    let available = sys
        .command("locale")
        .and_then(|mut c| c.arg("-a").stderr(Stdio::null()).output().ok())
        .map(|o| locales::parse_locale_a(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or_default();
    let mut definable: Vec<String> = std::fs::read_dir(sys.file("/usr/share/i18n/locales"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    definable.sort();
    LocaleInfo {
        available,
        definable,
    }
}

/// Find a helper: PATH lookup first, then `which`, then whether `NAME --version` runs at all.
pub fn detect_helper(sys: &System, name: &str) -> Option<HelperInfo> {
    let path = sys
        .which(name)
        .map(|p| p.display().to_string())
        .or_else(|| {
            sys.command("which")
                .and_then(|mut c| c.arg(name).stderr(Stdio::null()).output().ok())
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|s| !s.is_empty())
        });
    let version = || -> Option<String> {
        let mut c = match &path {
            Some(p) => std::process::Command::new(p),
            None => sys
                .command(name)
                .or_else(|| Some(std::process::Command::new(name)))?,
        };
        let out = c
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    };
    let v = version();
    match (path, v) {
        (Some(path), v) => Some(HelperInfo {
            name: name.to_string(),
            path,
            version: v,
        }),
        (None, Some(v)) => Some(HelperInfo {
            name: name.to_string(),
            path: name.to_string(),
            version: Some(v),
        }),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn tool(dir: &std::path::Path, name: &str, script: &str) {
        crate::test_support::write_executable(&dir.join(name), &format!("#!/bin/sh\n{script}\n"));
    }

    fn fake() -> (tempfile::TempDir, System) {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("usr/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(t.path().join("etc")).unwrap();
        std::fs::create_dir_all(t.path().join("usr/share/i18n/locales")).unwrap();
        std::fs::write(t.path().join("usr/share/i18n/locales/en_US"), "").unwrap();
        std::fs::write(
            t.path().join("etc/os-release"),
            "ID=cachyos\nID_LIKE=arch\n",
        )
        .unwrap();
        tool(
            &bin,
            "locale",
            "printf 'C\\nC.utf8\\nPOSIX\\nen_US.utf8\\n'",
        );
        tool(&bin, "pacman", "exit 0");
        let sys = System {
            root: t.path().to_path_buf(),
            path: vec![bin],
        };
        (t, sys)
    }

    #[test]
    fn probe_of_a_fake_tree() {
        let (t, sys) = fake();
        tool(
            &t.path().join("usr/bin"),
            "paru",
            "echo 'paru v2.0.4 - libalpm v15.0.0'",
        );
        let p = probe(&sys, &["paru".into(), "yay".into()]);
        assert_eq!(p.os.normalized, "cachyos");
        assert_eq!(
            p.locales.available,
            ["C", "C.UTF-8", "POSIX", "en_US.UTF-8"]
        );
        assert_eq!(p.locales.definable, ["en_US"]);
        assert_eq!(p.aur_helpers.len(), 1);
        assert_eq!(
            p.aur_helpers[0].version.as_deref(),
            Some("paru v2.0.4 - libalpm v15.0.0")
        );
        assert_eq!(p.package_manager.as_deref(), Some("pacman"));
    }

    #[test]
    fn helper_order_follows_the_declaration_and_path_wins() {
        let (t, sys) = fake();
        let bin = t.path().join("usr/bin");
        tool(&bin, "yay", "echo 'yay v12.3.5'");
        tool(&bin, "paru", "echo 'paru v2.0.4'");
        let p = probe(&sys, &["yay".into(), "paru".into()]);
        let names: Vec<&str> = p.aur_helpers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["yay", "paru"]);
        assert!(p.aur_helpers[0].path.ends_with("usr/bin/yay"));
        // Not on PATH but found by `which` (here a fake `which` that knows another folder).
        let other = t.path().join("opt/helpers");
        std::fs::create_dir_all(&other).unwrap();
        tool(&other, "pikaur", "echo 'pikaur 1.20'");
        tool(
            &bin,
            "which",
            &format!("[ \"$1\" = pikaur ] && echo {}/pikaur", other.display()),
        );
        let h = detect_helper(&sys, "pikaur").unwrap();
        assert_eq!(h.path, format!("{}/pikaur", other.display()));
        assert_eq!(h.version.as_deref(), Some("pikaur 1.20"));
        assert!(detect_helper(&sys, "trizen").is_none());
    }
}
