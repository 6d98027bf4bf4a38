//! Cache keys at plan time: the content hash of everything an image or provision result depends
//! on. A later run reuses a result whose key label matches; `engine graph` shows the keys.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{CacheKeys, NodeKind};
use crate::build_context::context_hash;
use crate::spec::matrix::{Base, Distro};
use crate::spec::Matrix;

/// Bumped when what a key covers changes, so that old results stop matching.
const DOMAIN: &str = "engine plan cache v1";

fn hasher(kind: &str) -> blake3::Hasher {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN.as_bytes());
    h.update(&[0]);
    h.update(kind.as_bytes());
    h.update(&[0]);
    h
}

fn field(h: &mut blake3::Hasher, s: &str) {
    // Length prefixes keep ("ab","c") and ("a","bc") apart.
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

/// Key of a base: the image reference (pull policies decide freshness at run time), or the
/// rootfs script's content and arguments.
pub fn base_key(base: &Base) -> String {
    let mut h = hasher("base");
    match base {
        Base::Image { reference, .. } => {
            field(&mut h, "image");
            field(&mut h, reference);
        }
        Base::Rootfs { script, args } => {
            field(&mut h, "rootfs");
            h.update(&std::fs::read(script).unwrap_or_default());
            for a in args {
                field(&mut h, a);
            }
        }
    }
    h.finalize().to_hex().to_string()
}

/// Compute the keys of every distro's base, image and provision nodes.
pub fn cache_keys(matrix: &Matrix) -> CacheKeys {
    let mut keys = CacheKeys::default();
    // Many distros share one context: hash each (context, Dockerfile) once.
    let mut contexts: HashMap<(PathBuf, PathBuf), String> = HashMap::new();
    let inputs = provision_inputs_hash(matrix);
    for (name, d) in &matrix.distros {
        let base = base_key(&d.base);
        let ctx = contexts
            .entry((d.image.context.clone(), d.image.dockerfile.clone()))
            .or_insert_with(|| {
                let rel = d
                    .image
                    .dockerfile
                    .strip_prefix(&d.image.context)
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|_| d.image.dockerfile.clone());
                // An unreadable context gets a key that never matches; the build reports why.
                context_hash(&d.image.context, &rel, &[])
                    .unwrap_or_else(|e| format!("unreadable:{e}"))
            })
            .clone();
        let mut h = hasher("image");
        field(&mut h, &base);
        field(&mut h, &ctx);
        for (k, v) in &d.image.build_args {
            field(&mut h, k);
            field(&mut h, v);
        }
        let image = h.finalize().to_hex().to_string();
        let provision = provision_key(matrix, d, &image, &inputs);
        keys.insert(NodeKind::Base, name, base);
        keys.insert(NodeKind::Image, name, image);
        keys.insert(NodeKind::Provision, name, provision);
    }
    keys
}

/// Key of a distro's provisioned image: its image, the provision spec the runner gets, the
/// runner's version, and the content of the files the steps declare as inputs.
fn provision_key(matrix: &Matrix, d: &Distro, image: &str, inputs: &str) -> String {
    let mut h = hasher("provision");
    field(&mut h, image);
    field(&mut h, runner_protocol::VERSION);
    // The spec as JSON: every field that changes what provisioning does.
    let mut spec = serde_json::json!({
        "users": matrix.provision.users,
        "steps": matrix.provision.steps,
        "locales": d.locales,
        "on_missing_locale": d.on_missing_locale,
        "aur_helper": d.aur_helper,
        "workspace": matrix.workspace.target,
        "mounts": matrix.caches.mounts,
    });
    // Only when set, so that matrices without it keep the keys they had.
    let env = matrix.environment_of(d);
    if !env.is_empty() {
        spec["environment"] = serde_json::json!(env);
    }
    field(&mut h, &spec.to_string());
    field(&mut h, inputs);
    h.finalize().to_hex().to_string()
}

/// Hash of the workspace files matched by the provision steps' `inputs` globs (sorted paths and
/// contents). Walks the workspace honouring .gitignore, so build outputs are not hashed.
fn provision_inputs_hash(matrix: &Matrix) -> String {
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
    let mut h = hasher("inputs");
    if !any {
        return h.finalize().to_hex().to_string();
    }
    let Ok(set) = builder.build() else {
        return h.finalize().to_hex().to_string();
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
    for rel in files {
        field(&mut h, &rel.to_string_lossy());
        h.update(&std::fs::read(root.join(&rel)).unwrap_or_default());
    }
    h.finalize().to_hex().to_string()
}
