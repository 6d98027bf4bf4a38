//! `crate::provision` against a fake system: a temporary root with its own passwd, locale data
//! and fake tools (useradd, locale, locale-gen, visudo, makepkg, pacman) on the system's PATH, and
//! real git serving a `file://` AUR repository. Needs root (the AUR build runs as the build user).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::protocol::{AurAction, Event, EventWriter, FinishStatus};
use crate::spec::{AurPolicy, AurSpec, LocalePolicy, LocaleSpec, ProvisionSpec};
use crate::system::System;

struct Fake {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
    repo: PathBuf,
}

fn tool(bin: &Path, name: &str, body: &str) {
    crate::test_support::write_executable(
        &bin.join(name),
        &format!("#!/bin/bash\nset -eu\n{body}\n"),
    );
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

fn fake() -> Option<Fake> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || Command::new("git").arg("--version").output().is_err() {
        eprintln!("=== SKIP provision_fake: needs root and git ===");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    // The build user must be able to reach its folders and the tools.
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = root.join("bin");
    for d in [
        "etc/sudoers.d",
        "usr/share/i18n/locales",
        "var",
        "bin",
        "home",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(
        root.join("etc/locale.gen"),
        "#de_DE.UTF-8 UTF-8\n#en_US.UTF-8 UTF-8\n",
    )
    .unwrap();
    for def in ["en_US", "de_DE"] {
        std::fs::write(root.join("usr/share/i18n/locales").join(def), "").unwrap();
    }
    std::fs::write(root.join("var/locales"), "C\nC.utf8\nen_US.utf8\n").unwrap();
    let r = root.display();
    tool(&bin, "useradd", &format!("name=\"${{@: -1}}\"; echo \"$name:x:1000:1000::/home/$name:/bin/bash\" >> {r}/etc/passwd; echo \"$name:x:1000:\" >> {r}/etc/group; mkdir -p {r}/home/$name"));
    tool(&bin, "locale", &format!("cat {r}/var/locales"));
    tool(&bin, "locale-gen", &format!("grep -v '^#' {r}/etc/locale.gen | while read -r name cs; do l=${{name%%.*}}; test -e {r}/usr/share/i18n/locales/$l && echo \"$l.utf8\" >> {r}/var/locales; done; true"));
    tool(&bin, "visudo", "grep -q NOPASSWD \"$2\"");
    tool(&bin, "makepkg", "test \"$(id -u)\" != 0 || { echo 'makepkg: not as root' >&2; exit 10; }; tar cf paru-bin-1-1-x86_64.pkg.tar PKGBUILD");
    tool(&bin, "pacman", &format!("test \"$1\" = -U; printf '#!/bin/sh\\necho paru v2.0.4\\n' > {r}/bin/paru; chmod 755 {r}/bin/paru"));
    std::os::unix::fs::symlink(which_git(), bin.join("git")).unwrap();
    // The AUR: a bare repository with a PKGBUILD, owned by the build user like a clone would be.
    let work = root.join("aur-work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "master"]);
    std::fs::write(work.join("PKGBUILD"), "pkgname=paru-bin\npkgver=1\n").unwrap();
    git(&work, &["add", "PKGBUILD"]);
    git(&work, &["commit", "-q", "-m", "paru-bin 1"]);
    let repo = root.join("paru-bin.git");
    git(
        &root,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            repo.to_str().unwrap(),
        ],
    );
    Command::new("chown")
        .args(["-R", "1000:1000"])
        .arg(&repo)
        .status()
        .unwrap();
    Some(Fake {
        root: root.clone(),
        bin,
        repo,
        _dir: dir,
    })
}

fn which_git() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn spec(
    f: &Fake,
    locales: &[&str],
    on_missing: LocalePolicy,
    policy: AurPolicy,
    helpers: &[&str],
) -> ProvisionSpec {
    ProvisionSpec {
        v: 1,
        distro: "arch".into(),
        users: vec!["builder".into()],
        locales: LocaleSpec {
            declared: locales.iter().map(|s| s.to_string()).collect(),
            on_missing,
        },
        aur_helper: AurSpec {
            policy,
            helpers: helpers.iter().map(|s| s.to_string()).collect(),
            package: Some("paru-bin".into()),
            source: Some(format!("file://{}", f.repo.display())),
            build_dir: "/home/builder/build".into(),
            build_user: "builder".into(),
        },
        steps: vec![],
    }
}

fn provision(f: &Fake, s: &ProvisionSpec) -> (FinishStatus, Vec<Event>) {
    // The fake tools first; the host's for what they use themselves (grep, tar, ...).
    let sys = System {
        root: f.root.clone(),
        path: vec![f.bin.clone(), "/usr/bin".into(), "/bin".into()],
    };
    let log = f.root.join("events.jsonl");
    let _ = std::fs::remove_file(&log);
    let mut w = EventWriter::create(&log).unwrap();
    let status = crate::provision::run(s, &sys, &mut w);
    let events =
        crate::protocol::read_events(std::io::BufReader::new(std::fs::File::open(&log).unwrap()))
            .into_iter()
            .map(Result::unwrap)
            .collect();
    (status, events)
}

fn aur_action(events: &[Event]) -> Option<AurAction> {
    events.iter().find_map(|e| match e {
        Event::AurHelper { action, .. } => Some(*action),
        _ => None,
    })
}

#[test]
fn generate_install_then_pull_over_the_same_build_folder() {
    let Some(f) = fake() else { return };
    let s = spec(
        &f,
        &["en_US.UTF-8", "de_DE.UTF-8", "fr_FR.UTF-8"],
        LocalePolicy::Generate,
        AurPolicy::Install,
        &["paru"],
    );
    let (status, events) = provision(&f, &s);
    assert_eq!(status, FinishStatus::Ok, "{events:#?}");
    // The user, with passwordless sudo in a 0440 file.
    assert!(std::fs::read_to_string(f.root.join("etc/passwd"))
        .unwrap()
        .contains("builder:x:1000"));
    let sudoers = f.root.join("etc/sudoers.d/engine-builder");
    assert_eq!(
        std::fs::metadata(&sudoers).unwrap().permissions().mode() & 0o777,
        0o440
    );
    // de_DE generated; fr_FR has no definition: a scoped infra error, provisioning goes on.
    let (missing, generated) = events
        .iter()
        .find_map(|e| match e {
            Event::Locales {
                missing, generated, ..
            } => Some((missing.clone(), generated.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(generated, ["de_DE.UTF-8"]);
    assert_eq!(missing, ["fr_FR.UTF-8"]);
    assert!(events.iter().any(
        |e| matches!(e, Event::InfraError { scope: Some(s), .. } if s == "locale:fr_FR.UTF-8")
    ));
    assert_eq!(aur_action(&events), Some(AurAction::Installed));
    assert!(f.root.join("bin/paru").exists());

    // A new commit upstream; the second provision finds the clone and pulls it.
    let work = f.root.join("aur-work");
    std::fs::write(work.join("PKGBUILD"), "pkgname=paru-bin\npkgver=2\n").unwrap();
    git(&work, &["commit", "-q", "-am", "paru-bin 2"]);
    Command::new("chown")
        .args(["-R", "0:0"])
        .arg(&f.repo)
        .status()
        .unwrap();
    git(&work, &["push", "-q", f.repo.to_str().unwrap(), "master"]);
    Command::new("chown")
        .args(["-R", "1000:1000"])
        .arg(&f.repo)
        .status()
        .unwrap();
    let (status, events) = provision(&f, &s);
    assert_eq!(status, FinishStatus::Ok, "{events:#?}");
    assert_eq!(aur_action(&events), Some(AurAction::Updated));
    let pkgbuild =
        std::fs::read_to_string(f.root.join("home/builder/build/paru-bin/PKGBUILD")).unwrap();
    assert!(pkgbuild.contains("pkgver=2"), "{pkgbuild}");
}

#[test]
fn fail_policy_reports_each_missing_locale_and_goes_on() {
    let Some(f) = fake() else { return };
    let s = spec(
        &f,
        &["en_US.UTF-8", "de_DE.UTF-8"],
        LocalePolicy::Fail,
        AurPolicy::None,
        &[],
    );
    let (status, events) = provision(&f, &s);
    assert_eq!(status, FinishStatus::Ok);
    let scoped: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::InfraError {
                scope: Some(s),
                remedy: Some(r),
                ..
            } => {
                assert!(r.contains("generate"), "{r}");
                Some(s.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(scoped, ["locale:de_DE.UTF-8"]);
}

#[test]
fn require_without_a_helper_is_an_infra_error() {
    let Some(f) = fake() else { return };
    let s = spec(&f, &[], LocalePolicy::Skip, AurPolicy::Require, &["yay"]);
    let (status, events) = provision(&f, &s);
    assert_eq!(status, FinishStatus::Infra, "{events:#?}");
    assert!(events.iter().any(|e| matches!(e, Event::InfraError { code, scope: None, .. } if code == "aur-helper-missing")), "{events:#?}");
}
