//! The specs the engine hands to the runner, built from the matrix (types shared with the runner).

use runner_protocol::spec::{AurSpec, LocaleSpec, ProvisionSpec, StepSpec, SuiteSpec};

use crate::spec::matrix::{Distro, Suite};
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

pub fn suite(matrix: &Matrix, distro: &Distro, suite: &Suite) -> SuiteSpec {
    SuiteSpec {
        v: runner_protocol::protocol::PROTOCOL_VERSION,
        name: suite.name.clone(),
        distro: distro.name.clone(),
        workdir: matrix.workspace.target.clone(),
        // The suite's variables over the distro's over the matrix's.
        environment: {
            let mut env = matrix.environment_of(distro);
            env.extend(suite.environment.clone());
            env
        },
        timeout_secs: suite.timeout.as_secs().max(1),
        prepare: suite.prepare.clone(),
        execute: suite.execute.clone(),
        restore: suite.restore.clone(),
        user: suite.user.clone(),
    }
}
