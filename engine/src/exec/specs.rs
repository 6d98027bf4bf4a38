//! The specs the engine hands to the runner, built from the matrix (types shared with the runner).

use runner_protocol::spec::{AurSpec, LocaleSpec, ProvisionSpec, StepSpec, SuiteSpec};

use crate::spec::matrix::{Distro, Suite, SuiteFormat};
use crate::spec::Matrix;

/// Who builds the AUR helper: the seed's layout (the folder is the distro's `build_dir`).
const AUR_BUILD_USER: &str = "builder";

pub fn provision(matrix: &Matrix, distro: &Distro) -> ProvisionSpec {
    ProvisionSpec {
        v: runner_protocol::protocol::PROTOCOL_VERSION,
        distro: distro.name.clone(),
        users: matrix.provision.users.clone(),
        locales: LocaleSpec {
            declared: distro.locales.clone(),
            on_missing: distro.on_missing_locale,
        },
        aur_helper: AurSpec {
            policy: distro.aur_helper.policy,
            helpers: distro.aur_helper.helpers.clone(),
            package: distro.aur_helper.package.clone(),
            source: distro.aur_helper.source.clone(),
            build_dir: distro.aur_helper.build_dir.clone(),
            build_user: AUR_BUILD_USER.into(),
        },
        steps: matrix
            .provision
            .steps
            .iter()
            .map(|s| StepSpec {
                name: s.name.clone(),
                run: s.run.clone(),
                user: s.user.clone(),
                workdir: Some(matrix.workspace.target.clone()),
                // The matrix's and the distro's variables, the step's own over them.
                environment: {
                    let mut env = matrix.environment_of(distro);
                    env.extend(s.environment.clone());
                    env
                },
            })
            .collect(),
    }
}

/// The runner's job for one run of `suite`: `sample` is its number among the suite's `samples`.
pub fn suite(matrix: &Matrix, distro: &Distro, suite: &Suite, sample: u32) -> SuiteSpec {
    let spread = suite.format == SuiteFormat::Spread;
    // The suite's variables over the distro's over the matrix's (spread's own under them all).
    let mut environment = if spread {
        spread_environment(matrix, distro, suite, sample)
    } else {
        Default::default()
    };
    environment.extend(matrix.environment_of(distro));
    // spread's variables go through the shell, in order; task.toml's are passed as written.
    let exports = if suite.environment_order.is_empty() {
        environment.extend(suite.environment.clone());
        Vec::new()
    } else {
        suite
            .environment_order
            .iter()
            .filter_map(|k| Some((k.clone(), suite.environment.get(k)?.clone())))
            .collect()
    };
    if let Some(v) = &suite.variant {
        environment.insert("ENGINE_VARIANT".into(), v.clone());
    }
    if suite.samples > 1 {
        environment.insert("ENGINE_SAMPLE".into(), sample.to_string());
    }
    SuiteSpec {
        v: runner_protocol::protocol::PROTOCOL_VERSION,
        name: suite.name.clone(),
        distro: distro.name.clone(),
        // spread runs a task in its folder; native suites run at the workspace's root.
        workdir: match (spread, task_path(matrix, suite)) {
            (true, Some(rel)) => format!("{}/{rel}", matrix.workspace.target.trim_end_matches('/')),
            _ => matrix.workspace.target.clone(),
        },
        environment,
        exports,
        timeout_secs: suite.timeout.as_secs().max(1),
        warn_after_secs: suite.warn_timeout.map(|d| d.as_secs().max(1)),
        prepare: suite.prepare.clone(),
        execute: suite.execute.clone(),
        restore: suite.restore.clone(),
        user: suite.user.clone(),
        debug: suite.debug.clone(),
        spread_helpers: spread,
        skip: suite
            .skip
            .iter()
            .map(|r| runner_protocol::spec::SkipIf {
                reason: r.reason.clone(),
                condition: r.condition.clone(),
            })
            .collect(),
        skip_exit: !spread,
        artifacts: suite.artifacts.clone(),
        cache_mounts: matrix
            .caches
            .mounts
            .iter()
            .filter(|m| m.applies_to(crate::spec::matrix::Phase::Suite))
            .map(|m| m.target.clone())
            .collect(),
        artifacts_to: (!suite.artifacts.is_empty())
            .then(|| format!("{}/artifacts", crate::exec::context::IO_IN_CONTAINER)),
    }
}

/// The suite's folder relative to the workspace (`tests/smoke`), when it lies inside it.
fn task_path(matrix: &Matrix, suite: &Suite) -> Option<String> {
    let rel = suite.dir.strip_prefix(&matrix.workspace.source).ok()?;
    let rel = rel.to_str()?.trim_matches('/');
    (!rel.is_empty()).then(|| rel.to_string())
}

/// The variables spread gives a task, which real tasks read: the job's names and paths.
fn spread_environment(
    matrix: &Matrix,
    distro: &Distro,
    suite: &Suite,
    sample: u32,
) -> std::collections::BTreeMap<String, String> {
    let task = task_path(matrix, suite).unwrap_or_else(|| suite.family().to_string());
    let variant = suite.variant.clone().unwrap_or_default();
    let mut job = match &suite.variant {
        Some(v) => format!("docker:{}:{task}:{v}", distro.name),
        None => format!("docker:{}:{task}", distro.name),
    };
    // spread names the samples of a job `#1`..`#N`.
    if suite.samples > 1 {
        job.push_str(&format!("#{sample}"));
    }
    let suite_dir = match task.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/"),
        None => String::new(),
    };
    let project = matrix
        .root
        .file_name()
        .map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned());
    [
        ("SPREAD_BACKEND", "docker".to_string()),
        ("SPREAD_SYSTEM", distro.name.clone()),
        ("SPREAD_SUITE", suite_dir),
        ("SPREAD_TASK", task.clone()),
        ("SPREAD_VARIANT", variant),
        ("SPREAD_JOB", job),
        ("SPREAD_PROJECT", project),
        ("SPREAD_PATH", matrix.workspace.target.clone()),
        ("SPREAD_SAMPLE", sample.to_string()),
        ("SPREAD_REBOOT", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
