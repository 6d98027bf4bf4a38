//! Semantic checks on the typed files, and their resolution into a [`Matrix`].
//!
//! The schema says what a single value may look like; these rules relate values to each other and
//! to the file system (a suite naming an unknown distro, two mounts on one target, a cache escaping
//! its root, a missing Dockerfile, ...). Each problem points at the place that should change.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::codes::Code;
use super::diag::SpecDiagnostic;
use super::load::{key_span, locate, Origin};
use super::locale::same_locale;
use super::matrix::*;
use super::model::{
    AurHelperSection, ContainerSection, DistroFile, MatrixFile, SpreadOnly, SuiteFile,
};
use super::source::{escape_segment, FileId, Sources};
use super::suggest::did_you_mean;
use super::variants;

/// What the loader hands over.
pub struct Input<'a> {
    pub root: &'a Path,
    pub matrix: &'a MatrixFile,
    pub matrix_file: FileId,
    pub distros: &'a BTreeMap<String, (DistroFile, Origin)>,
    pub suites: &'a BTreeMap<String, (SuiteFile, Origin)>,
    /// False when some distro file failed to load: cross-references to distros are then not checked.
    pub distros_complete: bool,
    pub suites_complete: bool,
    /// The workspace folder on the host: `[workspace] source` resolved, or the archive's
    /// unpacked folder; None when the archive could not be unpacked (reported by the loader).
    pub workspace: Option<&'a Path>,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const PLACEHOLDERS: &[&str] = &["distro"];

struct Ctx<'a> {
    sources: &'a Sources,
    diags: Vec<SpecDiagnostic>,
}

impl Ctx<'_> {
    fn error(
        &mut self,
        file: FileId,
        pointer: &str,
        code: Code,
        message: String,
        label: &str,
        help: Option<String>,
    ) {
        let f = self.sources.get(file);
        let mut d = locate(SpecDiagnostic::error(code, message), f, pointer, label);
        if let Some(h) = help {
            d = d.help(h);
        }
        self.diags.push(d);
    }

    fn duration(&mut self, file: FileId, pointer: &str, text: &str) -> Option<Duration> {
        match parse_duration(text) {
            Ok(d) if d.is_zero() => {
                self.error(
                    file,
                    pointer,
                    Code::CheckBadDuration,
                    format!("duration `{text}` is zero"),
                    "must be positive",
                    Some("use a positive duration such as \"10m\"".into()),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    file,
                    pointer,
                    Code::CheckBadDuration,
                    format!("`{text}` is not a duration: {e}"),
                    "not a duration",
                    Some("write a number and a unit, e.g. \"90s\", \"10m\", \"1h 30m\"".into()),
                );
                None
            }
        }
    }
}

/// Parse a duration such as "30m", "90s", "1h 30m".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| e.to_string())
}

pub(super) fn relative_to(dir: &Path, path: &str) -> PathBuf {
    let p = dir.join(path);
    p.canonicalize().unwrap_or_else(|_| normalize(&p))
}

/// Lexically normalize `a/./b/../c` (used for paths that do not exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn file_dir(sources: &Sources, id: FileId) -> PathBuf {
    sources
        .get(id)
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
        })
}

/// Check everything and build the matrix (None when a part could not be resolved).
pub fn resolve(input: &Input<'_>, sources: &Sources) -> (Option<Matrix>, Vec<SpecDiagnostic>) {
    let mut cx = Ctx {
        sources,
        diags: Vec::new(),
    };
    let (mf, m, root) = (input.matrix_file, input.matrix, input.root);
    let engine = engine_settings(&mut cx, mf, m);
    let workspace = workspace(&mut cx, mf, input);
    let image = resolve_image(&mut cx, mf, "", root, &m.image, None);
    let caches = caches(&mut cx, mf, root, m, &workspace.target, input.distros.len());
    host_paths(&mut cx, mf, input, &workspace.source, &caches.root);
    let pass_env = pass_env(&mut cx, mf, m);
    let provision = provision(&mut cx, mf, m);
    let mut distros = BTreeMap::new();
    for (name, (d, origin)) in input.distros {
        if let Some(distro) = resolve_distro(&mut cx, name, d, origin, &image) {
            distros.insert(name.clone(), distro);
        }
    }
    check_aur_build_folders(&mut cx, input, &distros, &caches);
    check_rootfs_scripts(&mut cx, input, &distros);
    let mut suites = BTreeMap::new();
    let distro_names: Vec<&str> = input.distros.keys().map(String::as_str).collect();
    for (name, (s, origin)) in input.suites {
        let resolved = resolve_suite(
            &mut cx,
            name,
            s,
            origin,
            input,
            &distro_names,
            engine.timeout,
        );
        for suite in resolved {
            suites.insert(suite.name.clone(), suite);
        }
    }
    let matrix = image.map(|_| Matrix {
        root: root.to_path_buf(),
        engine,
        workspace,
        caches,
        provision,
        distros,
        suites,
        pass_env,
        environment: m.environment.clone(),
    });
    (matrix, cx.diags)
}

/// The files a rootfs script's `inputs` globs match; None (reported) when one matches nothing.
fn rootfs_inputs(
    cx: &mut Ctx<'_>,
    o: &Origin,
    dir: &Path,
    globs: &[String],
) -> Option<BTreeMap<String, PathBuf>> {
    let mut inputs = BTreeMap::new();
    for (i, g) in globs.iter().enumerate() {
        let found = super::glob::expand(dir, g, false);
        if found.is_empty() {
            cx.error(
                o.file,
                &o.pointer(&format!("/base_rootfs/inputs/{i}")),
                Code::CheckMissingFile,
                format!("no file matches `{g}`"),
                "matches no file",
                Some("inputs are globs of files relative to this file".into()),
            );
            return None;
        }
        // Named as written (the glob's literal folder, then the file below it), never by
        // where the checkout or a symlinked folder lies: another clone keeps the base's key.
        let literal: Vec<&str> = g
            .split('/')
            .take_while(|seg| !seg.contains(['*', '?', '[', '{']))
            .collect();
        let (base, exact) = if literal.len() == g.split('/').count() {
            (g.rsplit_once('/').map_or("", |(b, _)| b).to_string(), true)
        } else {
            (literal.join("/"), false)
        };
        let base_dir = dir.join(&base);
        let base_dir = base_dir.canonicalize().unwrap_or(base_dir);
        for f in found {
            let name = match (exact, f.strip_prefix(&base_dir)) {
                (true, _) | (_, Err(_)) => g.clone(),
                (false, Ok(rel)) => format!("{base}/{}", rel.display()),
            };
            inputs.insert(name, f);
        }
    }
    Some(inputs)
}

/// A rootfs script runs on the host: like a mount, it must lie in the project (or an allowed
/// path), so that a matrix cannot point the engine at any program of the machine.
fn check_rootfs_scripts(cx: &mut Ctx<'_>, input: &Input<'_>, distros: &BTreeMap<String, Distro>) {
    let bounds = HostBounds::of(input.root, input.matrix);
    for (name, d) in distros {
        let (Base::Rootfs { script, .. }, Some((_, o))) = (&d.base, input.distros.get(name)) else {
            continue;
        };
        check_host_path(
            cx,
            o.file,
            &o.pointer("/base_rootfs/script"),
            script,
            &bounds,
            "scripts run on the host",
        );
    }
}

/// A distro that builds its AUR helper should keep the build folder on a cache mount of the
/// provisioning phase: otherwise every provisioning clones it afresh (a warning, not an error).
fn check_aur_build_folders(
    cx: &mut Ctx<'_>,
    input: &Input<'_>,
    distros: &BTreeMap<String, Distro>,
    caches: &Caches,
) {
    for (name, d) in distros {
        let a = &d.aur_helper;
        if !matches!(a.policy, AurPolicy::Install | AurPolicy::DetectOrInstall) {
            continue;
        }
        let dir = a.build_dir.trim_end_matches('/');
        let covered = caches.mounts.iter().any(|m| {
            let t = m.target.trim_end_matches('/');
            m.applies_to(Phase::Provision) && (dir == t || dir.starts_with(&format!("{t}/")))
        });
        if covered {
            continue;
        }
        let Some((file, origin)) = input.distros.get(name) else {
            continue;
        };
        let set = file
            .aur_helper
            .as_ref()
            .is_some_and(|s| s.build_dir.is_some());
        let pointer = origin.pointer(if set {
            "/aur_helper/build_dir"
        } else {
            "/aur_helper/policy"
        });
        let f = cx.sources.get(origin.file);
        let w = locate(
            SpecDiagnostic::error(
                Code::CheckAurBuildUncached,
                format!("the AUR build folder {dir} of `{name}` is on no cache mount: every provisioning clones the helper afresh"),
            ),
            f,
            &pointer,
            "builds the helper",
        );
        cx.diags.push(w.warning().help(format!(
            "add a mount such as `aur-build = {{ source = \"aur-build/{{distro}}\", target = \"{dir}\", exclusive = true, phases = [\"provision\"] }}`"
        )));
    }
}

/// `[engine]`: concurrency, timeout, fail-fast.
fn engine_settings(cx: &mut Ctx<'_>, mf: FileId, m: &MatrixFile) -> EngineSettings {
    let timeout = match &m.engine.timeout {
        Some(t) => cx
            .duration(mf, "/engine/timeout", t)
            .unwrap_or(DEFAULT_TIMEOUT),
        None => DEFAULT_TIMEOUT,
    };
    for (key, v) in [
        ("concurrency", m.engine.concurrency),
        ("build_concurrency", m.engine.build_concurrency),
    ] {
        if v == Some(0) {
            cx.error(
                mf,
                &format!("/engine/{key}"),
                Code::CheckZero,
                format!("`engine.{key}` is 0"),
                "nothing could run",
                Some("use at least 1, or remove it for the default".into()),
            );
        }
    }
    EngineSettings {
        concurrency: m.engine.concurrency,
        build_concurrency: m.engine.build_concurrency.unwrap_or(2),
        fail_fast: m.engine.fail_fast.unwrap_or(false),
        timeout,
        keep_runs: m.engine.keep_runs.unwrap_or(20).max(1),
        min_free_space: match &m.engine.min_free_space {
            None => 1 << 30,
            Some(text) => match parse_bytes(text) {
                Ok(n) => n.max(0) as u64,
                Err(why) => {
                    cx.error(
                        mf,
                        "/engine/min_free_space",
                        Code::CheckBadSize,
                        why,
                        "not a size",
                        None,
                    );
                    1 << 30
                }
            },
        },
    }
}

/// `[workspace]`: the folder mounted into every container, and where.
fn workspace(cx: &mut Ctx<'_>, mf: FileId, input: &Input<'_>) -> Workspace {
    let (root, m) = (input.root, input.matrix);
    if m.workspace.archive.is_some() && m.workspace.source.is_some() {
        cx.error(
            mf,
            "/workspace/archive",
            Code::CheckWorkspaceArchive,
            "the workspace is a `source` folder or an `archive`, not both".to_string(),
            "given with `source`",
            Some("keep one of the two".into()),
        );
    }
    // The loader found it (the `source` folder, or the archive unpacked); when an archive could
    // not be unpacked it said why, and the archive's path stands in.
    let ws_source = input
        .workspace
        .map(Path::to_path_buf)
        .unwrap_or_else(|| relative_to(root, m.workspace.archive.as_deref().unwrap_or(".")));
    if m.workspace.archive.is_none() && !ws_source.is_dir() {
        cx.error(
            mf,
            "/workspace/source",
            Code::CheckMissingFolder,
            format!("workspace folder `{}` does not exist", ws_source.display()),
            "no such folder",
            None,
        );
    }
    let ws_target = m
        .workspace
        .target
        .clone()
        .unwrap_or_else(|| "/workspace".into());
    if !ws_target.starts_with('/') {
        cx.error(
            mf,
            "/workspace/target",
            Code::CheckRelativeTarget,
            format!("`{ws_target}` is not an absolute container path"),
            "must start with /",
            None,
        );
    }

    Workspace {
        source: ws_source,
        target: ws_target,
        writable: m.workspace.writable.unwrap_or(false),
    }
}

/// `[caches]`: the root and the mounts (sources under the root, distinct absolute targets).
fn caches(
    cx: &mut Ctx<'_>,
    mf: FileId,
    root: &Path,
    m: &MatrixFile,
    ws_target: &str,
    distro_count: usize,
) -> Caches {
    let sources = cx.sources;
    let cache_root = relative_to(root, m.caches.root.as_deref().unwrap_or(".cache/engine"));
    let mut mounts = Vec::new();
    let mut targets: HashMap<String, String> = HashMap::new();
    targets.insert(
        ws_target.trim_end_matches('/').to_string(),
        "/workspace/target".into(),
    );
    for (name, mount) in &m.caches.mounts {
        let base = format!("/caches/mounts/{}", super::source::escape_segment(name));
        check_placeholders(cx, mf, &format!("{base}/source"), &mount.source);
        let expanded = mount.source.replace("{distro}", "x");
        let p = Path::new(&expanded);
        if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
            cx.error(
                mf,
                &format!("{base}/source"),
                Code::CheckCacheEscape,
                format!("cache mount `{name}` reaches outside the cache root"),
                "absolute or `..` path",
                Some(format!("cache sources are folders under the cache root ({}); write a relative path without `..`", m.caches.root.as_deref().unwrap_or(".cache/engine"))),
            );
        }
        if !mount.target.starts_with('/') {
            cx.error(
                mf,
                &format!("{base}/target"),
                Code::CheckRelativeTarget,
                format!("`{}` is not an absolute container path", mount.target),
                "must start with /",
                None,
            );
        }
        let t = mount.target.trim_end_matches('/').to_string();
        if let Some(first) = targets.get(&t).cloned() {
            let f = sources.get(mf);
            let mut d = locate(
                SpecDiagnostic::error(
                    Code::CheckDuplicateTarget,
                    format!("two mounts on container path `{}`", mount.target),
                ),
                f,
                &format!("{base}/target"),
                "mounted again here",
            );
            if let Some((_, s)) = f.spans.get(&first).map(|s| ((), s)) {
                d = d.also(s.value.clone(), "first mounted here");
            }
            cx.diags.push(d.help("give each mount its own target path"));
        } else {
            targets.insert(t, format!("{base}/target"));
        }
        let mount = CacheMount {
            name: name.clone(),
            source: mount.source.clone(),
            target: mount.target.clone(),
            exclusive: mount.exclusive,
            read_only: mount.read_only,
            phases: match &mount.phases {
                Some(p) if !p.is_empty() => p.clone(),
                _ => vec![Phase::Provision, Phase::Suite],
            },
        };
        check_shared_pacman_cache(cx, mf, &base, &mount, m.engine.concurrency, distro_count);
        mounts.push(mount);
    }

    Caches {
        root: cache_root,
        mounts,
    }
}

/// pacman's package cache, written by containers that run at the same time: pacman downloads
/// each package to a `.part` file in it and takes no lock there (its lock is in
/// /var/lib/pacman, one per container), so two suites fetching one package tear each other's
/// download. A warning: the mount is fine where nothing runs side by side.
fn check_shared_pacman_cache(
    cx: &mut Ctx<'_>,
    mf: FileId,
    base: &str,
    mount: &CacheMount,
    concurrency: Option<u32>,
    distro_count: usize,
) {
    const PACMAN_CACHE: &str = "/var/cache/pacman/pkg";
    let t = mount.target.trim_end_matches('/');
    let holds_pacman_cache =
        t.starts_with('/') && (PACMAN_CACHE == t || PACMAN_CACHE.starts_with(&format!("{t}/")));
    let side_by_side = concurrency != Some(1)
        && (mount.applies_to(Phase::Suite)
            || (distro_count > 1 && !mount.source.contains("{distro}")));
    if !holds_pacman_cache || mount.exclusive || mount.read_only || !side_by_side {
        return;
    }
    let who = if mount.applies_to(Phase::Suite) {
        "suites that run at the same time"
    } else {
        "the provisioning of every distro (its source has no {distro})"
    };
    let d = locate(
        SpecDiagnostic::error(
            Code::CheckSharedPacmanCache,
            format!(
                "cache mount `{}` shares pacman's package cache between {who}",
                mount.name
            ),
        ),
        cx.sources.get(mf),
        &format!("{base}/target"),
        "pacman downloads here",
    );
    cx.diags.push(d.warning().help(
        "pacman takes no lock on its cache: concurrent downloads of one package corrupt it. Share it with provisioning only (`phases = [\"provision\"]`, one per distro: suites install from the provisioned image), or one container at a time (`exclusive = true`)",
    ));
}

/// Host paths: inside the project, or allowed by name; never the Docker socket by accident.
fn host_paths(
    cx: &mut Ctx<'_>,
    mf: FileId,
    input: &Input<'_>,
    ws_source: &Path,
    cache_root: &Path,
) {
    let (root, m) = (input.root, input.matrix);
    let bounds = HostBounds::of(root, m);
    // An archive is only read: its unpacked copy in the engine's cache is what gets mounted.
    if m.workspace.archive.is_none() {
        check_host_path(cx, mf, "/workspace/source", ws_source, &bounds, "mounts");
    }
    check_host_path(cx, mf, "/caches/root", cache_root, &bounds, "mounts");
}

/// `pass_env`: host variable names (never values).
fn pass_env(cx: &mut Ctx<'_>, mf: FileId, m: &MatrixFile) -> Vec<String> {
    let mut pass_env = Vec::new();
    for (i, name) in m.pass_env.iter().enumerate() {
        if valid_env_name(name) {
            pass_env.push(name.clone());
        } else {
            cx.error(mf, &format!("/pass_env/{i}"), Code::CheckBadEnvName, format!("`{name}` is not an environment variable name"), "names only, never values", Some("list variable names such as \"GITHUB_TOKEN\"; the values are read from the host at run time".into()));
        }
    }

    pass_env
}

/// `[provision]`: users with sudo (valid, distinct) and steps (distinct names).
fn provision(cx: &mut Ctx<'_>, mf: FileId, m: &MatrixFile) -> Provision {
    let sources = cx.sources;
    let mut users_seen = HashMap::new();
    for (i, u) in m.provision.users.iter().enumerate() {
        let ptr = format!("/provision/users/{i}");
        if !valid_user(u) {
            cx.error(
                mf,
                &ptr,
                Code::CheckBadUser,
                format!("`{u}` is not a valid user name"),
                "invalid user name",
                Some("use lowercase letters, digits, `-` and `_`, starting with a letter".into()),
            );
        }
        if users_seen.insert(u.clone(), i).is_some() {
            cx.error(
                mf,
                &ptr,
                Code::CheckDuplicateName,
                format!("user `{u}` is listed twice"),
                "duplicate",
                None,
            );
        }
    }
    let mut steps_seen: HashMap<&str, usize> = HashMap::new();
    for (i, s) in m.provision.steps.iter().enumerate() {
        if let Some(u) = &s.user {
            if u != "root" && !m.provision.users.iter().any(|x| x == u) {
                cx.error(
                    mf,
                    &format!("/provision/steps/{i}/user"),
                    Code::CheckUnknownUser,
                    format!(
                        "provision step `{}` runs as `{u}`, which provisioning does not create",
                        s.name
                    ),
                    "not in [provision] users",
                    Some(format!("add \"{u}\" to [provision] users")),
                );
            }
        }
        if let Some(first) = steps_seen.insert(s.name.as_str(), i) {
            let f = sources.get(mf);
            let mut d = locate(
                SpecDiagnostic::error(
                    Code::CheckDuplicateName,
                    format!("two provision steps are named `{}`", s.name),
                ),
                f,
                &format!("/provision/steps/{i}/name"),
                "second step with this name",
            );
            if let Some(sp) = f.spans.get(&format!("/provision/steps/{first}/name")) {
                d = d.also(sp.value.clone(), "first one");
            }
            cx.diags
                .push(d.help("step names identify steps in logs and reports: make them unique"));
        }
    }
    Provision {
        users: m.provision.users.clone(),
        steps: m
            .provision
            .steps
            .iter()
            .map(|s| ProvisionStep {
                name: s.name.clone(),
                run: s.run.clone(),
                inputs: s.inputs.clone(),
                environment: s.environment.clone(),
                user: s.user.clone(),
            })
            .collect(),
    }
}

fn valid_env_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The folder a matrix may mount from without saying so: the repository holding the matrix
/// (the nearest folder with `.git`), else the matrix's own folder.
pub fn project_folder(root: &Path) -> PathBuf {
    root.ancestors()
        .find(|a| a.join(".git").exists())
        .unwrap_or(root)
        .to_path_buf()
}

/// Where the Docker daemon's socket usually is; mounting it hands out root on the host.
fn docker_sockets() -> Vec<PathBuf> {
    let mut v = vec![
        PathBuf::from("/var/run/docker.sock"),
        PathBuf::from("/run/docker.sock"),
    ];
    if let Some(h) = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
    {
        v.push(h);
    }
    v
}

/// Where host paths the matrix names may lie: the project, and what `allow_host_paths` adds.
struct HostBounds {
    project: PathBuf,
    allowed: Vec<PathBuf>,
}

impl HostBounds {
    fn of(root: &Path, m: &MatrixFile) -> HostBounds {
        HostBounds {
            project: project_folder(root),
            allowed: m
                .allow_host_paths
                .iter()
                .map(|a| relative_to(root, a))
                .collect(),
        }
    }
}

/// A host path a container will see must lie in the project or an allowed path; a path that is
/// or holds the Docker socket needs the socket itself in `allow_host_paths`.
fn check_host_path(
    cx: &mut Ctx<'_>,
    file: FileId,
    pointer: &str,
    path: &Path,
    bounds: &HostBounds,
    subject: &str,
) {
    let (project, allowed) = (&bounds.project, &bounds.allowed);
    let resolved = path.canonicalize().unwrap_or_else(|_| normalize(path));
    let socket = docker_sockets().into_iter().find(|s| {
        let s = s.canonicalize().unwrap_or_else(|_| s.clone());
        s.starts_with(&resolved)
    });
    if let Some(sock) = socket {
        let named = allowed.iter().any(|a| {
            a == &sock || a.canonicalize().ok().as_deref() == sock.canonicalize().ok().as_deref()
        });
        if !named {
            cx.error(
                file,
                pointer,
                Code::CheckDockerSocket,
                format!("`{}` would give containers the Docker socket ({})", resolved.display(), sock.display()),
                "exposes the Docker daemon",
                Some(format!("the socket is root on the host; if you really mean it, list \"{}\" in allow_host_paths", sock.display())),
            );
            return;
        }
    }
    let inside = resolved.starts_with(project) || allowed.iter().any(|a| resolved.starts_with(a));
    if !inside {
        cx.error(
            file,
            pointer,
            Code::CheckHostPath,
            format!("`{}` is outside the project ({})", resolved.display(), project.display()),
            "outside the project folder",
            Some(format!("{subject} stay inside the project unless the matrix allows more: add \"{}\" to allow_host_paths", resolved.display())),
        );
    }
}

/// Resolve and check a `[container]` section; `base` is where it sits in its file.
fn check_container(cx: &mut Ctx<'_>, file: FileId, base: &str, c: &ContainerSection) -> bool {
    let mut ok = true;
    if let Some(m) = &c.memory {
        if let Err(e) = parse_bytes(m) {
            cx.error(
                file,
                &format!("{base}/container/memory"),
                Code::CheckBadSize,
                e,
                "not a size",
                None,
            );
            ok = false;
        }
    }
    if c.cpus.is_some_and(|x| !(x > 0.0 && x <= 1024.0)) {
        cx.error(
            file,
            &format!("{base}/container/cpus"),
            Code::CheckOutOfRange,
            "cpus must be a positive number".into(),
            "out of range",
            None,
        );
        ok = false;
    }
    let sizes = c
        .disk
        .iter()
        .map(|d| (format!("{base}/container/disk"), d))
        .chain(c.tmpfs.iter().flatten().map(|(path, size)| {
            (
                format!("{base}/container/tmpfs/{}", escape_segment(path)),
                size,
            )
        }));
    for (pointer, size) in sizes {
        if let Err(e) = parse_bytes(size) {
            cx.error(file, &pointer, Code::CheckBadSize, e, "not a size", None);
            ok = false;
        }
    }
    for path in c.tmpfs.iter().flatten().map(|(p, _)| p) {
        if !path.starts_with('/') {
            cx.error(
                file,
                &format!("{base}/container/tmpfs/{}", escape_segment(path)),
                Code::CheckOutOfRange,
                format!("tmpfs mount point `{path}` is not an absolute path"),
                "a path in the container",
                Some("write it as \"/tmp\"".into()),
            );
            ok = false;
        }
    }
    if c.pids == Some(0) {
        cx.error(
            file,
            &format!("{base}/container/pids"),
            Code::CheckOutOfRange,
            "pids must be at least 1".into(),
            "nothing could run",
            None,
        );
        ok = false;
    }
    for (i, cap) in c.capabilities.iter().flatten().enumerate() {
        let name = cap.trim_start_matches("CAP_");
        if name.is_empty() || !name.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_') {
            cx.error(
                file,
                &format!("{base}/container/capabilities/{i}"),
                Code::CheckBadCapability,
                format!("`{cap}` is not a capability name"),
                "e.g. \"SYS_ADMIN\"",
                None,
            );
            ok = false;
        }
    }
    ok
}

fn valid_user(u: &str) -> bool {
    let mut c = u.chars();
    c.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && u.len() <= 32
}

fn check_placeholders(cx: &mut Ctx<'_>, file: FileId, pointer: &str, text: &str) {
    let mut rest = text;
    let mut offset = 0;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        if !PLACEHOLDERS.contains(&name) {
            let f = cx.sources.get(file);
            let (abs, raw) = (offset + open, format!("{{{name}}}"));
            // Underline the placeholder itself when it can be found in the written value.
            let span = f.spans.get(pointer).and_then(|s| {
                let written = f.text.get(s.value.clone())?;
                written
                    .find(&raw)
                    .map(|i| s.value.start + i..s.value.start + i + raw.len())
            });
            let mut d = SpecDiagnostic::error(
                Code::CheckUnknownPlaceholder,
                format!("unknown placeholder `{raw}`"),
            )
            .in_file(f);
            d = match span {
                Some(sp) => d.at(sp, "not a placeholder the engine knows"),
                None => locate(d, f, pointer, "not a placeholder the engine knows"),
            };
            let help = match did_you_mean(name, PLACEHOLDERS.iter().copied()) {
                Some(s) => format!("did you mean `{{{s}}}`?"),
                None => "the only placeholder is `{distro}`".to_string(),
            };
            let _ = abs;
            cx.diags.push(d.help(help));
        }
        offset += open + close + 1;
        rest = &text[offset..];
    }
}

/// The image settings declared at `base` in `file` (dir-relative paths), merged over `parent`.
fn resolve_image(
    cx: &mut Ctx<'_>,
    file: FileId,
    base: &str,
    dir: &Path,
    section: &super::model::ImageSection,
    parent: Option<&Image>,
) -> Option<Image> {
    let dockerfile = match (&section.dockerfile, parent) {
        (Some(d), _) => {
            let p = relative_to(dir, d);
            if !p.is_file() {
                cx.error(
                    file,
                    &format!("{base}/image/dockerfile"),
                    Code::CheckMissingFile,
                    format!("Dockerfile `{d}` does not exist"),
                    "no such file",
                    Some(format!("looked for {}", super::source::display_name(&p))),
                );
                return None;
            }
            p
        }
        (None, Some(p)) => p.dockerfile.clone(),
        (None, None) => {
            let p = relative_to(dir, "docker/Dockerfile");
            if !p.is_file() {
                let f = cx.sources.get(file);
                cx.diags.push(
                    locate(SpecDiagnostic::error(Code::CheckMissingFile, "no Dockerfile: docker/Dockerfile does not exist and [image] names none"), f, "", "")
                        .help("add docker/Dockerfile (FROM ${BASE_IMAGE}) or set [image] dockerfile = \"...\""),
                );
                return None;
            }
            p
        }
    };
    let context = match (&section.context, parent) {
        (Some(c), _) => {
            let p = relative_to(dir, c);
            if !p.is_dir() {
                cx.error(
                    file,
                    &format!("{base}/image/context"),
                    Code::CheckMissingFolder,
                    format!("build context `{c}` does not exist"),
                    "no such folder",
                    None,
                );
                return None;
            }
            p
        }
        (None, Some(p)) => p.context.clone(),
        (None, None) => relative_to(dir, "."),
    };
    let mut build_args = parent.map(|p| p.build_args.clone()).unwrap_or_default();
    for (k, v) in &section.build_args {
        if k == "BASE_IMAGE" {
            cx.error(
                file,
                &format!("{base}/image/build_args/BASE_IMAGE"),
                Code::CheckReserved,
                "`BASE_IMAGE` is set by the engine".into(),
                "reserved build argument",
                Some("declare the base with `base_image` or `base_rootfs` in the distro".into()),
            );
        }
        build_args.insert(k.clone(), v.clone());
    }
    Some(Image {
        dockerfile,
        context,
        build_args,
    })
}

fn resolve_distro(
    cx: &mut Ctx<'_>,
    name: &str,
    d: &DistroFile,
    o: &Origin,
    matrix_image: &Option<Image>,
) -> Option<Distro> {
    let f = o.file;
    let dir = file_dir(cx.sources, f);
    let mut ok = check_distro_name(cx, name, o);
    let base = resolve_base(cx, name, d, o, &dir);
    let image = match (&d.image, matrix_image) {
        (Some(section), parent) => resolve_image(cx, f, &o.base, &dir, section, parent.as_ref()),
        (None, Some(p)) => Some(p.clone()),
        (None, None) => None,
    };
    let aur = resolve_aur(cx, name, d.aur_helper.as_ref(), o);
    let defaults = Container {
        privileged: false,
        capabilities: Vec::new(),
        network: NetworkMode::Bridge,
        memory_bytes: parse_bytes(DEFAULT_MEMORY).unwrap_or(4 << 30),
        cpus: None,
        pids: DEFAULT_PIDS,
        disk_bytes: None,
        tmpfs: BTreeMap::new(),
    };
    if let Some(c) = &d.container {
        ok &= check_container(cx, f, &o.base, c);
    }
    let container = defaults.with(d.container.as_ref());
    check_locales(cx, d, o);
    if !ok {
        return None;
    }
    Some(Distro {
        name: name.to_string(),
        base: base?,
        image: image?,
        locales: d.locales.clone(),
        on_missing_locale: d.on_missing_locale.unwrap_or(LocalePolicy::Fail),
        aur_helper: aur?,
        container,
        environment: d.environment.clone(),
    })
}

/// A distro's name ends up in image tags and node ids: lowercase, digits, `-`, `_`, `.`.
fn check_distro_name(cx: &mut Ctx<'_>, name: &str, o: &Origin) -> bool {
    let f = o.file;
    if !valid_name(name) {
        let file = cx.sources.get(f);
        let span = if o.base.is_empty() {
            0..0
        } else {
            key_span(file, &o.base)
        };
        cx.diags.push(
            SpecDiagnostic::error(
                Code::CheckBadName,
                format!("`{name}` is not a valid distro name"),
            )
            .in_file(file)
            .at(span, "used in image tags and node names")
            .help("use lowercase letters, digits, `-`, `_` and `.`"),
        );
        return false;
    }
    true
}

/// Exactly one base: an image reference, or a rootfs script that exists.
fn resolve_base(
    cx: &mut Ctx<'_>,
    name: &str,
    d: &DistroFile,
    o: &Origin,
    dir: &Path,
) -> Option<Base> {
    let f = o.file;
    match (&d.base_image, &d.base_rootfs) {
        (Some(r), None) => {
            if let Some(problem) = super::reference::problem(r) {
                cx.error(
                    f,
                    &o.pointer("/base_image"),
                    Code::CheckImageReference,
                    format!("`{r}` is not an image reference: {problem}"),
                    "not an image reference",
                    Some("write it as Docker does: `name:tag`, `host:port/name:tag`, or `name@sha256:<digest>` to pin it".into()),
                );
                return None;
            }
            Some(Base::Image {
                reference: r.clone(),
                pull: d.pull.unwrap_or(PullPolicy::Missing),
            })
        }
        (None, Some(rf)) => {
            let script = relative_to(dir, &rf.script);
            if !script.is_file() {
                cx.error(
                    f,
                    &o.pointer("/base_rootfs/script"),
                    Code::CheckMissingFile,
                    format!("rootfs script `{}` does not exist", rf.script),
                    "no such file",
                    Some(format!(
                        "looked for {}",
                        super::source::display_name(&script)
                    )),
                );
                return None;
            }
            let timeout = match &rf.timeout {
                Some(t) => cx.duration(f, &o.pointer("/base_rootfs/timeout"), t)?,
                None => DEFAULT_TIMEOUT,
            };
            for (i, n) in rf.pass_env.iter().enumerate() {
                if !valid_env_name(n) {
                    cx.error(
                        f,
                        &o.pointer(&format!("/base_rootfs/pass_env/{i}")),
                        Code::CheckBadEnvName,
                        format!("`{n}` is not a variable name"),
                        "not a variable name",
                        None,
                    );
                    return None;
                }
            }
            let inputs = rootfs_inputs(cx, o, dir, &rf.inputs)?;
            Some(Base::Rootfs {
                script,
                args: rf.args.clone(),
                inputs,
                timeout,
                pass_env: rf.pass_env.clone(),
            })
        }
        (Some(_), Some(_)) => {
            cx.error(
                f,
                &o.pointer("/base_rootfs"),
                Code::CheckBase,
                format!("distro `{name}` declares both `base_image` and `base_rootfs`"),
                "second base",
                Some("keep exactly one of the two".into()),
            );
            None
        }
        (None, None) => {
            let file = cx.sources.get(f);
            let d = SpecDiagnostic::error(Code::CheckBase, format!("distro `{name}` has no base"));
            // Point at the start of the distro's table: where the missing key belongs.
            let d = match file.spans.first_key(&o.base) {
                Some(span) => d
                    .in_file(file)
                    .at(span, "needs `base_image` or `base_rootfs`"),
                None => locate(d, file, &o.base, "needs `base_image` or `base_rootfs`"),
            };
            cx.diags.push(d.help("add `base_image = \"archlinux:base-devel\"` (or a `base_rootfs` script for offline use)"));
            None
        }
    }
}

/// Declared locales: each once, each with a charset.
fn check_locales(cx: &mut Ctx<'_>, d: &DistroFile, o: &Origin) {
    let f = o.file;
    let mut seen = HashMap::new();
    for (i, l) in d.locales.iter().enumerate() {
        if seen.insert(l.as_str(), i).is_some() {
            cx.error(
                f,
                &o.pointer(&format!("/locales/{i}")),
                Code::CheckDuplicateName,
                format!("locale `{l}` is listed twice"),
                "duplicate",
                None,
            );
        }
        if !l.contains('.') && l != "C" && l != "POSIX" {
            cx.error(
                f,
                &o.pointer(&format!("/locales/{i}")),
                Code::CheckBadLocale,
                format!("`{l}` names no charset"),
                "e.g. \"de_DE.UTF-8\"",
                Some(format!("did you mean \"{l}.UTF-8\"?")),
            );
        }
    }
}

fn resolve_aur(
    cx: &mut Ctx<'_>,
    name: &str,
    a: Option<&AurHelperSection>,
    o: &Origin,
) -> Option<AurHelper> {
    let default = AurHelperSection::default();
    let a = a.unwrap_or(&default);
    let policy = a.policy.unwrap_or(if a.package.is_some() {
        AurPolicy::DetectOrInstall
    } else {
        AurPolicy::None
    });
    let helpers = if a.helpers.is_empty() {
        vec!["paru".to_string(), "yay".to_string()]
    } else {
        a.helpers.clone()
    };
    if matches!(policy, AurPolicy::Install | AurPolicy::DetectOrInstall) {
        let missing: Vec<&str> = [
            ("package", a.package.is_none()),
            ("source", a.source.is_none()),
        ]
        .into_iter()
        .filter_map(|(k, m)| m.then_some(k))
        .collect();
        if !missing.is_empty() {
            let word = if policy == AurPolicy::Install {
                "install"
            } else {
                "detect-or-install"
            };
            cx.error(
                o.file,
                &o.pointer("/aur_helper/policy"),
                Code::CheckAurIncomplete,
                format!("distro `{name}`: AUR policy \"{word}\" needs {}", missing.join(" and ")),
                "cannot install without them",
                Some("add `package = \"paru-bin\"` and `source = \"<git URL of its AUR repository>\"` to [aur_helper]".into()),
            );
            return None;
        }
    }
    Some(AurHelper {
        policy,
        helpers,
        package: a.package.clone(),
        source: a.source.clone(),
        build_dir: a
            .build_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_AUR_BUILD_DIR.to_string()),
    })
}

fn resolve_suite(
    cx: &mut Ctx<'_>,
    name: &str,
    s: &SuiteFile,
    o: &Origin,
    input: &Input<'_>,
    distro_names: &[&str],
    default_timeout: Duration,
) -> Vec<Suite> {
    let f = o.file;
    let mut ok = check_execute(cx, name, s, o);
    ok &= check_suite_name(cx, name, o);
    ok &= check_samples(cx, name, s, o);
    let timeout = match &s.timeout {
        Some(t) => cx.duration(f, &o.pointer("/timeout"), t),
        None => Some(default_timeout),
    };
    ok &= timeout.is_some();
    let warn_timeout = match &s.warn_timeout {
        Some(t) => {
            let d = cx.duration(f, &o.pointer("/warn_timeout"), t);
            ok &= d.is_some();
            d
        }
        None => None,
    };
    let (mut runs_on, known) = suite_distros(cx, name, s, o, input, distro_names);
    ok &= known;
    let mut choice = DistroChoice {
        key: if o.legacy { "distro-check" } else { "distros" },
        listed: s.distros.is_some(),
        not_applicable: None,
    };
    if let Some(spread) = &s.spread {
        ok &= apply_spread(cx, name, spread, o, distro_names, &mut runs_on, &mut choice);
    }
    ok &= check_suite_user(cx, name, s, o, input);
    ok &= check_suite_pass_env(cx, s, o);
    if let Some(c) = &s.container {
        ok &= check_container(cx, f, &o.base, c);
    }
    let locales = s
        .requires
        .as_ref()
        .map(|r| r.locales.clone())
        .unwrap_or_default();
    let variants = suite_variants(cx, s, o);
    ok &= variants.is_some();
    // The suite's own `requires`, unless every variant has its own.
    if s.variants.is_empty() || s.variants.values().any(|v| v.requires.is_none()) {
        ok &= check_required_locales(cx, name, o, "", input, &runs_on, &locales);
    }
    let (Some(timeout), Some(variants), true) = (timeout, variants, ok) else {
        return Vec::new();
    };
    let base = Suite {
        name: name.to_string(),
        variant: None,
        dir: file_dir(cx.sources, f),
        format: if o.legacy {
            SuiteFormat::Spread
        } else {
            SuiteFormat::Native
        },
        summary: s.summary.clone(),
        details: s.details.clone(),
        distros: choice
            .listed
            .then(|| runs_on.iter().map(|d| d.to_string()).collect()),
        distros_key: choice.key.to_string(),
        not_applicable: choice.not_applicable,
        priority: s.priority.unwrap_or(0),
        manual: s.manual.unwrap_or(false),
        requires_locales: locales,
        timeout,
        warn_timeout,
        retries: s.retries.unwrap_or(0),
        samples: s.samples.unwrap_or(1).max(1),
        expect: s.expect.unwrap_or_default(),
        environment: s.environment.clone(),
        environment_order: Vec::new(),
        prepare: s.prepare.clone(),
        execute: s.execute.clone(),
        restore: s.restore.clone(),
        debug: s.debug.clone(),
        skip: s.skip.clone(),
        artifacts: s.artifacts.clone(),
        user: s.user.clone(),
        pass_env: s.pass_env.clone(),
        container: s.container.clone(),
    };
    let mut out = Vec::new();
    for v in variants {
        if let Some(locales) = &v.requires_locales {
            let at = format!(
                "/variants/{}",
                escape_segment(v.name.as_deref().unwrap_or(""))
            );
            if !check_required_locales(cx, name, o, &at, input, &runs_on, locales) {
                continue;
            }
        }
        out.push(v.apply(&base));
    }
    out
}

/// How a suite chose its distros, for "not in ..." reasons.
struct DistroChoice {
    /// The key that chose them (`distros`, `distro-check`, `systems`).
    key: &'static str,
    /// Whether the suite lists distros at all (else: every distro).
    listed: bool,
    /// Why the suite applies nowhere.
    not_applicable: Option<String>,
}

/// spread's `systems` and `backends`, and the keys not applied (warnings).
fn apply_spread<'d>(
    cx: &mut Ctx<'_>,
    name: &str,
    spread: &SpreadOnly,
    o: &Origin,
    distro_names: &[&'d str],
    runs_on: &mut Vec<&'d str>,
    choice: &mut DistroChoice,
) -> bool {
    let mut ok = true;
    if let Some(systems) = &spread.systems {
        match spread_systems(cx, name, o, systems, distro_names) {
            Some(chosen) => {
                runs_on.retain(|d| chosen.contains(d));
                choice.key = if choice.listed {
                    "distro-check` and `systems"
                } else {
                    "systems"
                };
                choice.listed = true;
            }
            None => ok = false,
        }
    }
    if let Some(backends) = &spread.backends {
        match spread_list(backends, &["docker"]) {
            Ok(chosen) if chosen.is_empty() => {
                choice.not_applicable = Some(format!(
                    "its `backends` ({}) leave out `docker`, the engine's backend",
                    backends.join(", ")
                ))
            }
            Ok(_) => {}
            Err((i, why)) => {
                spread_list_error(cx, o, &format!("/backends/{i}"), &why);
                ok = false;
            }
        }
    }
    ok
}

/// One run of a suite: the whole suite (no variants) or one variant.
struct VariantRun {
    name: Option<String>,
    /// The variables over the suite's (task.toml), or all of them in order (spread).
    environment: Vec<(String, String)>,
    /// spread's: the whole environment, exported in order.
    ordered: bool,
    requires_locales: Option<Vec<String>>,
    /// spread's `variants` removed every variant.
    not_applicable: Option<String>,
}

impl VariantRun {
    fn apply(self, base: &Suite) -> Suite {
        let mut suite = base.clone();
        if let Some(v) = &self.name {
            suite.name = format!("{}:{v}", base.name);
        }
        suite.variant = self.name;
        if self.ordered {
            suite.environment_order = self.environment.iter().map(|(k, _)| k.clone()).collect();
            suite.environment = self.environment.into_iter().collect();
        } else {
            suite.environment.extend(self.environment);
        }
        if let Some(l) = self.requires_locales {
            suite.requires_locales = l;
        }
        if self.not_applicable.is_some() {
            suite.not_applicable = self.not_applicable;
        }
        suite
    }
}

/// The runs of a suite: one per variant, or one for a suite without variants (an empty list:
/// every spread variant was removed). `None` after an error (reported).
fn suite_variants(cx: &mut Ctx<'_>, s: &SuiteFile, o: &Origin) -> Option<Vec<VariantRun>> {
    let report = |cx: &mut Ctx<'_>, p: variants::Problem| {
        cx.error(
            o.file,
            &o.pointer(&p.pointer),
            Code::CheckVariant,
            p.message,
            "here",
            Some("variants: `NAME/de: value` keys in spread's environment, `[variants.de]` in task.toml".into()),
        );
    };
    if let Some(spread) = &s.spread {
        let found =
            match variants::spread(&spread.environment, spread.variants.as_deref(), valid_name) {
                Ok(v) => v,
                Err(p) => {
                    report(cx, p);
                    return None;
                }
            };
        let names: Vec<Option<String>> = if found.names.is_empty() {
            vec![None]
        } else {
            found.names.into_iter().map(Some).collect()
        };
        let removed = found
            .all_removed
            .then(|| "its `variants` remove every variant".to_string());
        return Some(
            names
                .into_iter()
                .map(|name| VariantRun {
                    environment: variants::spread_environment(&spread.environment, name.as_deref()),
                    name,
                    ordered: true,
                    requires_locales: None,
                    not_applicable: removed.clone(),
                })
                .collect(),
        );
    }
    let problems = variants::native(&s.variants, valid_name);
    if !problems.is_empty() {
        for p in problems {
            report(cx, p);
        }
        return None;
    }
    if s.variants.is_empty() {
        return Some(vec![VariantRun {
            name: None,
            environment: Vec::new(),
            ordered: false,
            requires_locales: None,
            not_applicable: None,
        }]);
    }
    Some(
        s.variants
            .iter()
            .map(|(name, v)| VariantRun {
                name: Some(name.clone()),
                environment: v.environment.clone().into_iter().collect(),
                ordered: false,
                requires_locales: v.requires.as_ref().map(|r| r.locales.clone()),
                not_applicable: None,
            })
            .collect(),
    )
}

/// spread's `systems` over the matrix's distros; `None` after an error (reported).
fn spread_systems<'d>(
    cx: &mut Ctx<'_>,
    name: &str,
    o: &Origin,
    systems: &[String],
    distro_names: &[&'d str],
) -> Option<Vec<&'d str>> {
    let chosen = match spread_list(systems, distro_names) {
        Ok(c) => c,
        Err((i, why)) => {
            spread_list_error(cx, o, &format!("/systems/{i}"), &why);
            return None;
        }
    };
    // A plain name the matrix does not have is left out, as the seed's distro-check: a warning.
    for (i, entry) in systems.iter().enumerate() {
        let pattern = entry.trim_start_matches(['+', '-']);
        let is_glob = pattern.contains(['*', '?', '[']);
        if !is_glob && !distro_names.iter().any(|d| d.eq_ignore_ascii_case(pattern)) {
            let near = did_you_mean(pattern, distro_names.iter().copied());
            let d = SpecDiagnostic::error(
                Code::CheckUnknownDistro,
                format!("suite `{name}` names `{pattern}` in systems, which the matrix does not declare: ignored"),
            );
            let file = cx.sources.get(o.file);
            cx.diags.push(
                locate(
                    d,
                    file,
                    &format!("/systems/{i}"),
                    "no such distro in the matrix",
                )
                .help(near.map_or_else(
                    || format!("known distros: {}", distro_names.join(", ")),
                    |n| format!("did you mean \"{n}\"? Otherwise remove it, or ignore this"),
                ))
                .warning(),
            );
        }
    }
    Some(chosen)
}

/// spread's list rules over `universe`: plain entries (globs) choose from it; a list of only
/// `+x`/`-x` entries starts from all of it and adds or removes; the two kinds do not mix.
/// The error is the index of the first offending entry and why.
pub fn spread_list<'u>(
    entries: &[String],
    universe: &[&'u str],
) -> Result<Vec<&'u str>, (usize, String)> {
    let is_delta = |e: &str| e.starts_with('+') || e.starts_with('-');
    let delta = entries.first().is_some_and(|e| is_delta(e));
    if let Some(i) = entries.iter().position(|e| is_delta(e) != delta) {
        return Err((
            i,
            "mixes plain entries with `+`/`-` entries: write either names to choose, or only `+`/`-` changes to all".into(),
        ));
    }
    let matcher = |i: usize, pattern: &str| {
        globset::GlobBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .map(|g| g.compile_matcher())
            .map_err(|e| {
                (
                    i,
                    format!("`{pattern}` is not a valid pattern: {}", e.kind()),
                )
            })
    };
    let mut chosen: Vec<&'u str> = if delta { universe.to_vec() } else { Vec::new() };
    for (i, e) in entries.iter().enumerate() {
        let (op, pattern) = match e.strip_prefix('-') {
            Some(p) => ('-', p),
            None => ('+', e.strip_prefix('+').unwrap_or(e)),
        };
        let m = matcher(i, pattern)?;
        match op {
            '-' => chosen.retain(|u| !m.is_match(u)),
            _ => {
                for u in universe.iter().filter(|u| m.is_match(u)) {
                    if !chosen.contains(u) {
                        chosen.push(u);
                    }
                }
            }
        }
    }
    // In the universe's order, whatever the entries' order.
    Ok(universe
        .iter()
        .copied()
        .filter(|u| chosen.contains(u))
        .collect())
}

fn spread_list_error(cx: &mut Ctx<'_>, o: &Origin, pointer: &str, why: &str) {
    cx.error(
        o.file,
        pointer,
        Code::CheckSpreadList,
        why.to_string(),
        "here",
        Some("spread's lists: `[arch, manjaro]` chooses; `[-cachyos]` or `[+arch, -manjaro]` change the whole set".into()),
    );
}

/// `samples = 0` would run nothing (spread's 0, read as unset, never gets here).
fn check_samples(cx: &mut Ctx<'_>, name: &str, s: &SuiteFile, o: &Origin) -> bool {
    if s.samples != Some(0) {
        return true;
    }
    cx.error(
        o.file,
        &o.pointer("/samples"),
        Code::CheckZero,
        format!("suite `{name}` has `samples = 0`"),
        "nothing would run",
        Some("use at least 1 (the default), or remove it".into()),
    );
    false
}

/// A suite must execute something: its exit status is the verdict.
fn check_execute(cx: &mut Ctx<'_>, name: &str, s: &SuiteFile, o: &Origin) -> bool {
    let f = o.file;
    if s.execute.trim().is_empty() {
        let file = cx.sources.get(f);
        let ptr = o.pointer("/execute");
        let d = locate(
            SpecDiagnostic::error(
                Code::CheckEmptyExecute,
                format!("suite `{name}` has nothing to execute"),
            ),
            file,
            &ptr,
            "empty script",
        );
        cx.diags.push(
            d.help("add `execute = '''...'''` with the commands whose exit status is the verdict"),
        );
        return false;
    }
    true
}

/// The suite's folder name is its name: the same rules as distro names.
fn check_suite_name(cx: &mut Ctx<'_>, name: &str, o: &Origin) -> bool {
    let f = o.file;
    if !valid_name(name) {
        let file = cx.sources.get(f);
        cx.diags.push(
            SpecDiagnostic::error(
                Code::CheckBadName,
                format!("suite folder `{name}` is not a valid suite name"),
            )
            .in_file(file)
            .help("rename the folder with lowercase letters, digits, `-`, `_` and `.`"),
        );
        return false;
    }
    true
}

/// The distros the suite runs on (all, or those it names), and whether every name is known.
fn suite_distros<'d>(
    cx: &mut Ctx<'_>,
    name: &str,
    s: &SuiteFile,
    o: &Origin,
    input: &Input<'_>,
    distro_names: &[&'d str],
) -> (Vec<&'d str>, bool) {
    let f = o.file;
    let mut ok = true;
    let mut runs_on: Vec<&str> = distro_names.to_vec();
    if let Some(list) = &s.distros {
        runs_on.clear();
        for (i, d) in list.iter().enumerate() {
            if let Some(known) = distro_names.iter().find(|n| n.eq_ignore_ascii_case(d)) {
                runs_on.push(known);
            } else if input.distros_complete {
                let near = did_you_mean(d, distro_names.iter().copied());
                let known = format!("known distros: {}", distro_names.join(", "));
                let (message, help) = if o.legacy {
                    // The seed's runner ignores an ID it does not test: a matrix for fewer
                    // distros loads the same task files. A warning, and the entry is left out.
                    (
                        format!("suite `{name}` names `{d}` in distro-check, which the matrix does not declare: ignored"),
                        near.map_or(known, |n| {
                            format!("did you mean \"{n}\"? Otherwise remove it, or ignore this")
                        }),
                    )
                } else {
                    ok = false;
                    (
                        format!("suite `{name}` names unknown distro `{d}`"),
                        near.map_or(known, |n| format!("did you mean \"{n}\"?")),
                    )
                };
                let diagnostic = locate(
                    SpecDiagnostic::error(Code::CheckUnknownDistro, message),
                    cx.sources.get(f),
                    &o.pointer(&format!("/distros/{i}")),
                    "no such distro in the matrix",
                )
                .help(help);
                cx.diags.push(if o.legacy {
                    diagnostic.warning()
                } else {
                    diagnostic
                });
            }
        }
    }
    (runs_on, ok)
}

/// A suite's user must be root or a provisioned user.
fn check_suite_user(
    cx: &mut Ctx<'_>,
    name: &str,
    s: &SuiteFile,
    o: &Origin,
    input: &Input<'_>,
) -> bool {
    let f = o.file;
    if let Some(u) = &s.user {
        let declared = u == "root" || input.matrix.provision.users.iter().any(|x| x == u);
        if !declared {
            cx.error(
                f,
                &o.pointer("/user"),
                Code::CheckUnknownUser,
                format!("suite `{name}` runs as `{u}`, which provisioning does not create"),
                "not in [provision] users",
                Some(format!("add \"{u}\" to [provision] users in the matrix")),
            );
            return false;
        }
    }
    true
}

/// `pass_env` holds variable names only.
fn check_suite_pass_env(cx: &mut Ctx<'_>, s: &SuiteFile, o: &Origin) -> bool {
    let f = o.file;
    let mut ok = true;
    for (i, n) in s.pass_env.iter().enumerate() {
        if !valid_env_name(n) {
            cx.error(
                f,
                &o.pointer(&format!("/pass_env/{i}")),
                Code::CheckBadEnvName,
                format!("`{n}` is not an environment variable name"),
                "names only, never values",
                None,
            );
            ok = false;
        }
    }
    ok
}

/// Each required locale is declared by at least one distro the suite runs on.
fn check_required_locales(
    cx: &mut Ctx<'_>,
    name: &str,
    o: &Origin,
    at: &str,
    input: &Input<'_>,
    runs_on: &[&str],
    locales: &[String],
) -> bool {
    let f = o.file;
    let mut ok = true;
    if input.distros_complete {
        for (i, l) in locales.iter().enumerate() {
            let declared = runs_on.iter().any(|d| {
                input
                    .distros
                    .get(*d)
                    .is_some_and(|(df, _)| df.locales.iter().any(|x| same_locale(x, l)))
            });
            if !declared && !runs_on.is_empty() {
                cx.error(
                    f,
                    &o.pointer(&format!("{at}/requires/locales/{i}")),
                    Code::CheckUndeclaredLocale,
                    format!(
                        "suite `{name}` requires locale `{l}`, which no distro it runs on declares"
                    ),
                    "declared by none of its distros",
                    Some(format!(
                        "add \"{l}\" to `locales` of the distros that must provide it ({})",
                        runs_on.join(", ")
                    )),
                );
                ok = false;
            }
        }
    }
    ok
}
