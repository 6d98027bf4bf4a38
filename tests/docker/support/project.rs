//! A copy of examples/local in a temporary folder, with paths made absolute so it works there.

use std::path::Path;

use super::{repo, report_node};

/// A copy of examples/local in a temporary folder, with paths made absolute so it works there.
/// `nonce` adds a build argument, which changes the image keys (a cold build and provision);
/// `suites` replaces the example's suites.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new(nonce: Option<&str>, suites: &[(&str, &str)], cache_root: Option<&Path>) -> Project {
        let repo = repo();
        let dir = tempfile::tempdir().unwrap();
        copy(&repo.join("examples/local"), dir.path());
        let script = repo.join("docker/bootstrap/debian.sh");
        for f in std::fs::read_dir(dir.path().join("distros")).unwrap() {
            let p = f.unwrap().path();
            let t = std::fs::read_to_string(&p).unwrap();
            std::fs::write(
                &p,
                t.replace(
                    "../../../docker/bootstrap/debian.sh",
                    &script.display().to_string(),
                ),
            )
            .unwrap();
        }
        let m = dir.path().join("matrix.toml");
        let mut t = std::fs::read_to_string(&m).unwrap();
        let cache = cache_root.map_or_else(
            || repo.join("examples/local/.cache/engine"),
            Path::to_path_buf,
        );
        // The shared cache and the repository's rootfs script lie outside this temporary
        // project: allow them by name.
        t = t.replace(
            "root = \".cache/engine\"",
            &format!("root = {:?}", cache.display().to_string()),
        );
        let scripts = script.parent().unwrap();
        t = format!(
            "allow_host_paths = [{:?}, {:?}]\n{t}",
            cache.display().to_string(),
            scripts.display().to_string()
        );
        if let Some(n) = nonce {
            // BuildKit reuses layers whatever unused build args say: the nonce is used first
            // thing after FROM, so every step after it is built again.
            let dockerfile = dir.path().join("docker/Dockerfile");
            let text = std::fs::read_to_string(&dockerfile).unwrap();
            let (head, rest) = text.split_once("\nFROM ").expect("a FROM line");
            let (from, rest) = rest.split_once('\n').expect("a line after FROM");
            std::fs::write(
                &dockerfile,
                format!(
                    "{head}\nFROM {from}\nARG E2E_NONCE\nRUN echo \"$E2E_NONCE\" > /.e2e-nonce\n{rest}"
                ),
            )
            .unwrap();
            t = t.replace(
                "context = \".\"",
                &format!("context = \".\"\nbuild_args = {{ E2E_NONCE = \"{n}\" }}"),
            );
        }
        std::fs::write(&m, t).unwrap();
        if !suites.is_empty() {
            std::fs::remove_dir_all(dir.path().join("suites")).unwrap();
            for (name, task) in suites {
                let d = dir.path().join("suites").join(name);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join("task.toml"), task).unwrap();
            }
        }
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a cache mount `scratch` on /var/cache/scratch that only suites get (the example
    /// gives its caches to provisioning): provision keys stay as they were.
    pub fn with_suite_cache(self) -> Project {
        let m = self.path().join("matrix.toml");
        let t = std::fs::read_to_string(&m).unwrap();
        let mount = "scratch   = { source = \"scratch/{distro}\", target = \"/var/cache/scratch\", phases = [\"suite\"] }";
        assert!(t.contains("[caches.mounts]\n"), "{t}");
        std::fs::write(
            &m,
            t.replace("[caches.mounts]\n", &format!("[caches.mounts]\n{mount}\n")),
        )
        .unwrap();
        self
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == ".engine" || e.file_name() == ".cache" {
            continue;
        }
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// The example as it is: its images are the ones `local_images()` builds, so nothing is rebuilt.
pub struct LocalProject(Project);

impl LocalProject {
    pub fn new() -> LocalProject {
        LocalProject(Project::new(None, &[], None))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The local example's grid as its README documents it (the same as on Docker). On a
/// mismatch the message carries the end of every log the run pointed at (`log: ...` lines,
/// relative to `root`), so a CI failure says why a cell went wrong.
pub fn assert_documented_grid(said: &str, root: &Path) {
    for row in [
        "(provision)               ok       ok           ok       ok",
        "aur-helper                ok       ok           ok       ok",
        "disable-in-german         ok    INFRA         skip        -",
        "enable-default            ok       ok           ok       ok",
        "legacy-enable-disable     ok       ok           ok       ok",
        "must-fail               FAIL        -            -        -",
        "times-out               TIME        -            -        -",
    ] {
        assert!(
            said.lines().any(|l| l == row),
            "no `{row}` in:\n{said}{}",
            tails_of_logs(said, root)
        );
    }
}

/// The last lines of each log a run's summary names, for a failing assertion's message.
pub fn tails_of_logs(said: &str, root: &Path) -> String {
    let mut out = String::new();
    for log in said.lines().filter_map(|l| l.trim().strip_prefix("log: ")) {
        let text = std::fs::read_to_string(root.join(log)).unwrap_or_else(|e| format!("{e}"));
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        out.push_str(&format!("\n--- {log} (last 40 lines)\n{tail}\n"));
    }
    out
}

/// Every base, image and provisioned image of the local example came from the earlier run.
pub fn assert_every_image_reused(report: &serde_json::Value, said: &str) {
    for distro in ["arch", "cachyos", "endeavouros", "manjaro"] {
        for kind in ["base", "image", "provision"] {
            let id = format!("{kind}:{distro}");
            assert_eq!(report_node(report, &id)["status"], "cached", "{id}: {said}");
        }
    }
}

/// `label=engine.project=<id>`: what the engine made for the project at `root`, for `podman
/// ... --filter`.
pub fn project_filter(root: &std::path::Path) -> String {
    format!(
        "label=engine.project={}",
        engine::docker::labels::project_id(root)
    )
}
