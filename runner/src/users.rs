//! Users: lookup in /etc/passwd, creation with passwordless sudo, and running a child as one.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::system::System;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// Supplementary groups, read from /etc/group before any fork.
    pub groups: Vec<u32>,
}

/// Look `name` up in the passwd file of `sys`.
pub fn lookup(sys: &System, name: &str) -> Option<User> {
    let passwd = sys.read("/etc/passwd")?;
    let mut user = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[0] == name).then(|| User {
            name: f[0].to_string(),
            uid: f[2].parse().unwrap_or(u32::MAX),
            gid: f[3].parse().unwrap_or(u32::MAX),
            home: f[5].to_string(),
            groups: Vec::new(),
        })
    })?;
    let mut groups = vec![user.gid];
    for l in sys.read("/etc/group").unwrap_or_default().lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 4 && f[3].split(',').any(|m| m == name) {
            if let Ok(g) = f[2].parse() {
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
    }
    user.groups = groups;
    Some(user)
}

impl User {
    /// Make `cmd` run as this user: supplementary groups, gid, uid, and its HOME/USER.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name);
        let (uid, gid) = (self.uid, self.gid);
        // Groups are resolved before the fork: initgroups reads /etc/group and allocates, which
        // is not safe between fork and exec.
        let groups: Vec<libc::gid_t> = self.groups.iter().map(|g| *g as libc::gid_t).collect();
        // SAFETY: only async-signal-safe system calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setgroups(groups.len() as _, groups.as_ptr()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// The sudoers rule giving `user` passwordless sudo.
pub fn sudoers_rule(user: &str) -> String {
    format!("# written by the engine's runner: passwordless sudo for test builds\n{user} ALL=(ALL:ALL) NOPASSWD: ALL\n")
}

/// A valid user name (so it can go into a sudoers file and a command line).
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    c.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lookup() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("etc")).unwrap();
        std::fs::write(
            t.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\nbuilder:x:1000:1000::/home/builder:/bin/bash\n",
        )
        .unwrap();
        std::fs::write(
            t.path().join("etc/group"),
            "root:x:0:\nwheel:x:998:builder,alice\nbuilder:x:1000:\naudio:x:995:alice\n",
        )
        .unwrap();
        let sys = System {
            root: t.path().into(),
            path: vec![],
        };
        let b = lookup(&sys, "builder").unwrap();
        assert_eq!(
            (b.uid, b.gid, b.home.as_str()),
            (1000, 1000, "/home/builder")
        );
        assert_eq!(b.groups, [1000, 998]);
        assert!(lookup(&sys, "spread").is_none());
    }

    #[test]
    fn sudoers_and_names() {
        assert_eq!(
            sudoers_rule("builder").lines().last(),
            Some("builder ALL=(ALL:ALL) NOPASSWD: ALL")
        );
        assert!(valid_name("builder") && valid_name("_svc-1"));
        assert!(!valid_name("Root") && !valid_name("a b") && !valid_name(""));
    }
}
