//! Cache keys at plan time: for each distro, the [`Recipe`] of its base, image and provision
//! results (what each depends on, part by part) and the key made of it. A later run reuses a
//! result whose key label matches; `engine graph` shows the keys, `engine list --status` the
//! parts that changed.
//!
//! - base: the image reference, or the rootfs script's content and arguments.
//! - image: the base, the Dockerfile's text, the build args, and the context files that the
//!   Dockerfile's `COPY`/`ADD` can read (see [`crate::build_context::Reads`]). At run time the
//!   base image's id joins them ([`CacheKeys::resolved`]), so a moved tag rebuilds.
//! - provision: the image's key, the runner protocol, the provision spec (users, each step,
//!   locales and policies, the workspace, the cache mounts, the environment), and the content of
//!   the workspace files the steps' `inputs` match.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::recipe::{digest, Recipe};
use super::{CacheKeys, NodeKind};
use crate::build_context::build_reads;
use crate::spec::matrix::{Base, Distro};
use crate::spec::Matrix;

/// Above this many files, a recipe keeps one hash for them all instead of one part per file
/// (a label stays small; the change is then named "build context changed").
const FILES_PER_RECIPE: usize = 256;

/// The recipe of a base: the image reference, or the rootfs script's content and arguments.
pub fn base_recipe(base: &Base) -> Recipe {
    let mut r = Recipe::default();
    match base {
        Base::Image { reference, .. } => r.set("base", reference.clone()),
        Base::Rootfs {
            script,
            args,
            inputs,
            pass_env,
            ..
        } => {
            // An unreadable script gets a part that changes when it becomes readable.
            r.set(
                "rootfs script",
                std::fs::read(script)
                    .map(|b| digest(&b))
                    .unwrap_or_else(|e| format!("unreadable: {e}")),
            );
            r.set("rootfs args", digest(args.join("\0").as_bytes()));
            for (name, f) in inputs {
                r.set(
                    format!("rootfs input {name}"),
                    std::fs::read(f)
                        .map(|b| digest(&b))
                        .unwrap_or_else(|e| format!("unreadable: {e}")),
                );
            }
            // What the script is given beyond the fixed few: a different value may make a
            // different rootfs. (Only when there is some, so that older keys stay valid.)
            if !pass_env.is_empty() {
                let given: Vec<String> = pass_env
                    .iter()
                    .map(|n| match std::env::var(n) {
                        Ok(v) => format!("{n}={v}"),
                        Err(_) => format!("{n} unset"),
                    })
                    .collect();
                r.set("rootfs environment", digest(given.join("\0").as_bytes()));
            }
        }
    }
    r
}

/// The recipes and keys of every distro's base, image and provision nodes.
pub fn cache_keys(matrix: &Matrix) -> CacheKeys {
    let mut keys = CacheKeys::default();
    // Many distros share one context: read each (context, Dockerfile) once.
    let mut contexts: HashMap<(PathBuf, PathBuf), Recipe> = HashMap::new();
    let inputs = provision_inputs(matrix);
    for (name, d) in &matrix.distros {
        let base = base_recipe(&d.base);
        let base_key = base.key("base");
        let mut image = contexts
            .entry((d.image.context.clone(), d.image.dockerfile.clone()))
            .or_insert_with(|| build_recipe(&d.image.context, &d.image.dockerfile))
            .clone();
        image.set(
            "base",
            match &d.base {
                Base::Image { reference, .. } => reference.clone(),
                Base::Rootfs { .. } => format!("rootfs {}", &base_key[..16]),
            },
        );
        for (k, v) in &d.image.build_args {
            image.set(format!("build arg {k}"), digest(v.as_bytes()));
        }
        let provision = provision_recipe(matrix, d, &image.key("image"), &inputs);
        keys.insert(NodeKind::Base, name, base);
        keys.insert(NodeKind::Image, name, image);
        keys.insert(NodeKind::Provision, name, provision);
    }
    keys
}

/// The Dockerfile and the context files it can read.
fn build_recipe(context: &Path, dockerfile: &Path) -> Recipe {
    let mut r = Recipe::default();
    let rel = dockerfile
        .strip_prefix(context)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| dockerfile.to_path_buf());
    match build_reads(context, &rel) {
        Ok(reads) => {
            r.set("Dockerfile", digest(reads.dockerfile.as_bytes()));
            // The Dockerfile's own text is the part above (also when a COPY reaches it).
            let own = rel.to_string_lossy();
            let read: Vec<(String, String)> =
                reads.files.into_iter().filter(|(p, _)| *p != own).collect();
            files(&mut r, "context file", "build context", &read);
        }
        // An unreadable context gets a key of its own; the build reports why.
        Err(e) => r.set("build context", format!("unreadable: {e}")),
    }
    r
}

/// One part per file (`<each> <path>`), or one part `<all>` for many files.
fn files(r: &mut Recipe, each: &str, all: &str, files: &[(String, String)]) {
    if files.len() <= FILES_PER_RECIPE {
        for (rel, hash) in files {
            r.set(format!("{each} {rel}"), hash.clone());
        }
    } else {
        let joined: Vec<String> = files.iter().map(|(p, h)| format!("{p}\0{h}")).collect();
        r.set(all, digest(joined.join("\0").as_bytes()));
    }
}

/// The provision result's recipe: its image, the runner protocol, every field of the spec the
/// runner gets (step by step) and the input files.
fn provision_recipe(
    matrix: &Matrix,
    d: &Distro,
    image_key: &str,
    inputs: &[(String, String)],
) -> Recipe {
    let json = |v: serde_json::Value| digest(v.to_string().as_bytes());
    let mut r = Recipe::default();
    r.set("image", image_key);
    r.set("runner protocol", runner_protocol::VERSION);
    r.set("users", json(serde_json::json!(matrix.provision.users)));
    let steps = &matrix.provision.steps;
    for (i, step) in steps.iter().enumerate() {
        let mut name = format!("step {}", step.name);
        if steps[..i].iter().any(|s| s.name == step.name) {
            name = format!("{name} #{}", i + 1);
        }
        r.set(name, json(serde_json::json!(step)));
    }
    let order: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    r.set("step order", json(serde_json::json!(order)));
    r.set("locales", json(serde_json::json!(d.locales)));
    r.set(
        "locale policy",
        json(serde_json::json!(d.on_missing_locale)),
    );
    r.set("AUR helper", json(serde_json::json!(d.aur_helper)));
    r.set("workspace", matrix.workspace.target.clone());
    // Only what provisioning sees: a mount given to suites alone, or a change of which suites
    // get one, leaves the provisioned image as it was. Every other field of a mount counts.
    let mounts: Vec<serde_json::Value> = matrix
        .caches
        .mounts
        .iter()
        .filter(|m| m.applies_to(crate::spec::matrix::Phase::Provision))
        .map(|m| {
            let mut v = serde_json::json!(m);
            if let Some(fields) = v.as_object_mut() {
                fields.remove("phases");
            }
            v
        })
        .collect();
    r.set("cache mounts", json(serde_json::json!(mounts)));
    let env = matrix.environment_of(d);
    if !env.is_empty() {
        r.set("environment", json(serde_json::json!(env)));
    }
    files(&mut r, "input", "inputs", inputs);
    r
}

/// The workspace files matched by the provision steps' `inputs` globs, with their content
/// hashes, in path order. Walks the workspace honouring .gitignore, so build outputs are not
/// hashed.
fn provision_inputs(matrix: &Matrix) -> Vec<(String, String)> {
    let mut builder = globset::GlobSetBuilder::new();
    let mut any = false;
    for step in &matrix.provision.steps {
        for g in &step.inputs {
            if let Ok(glob) = globset::GlobBuilder::new(g)
                .literal_separator(false)
                .build()
            {
                builder.add(glob);
                any = true;
            }
        }
    }
    let set = match builder.build() {
        Ok(set) if any => set,
        _ => return Vec::new(),
    };
    let root = &matrix.workspace.source;
    let mut files: Vec<PathBuf> = ignore::WalkBuilder::new(root)
        .hidden(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| e.path().strip_prefix(root).ok().map(Path::to_path_buf))
        .filter(|rel| set.is_match(rel))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|rel| {
            let content = std::fs::read(root.join(&rel)).unwrap_or_default();
            (rel.to_string_lossy().into_owned(), digest(&content))
        })
        .collect()
}
