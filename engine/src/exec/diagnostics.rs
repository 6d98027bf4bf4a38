//! Infrastructure errors of a run, pointing at the declaration in the user's files.

use super::context::RunCtx;
use crate::events::{InfraKind, NodeResult, Outcome};
use crate::spec::diag::{render, RenderOptions};
use crate::spec::SpecDiagnostic;

/// An infrastructure error of `kind`.
pub fn infra(kind: InfraKind, reason: String) -> NodeResult {
    NodeResult::new(Outcome::Infra { reason, kind })
}

/// A node of a distro whose keys the run was not given (a bug of the engine).
pub fn no_chain(distro: &str) -> NodeResult {
    infra(
        InfraKind::Engine,
        format!("no cache keys for distro `{distro}` in this run"),
    )
}

fn rendered(d: &SpecDiagnostic) -> String {
    render(
        d,
        RenderOptions {
            color: false,
            width: 100,
        },
    )
}

/// Render `d` at `pointer` in the declaration of distro `distro`.
pub fn render_at_distro(
    ctx: &RunCtx,
    distro: &str,
    pointer: &str,
    d: SpecDiagnostic,
    label: &str,
) -> String {
    rendered(&ctx.loaded.distro_diagnostic(distro, pointer, d, label))
}

/// Render `d` at `pointer` in the task file of suite `suite`.
pub fn render_at_suite(
    ctx: &RunCtx,
    suite: &str,
    pointer: &str,
    d: SpecDiagnostic,
    label: &str,
) -> String {
    rendered(&ctx.loaded.suite_diagnostic(suite, pointer, d, label))
}
