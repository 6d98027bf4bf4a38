//! The system the runner looks at, made injectable so that tests run on fake trees: a root
//! folder for files, and the PATH for commands.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone)]
pub struct System {
    /// `/` in a container; a temporary folder in tests.
    pub root: PathBuf,
    /// Folders searched for commands.
    pub path: Vec<PathBuf>,
}

impl System {
    /// The real system.
    pub fn host() -> System {
        let path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_else(|| {
                [
                    "/usr/local/sbin",
                    "/usr/local/bin",
                    "/usr/sbin",
                    "/usr/bin",
                    "/sbin",
                    "/bin",
                ]
                .iter()
                .map(PathBuf::from)
                .collect()
            });
        System {
            root: PathBuf::from("/"),
            path,
        }
    }

    /// A path under the root (`/etc/os-release` -> `<root>/etc/os-release`).
    pub fn file(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    pub fn read(&self, abs: &str) -> Option<String> {
        std::fs::read_to_string(self.file(abs)).ok()
    }

    /// An executable named `name` on PATH.
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        self.path
            .iter()
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    }

    /// A command found on this system's PATH, with that PATH.
    pub fn command(&self, name: &str) -> Option<Command> {
        let exe = self.which(name)?;
        let mut c = Command::new(exe);
        if let Ok(p) = std::env::join_paths(&self.path) {
            c.env("PATH", p);
        }
        Some(c)
    }
}

pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
