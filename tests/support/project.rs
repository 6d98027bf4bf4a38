//! A copy of examples/local in a temporary folder, with paths made absolute so it works there.
//! (The same as `Project` in docker_e2e.rs, shared here for the report tests.)

use std::path::Path;

use super::repo;

pub struct LocalProject {
    dir: tempfile::TempDir,
}

impl LocalProject {
    /// The example as it is: its images are the ones `local_images()` builds, so nothing is
    /// rebuilt.
    pub fn new() -> LocalProject {
        let repo = repo();
        let dir = tempfile::tempdir().unwrap();
        copy(&repo.join("examples/local"), dir.path());
        let script = repo.join("docker/bootstrap/debian.sh");
        for f in std::fs::read_dir(dir.path().join("distros")).unwrap() {
            let p = f.unwrap().path();
            let t = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&p, t.replace("../../../docker/bootstrap/debian.sh", &script.display().to_string())).unwrap();
        }
        let m = dir.path().join("matrix.toml");
        let t = std::fs::read_to_string(&m).unwrap();
        // The shared cache of the repository, when the example points there (otherwise the
        // example's own cache folder, inside the copy, is used).
        let cache = repo.join(".cache/engine/local");
        std::fs::write(&m, t.replace("\"../../.cache/engine/local\"", &format!("{:?}", cache.display().to_string()))).unwrap();
        LocalProject { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        // Run state and caches of earlier runs in the example are not part of it.
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
