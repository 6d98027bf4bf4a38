//! `runner provision`: users and sudo, locale policy, AUR-helper policy, then the matrix's steps.
//!
//! Missing locales are scoped problems (only the suites needing them are affected), so they do
//! not stop provisioning; an unmet AUR requirement or a failed step does.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use crate::locales;
use crate::probe::{self, detect_helper};
use crate::protocol::{AurAction, Event, EventWriter, FinishStatus, HelperInfo};
use crate::spec::{AurPolicy, AurSpec, LocalePolicy, ProvisionSpec};
use crate::step::{self, Step};
use crate::system::System;
use crate::users::{self, User};

/// Why provisioning stopped.
pub enum Stop {
    Infra,
    StepFailed,
}

pub fn run(spec: &ProvisionSpec, sys: &System, events: &mut EventWriter) -> FinishStatus {
    let start = Instant::now();
    let status = match provision(spec, sys, events) {
        Ok(()) => FinishStatus::Ok,
        Err(Stop::Infra) => FinishStatus::Infra,
        Err(Stop::StepFailed) => FinishStatus::Failed,
    };
    events.emit(Event::Finished {
        status,
        duration_ms: start.elapsed().as_millis() as u64,
    });
    status
}

/// A command by its full path on the system's PATH (so that a test's fake system is used
/// throughout), else by name.
fn tool(sys: &System, name: &str) -> String {
    sys.which(name)
        .map_or_else(|| name.to_string(), |p| p.display().to_string())
}

fn infra(
    events: &mut EventWriter,
    code: &str,
    message: String,
    remedy: Option<String>,
    scope: Option<String>,
) {
    events.emit(Event::InfraError {
        code: code.into(),
        message,
        remedy,
        scope,
    });
}

fn provision(spec: &ProvisionSpec, sys: &System, events: &mut EventWriter) -> Result<(), Stop> {
    let helpers = if spec.aur_helper.helpers.is_empty() {
        probe::DEFAULT_HELPERS
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        spec.aur_helper.helpers.clone()
    };
    events.emit(Event::Probe {
        probe: probe::probe(sys, &helpers),
    });
    let mut users_needed = spec.users.clone();
    if matches!(
        spec.aur_helper.policy,
        AurPolicy::Install | AurPolicy::DetectOrInstall
    ) && !users_needed.contains(&spec.aur_helper.build_user)
    {
        users_needed.push(spec.aur_helper.build_user.clone());
    }
    for u in &users_needed {
        ensure_user(sys, u, events)?;
    }
    locale_policy(spec, sys, events);
    aur_policy(&spec.aur_helper, &helpers, sys, events)?;
    for s in &spec.steps {
        let user = match &s.user {
            Some(name) if name != "root" => match users::lookup(sys, name) {
                Some(u) => Some(u),
                None => {
                    infra(
                        events,
                        "unknown-user",
                        format!(
                            "provision step `{}` runs as `{name}`, which does not exist",
                            s.name
                        ),
                        Some(format!("add \"{name}\" to [provision] users")),
                        None,
                    );
                    return Err(Stop::Infra);
                }
            },
            _ => None,
        };
        let r = step::run(
            &Step {
                name: &s.name,
                argv: step::script(&s.run),
                workdir: s.workdir.as_deref(),
                env: s.environment.clone(),
                user: user.as_ref(),
                timeout: None,
                warn_at: None,
            },
            events,
        );
        if !r.ok() {
            return Err(Stop::StepFailed);
        }
    }
    Ok(())
}

/// Create the user when missing, give it passwordless sudo, and make sure it owns its home
/// (a cache mount under it may have created the folder as root first).
fn ensure_user(sys: &System, name: &str, events: &mut EventWriter) -> Result<(), Stop> {
    if !users::valid_name(name) {
        infra(
            events,
            "bad-user",
            format!("`{name}` is not a valid user name"),
            None,
            None,
        );
        return Err(Stop::Infra);
    }
    if users::lookup(sys, name).is_none() {
        let r = step::run(
            &Step {
                name: &format!("useradd:{name}"),
                argv: vec![
                    tool(sys, "useradd"),
                    "-m".into(),
                    "-s".into(),
                    "/bin/bash".into(),
                    "-U".into(),
                    name.into(),
                ],
                ..Default::default()
            },
            events,
        );
        if !r.ok() {
            infra(
                events,
                "useradd",
                format!("cannot create user `{name}`"),
                Some("the image needs useradd (shadow/passwd)".into()),
                None,
            );
            return Err(Stop::Infra);
        }
    }
    let Some(user) = users::lookup(sys, name) else {
        infra(
            events,
            "useradd",
            format!("user `{name}` is missing after useradd"),
            None,
            None,
        );
        return Err(Stop::Infra);
    };
    let home = sys.file(&user.home);
    let _ = std::fs::create_dir_all(&home);
    chown_tree(&home, &user);
    let dir = sys.file("/etc/sudoers.d");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("engine-{name}"));
    let written = std::fs::write(&file, users::sudoers_rule(name))
        .and_then(|_| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o440)));
    if let Err(e) = written {
        infra(
            events,
            "sudoers",
            format!("cannot write {}: {e}", file.display()),
            None,
            None,
        );
        return Err(Stop::Infra);
    }
    if let Some(mut visudo) = sys.command("visudo") {
        let ok = visudo
            .arg("-cf")
            .arg(&file)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            let _ = std::fs::remove_file(&file);
            infra(
                events,
                "sudoers",
                format!("visudo rejected the sudoers rule for `{name}`"),
                None,
                None,
            );
            return Err(Stop::Infra);
        }
    }
    Ok(())
}

/// chown -R, without following symlinks.
fn chown_tree(path: &Path, user: &User) {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return;
    };
    // SAFETY: lchown on a valid C string.
    unsafe {
        libc::lchown(c.as_ptr(), user.uid, user.gid);
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        for e in std::fs::read_dir(path).into_iter().flatten().flatten() {
            chown_tree(&e.path(), user);
        }
    }
}

fn locale_policy(spec: &ProvisionSpec, sys: &System, events: &mut EventWriter) {
    let declared: Vec<String> = spec
        .locales
        .declared
        .iter()
        .map(|l| locales::canonical(l))
        .collect();
    let info = probe::locale_info(sys);
    let missing_now = |available: &[String]| -> Vec<String> {
        declared
            .iter()
            .filter(|d| !available.contains(d))
            .cloned()
            .collect()
    };
    let mut missing = missing_now(&info.available);
    let mut generated = Vec::new();
    let definable = |l: &str| {
        info.definable
            .iter()
            .any(|d| d == locales::definition_name(l))
    };
    let policy = spec.locales.on_missing;
    if policy == LocalePolicy::Generate && !missing.is_empty() {
        let gen_path = sys.file("/etc/locale.gen");
        let mut text = std::fs::read_to_string(&gen_path).unwrap_or_default();
        let want: Vec<String> = missing.iter().filter(|l| definable(l)).cloned().collect();
        for l in &want {
            text = locales::enable_in_locale_gen(&text, l);
        }
        if !want.is_empty() && std::fs::write(&gen_path, &text).is_ok() {
            // locale-gen exits 0 even when a definition is missing: `locale -a` is the judge.
            step::run(
                &Step {
                    name: "locale-gen",
                    argv: vec![tool(sys, "locale-gen")],
                    ..Default::default()
                },
                events,
            );
            let after = probe::locale_info(sys);
            generated = want
                .iter()
                .filter(|l| after.available.contains(l))
                .cloned()
                .collect();
            missing = missing_now(&after.available);
        }
    }
    let policy_word = match policy {
        LocalePolicy::Fail => "fail",
        LocalePolicy::Generate => "generate",
        LocalePolicy::Skip => "skip",
    };
    if policy != LocalePolicy::Skip {
        for l in &missing {
            let def = locales::definition_name(l);
            let (message, remedy) = if definable(l) {
                (
                    format!("locale {l} is declared but not generated in this image"),
                    format!("set on_missing_locale = \"generate\", or run locale-gen for {l} in the image"),
                )
            } else {
                (
                    format!("locale {l} is declared but the image has no definition for it (/usr/share/i18n/locales/{def} is missing)"),
                    format!("install the locale data in the image (glibc-locales on Arch derivatives, `locales` on Debian) so that /usr/share/i18n/locales/{def} exists, or drop {l} from this distro's locales"),
                )
            };
            infra(
                events,
                "locale-missing",
                message,
                Some(remedy),
                Some(format!("locale:{l}")),
            );
        }
    }
    events.emit(Event::Locales {
        policy: policy_word.into(),
        declared,
        available: probe::locale_info(sys).available,
        missing,
        generated,
    });
}

fn aur_policy(
    spec: &AurSpec,
    helpers: &[String],
    sys: &System,
    events: &mut EventWriter,
) -> Result<(), Stop> {
    let found = || helpers.iter().find_map(|h| detect_helper(sys, h));
    let policy = match spec.policy {
        AurPolicy::Require => "require",
        AurPolicy::DetectOrInstall => "detect-or-install",
        AurPolicy::Install => "install",
        AurPolicy::None => "none",
    };
    let emit = |events: &mut EventWriter, action: AurAction, helper: Option<HelperInfo>| {
        events.emit(Event::AurHelper {
            policy: policy.into(),
            action,
            helper,
        });
    };
    match spec.policy {
        AurPolicy::None => {
            emit(events, AurAction::None, None);
            Ok(())
        }
        AurPolicy::Require => match found() {
            Some(h) => {
                emit(events, AurAction::Detected, Some(h));
                Ok(())
            }
            None => {
                infra(
                    events,
                    "aur-helper-missing",
                    format!("no AUR helper found (looked for {})", helpers.join(", ")),
                    Some("the policy \"require\" needs a preinstalled helper: use an image that has one, or set policy = \"detect-or-install\" with package and source".into()),
                    None,
                );
                Err(Stop::Infra)
            }
        },
        AurPolicy::DetectOrInstall => match found() {
            Some(h) => {
                emit(events, AurAction::Detected, Some(h));
                Ok(())
            }
            None => install(spec, helpers, sys, events, policy),
        },
        AurPolicy::Install => install(spec, helpers, sys, events, policy),
    }
}

/// Clone (or, when the cached clone exists, pull), build as the unprivileged user, install.
fn install(
    spec: &AurSpec,
    helpers: &[String],
    sys: &System,
    events: &mut EventWriter,
    policy: &str,
) -> Result<(), Stop> {
    let (Some(package), Some(source)) = (&spec.package, &spec.source) else {
        infra(
            events,
            "aur-incomplete",
            "AUR install needs package and source".into(),
            None,
            None,
        );
        return Err(Stop::Infra);
    };
    let Some(user) = users::lookup(sys, &spec.build_user) else {
        infra(
            events,
            "aur-user",
            format!("build user `{}` is missing", spec.build_user),
            None,
            None,
        );
        return Err(Stop::Infra);
    };
    let build_dir = sys.file(&spec.build_dir);
    let _ = std::fs::create_dir_all(&build_dir);
    chown_tree(&build_dir, &user);
    let dir = build_dir.join(package);
    let dir_s = dir.display().to_string();
    let as_user =
        |name: &'static str, argv: Vec<String>, workdir: Option<&str>, events: &mut EventWriter| {
            step::run(
                &Step {
                    name,
                    argv,
                    workdir,
                    user: Some(&user),
                    ..Default::default()
                },
                events,
            )
        };
    let clone = |events: &mut EventWriter| {
        let _ = std::fs::remove_dir_all(&dir);
        as_user(
            "aur:clone",
            vec![
                tool(sys, "git"),
                "clone".into(),
                source.clone(),
                dir_s.clone(),
            ],
            None,
            events,
        )
    };
    let (action, fetched) = if dir.join(".git").is_dir() {
        // The folder sits on a persistent cache mount: update it rather than clone again; a
        // checkout that cannot be updated (diverged, broken) is cloned afresh.
        let pulled = as_user(
            "aur:pull",
            vec![
                tool(sys, "git"),
                "-C".into(),
                dir_s.clone(),
                "pull".into(),
                "--rebase".into(),
            ],
            None,
            events,
        );
        if pulled.ok() {
            (AurAction::Updated, pulled)
        } else {
            (AurAction::Installed, clone(events))
        }
    } else {
        (AurAction::Installed, clone(events))
    };
    if !fetched.ok() {
        infra(
            events,
            "aur-fetch",
            format!("cannot fetch {package} from {source}"),
            Some("check the source URL and the network of the build".into()),
            None,
        );
        return Err(Stop::Infra);
    }
    // -f: a package left by an earlier build in the cached folder is rebuilt, not an error.
    let built = as_user(
        "aur:makepkg",
        vec![
            tool(sys, "makepkg"),
            "-s".into(),
            "-f".into(),
            "--noconfirm".into(),
        ],
        Some(&dir_s),
        events,
    );
    if !built.ok() {
        infra(
            events,
            "aur-build",
            format!("makepkg of {package} failed"),
            None,
            None,
        );
        return Err(Stop::Infra);
    }
    let mut pkgs: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".pkg.tar"))
        })
        .collect();
    pkgs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let Some(pkg) = pkgs.last() else {
        infra(
            events,
            "aur-build",
            format!("makepkg of {package} produced no package"),
            None,
            None,
        );
        return Err(Stop::Infra);
    };
    let installed = step::run(
        &Step {
            name: "aur:install",
            argv: vec![
                tool(sys, "pacman"),
                "-U".into(),
                "--noconfirm".into(),
                pkg.display().to_string(),
            ],
            ..Default::default()
        },
        events,
    );
    if !installed.ok() {
        infra(
            events,
            "aur-install",
            format!("pacman -U of {} failed", pkg.display()),
            None,
            None,
        );
        return Err(Stop::Infra);
    }
    match helpers.iter().find_map(|h| detect_helper(sys, h)) {
        Some(h) => {
            events.emit(Event::AurHelper {
                policy: policy.into(),
                action,
                helper: Some(h),
            });
            Ok(())
        }
        None => {
            infra(
                events,
                "aur-helper-missing",
                format!(
                    "{package} was installed but no helper ({}) is found",
                    helpers.join(", ")
                ),
                None,
                None,
            );
            Err(Stop::Infra)
        }
    }
}
