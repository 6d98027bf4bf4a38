//! The Docker tier: the engine against the real Docker daemon, no fakes. Each test is ignored by
//! a plain `cargo test` (the fast tier) and run by scripts/test.sh (`--include-ignored`), which
//! is what CI runs. Without a daemon the tests print a loud SKIP; under `CI=true` they fail.
//!
//! - [`backend`]: the bollard backend on a busybox image made from Debian's busybox-static
//! - [`cache`]: what `engine list --status` says will be reused or made again and why, `--rebuild`
//! - [`e2e`]: `engine run` on the offline test bed (look-alikes, caching, isolation, faults)
//! - [`host`]: host execution as a grant (`--no-host-exec`, clean environment, timeout, `$(HOST:)`)
//! - [`output`]: nothing of a chatty suite's output lost, the engine's memory bounded
//! - [`podman`]: rootful Podman behind the same API (the example, the seed, Ctrl-C, limits, names)
//! - [`registry`]: pulls from a real local registry (by tag, by digest, a login)
//! - [`remote`]: the daemon over TCP (a socat relay), through a docker CLI context, refusals
//! - [`rootless`]: the example as a non-root user on rootless Podman and rootless Docker
//! - [`report`]: what `engine run` shows and writes (snapshots, JUnit, JSON, a pty), `engine shell`
//! - [`seed`]: the seed's own suites and product, from the fixture archive, on pacman-based look-alikes
//! - [`spread`]: spread's task files on the look-alikes (helpers, SPREAD_* variables, debug, manual)
//! - [`support`]: the one fixture ([`support::DockerTest`]) and the offline test bed

mod backend;
mod cache;
mod e2e;
mod host;
mod output;
mod podman;
mod registry;
mod remote;
mod report;
mod rootless;
mod seed;
mod spread;
mod support;
