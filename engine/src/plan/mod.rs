//! The plan: the matrix as a DAG of work (petgraph), with selection, shards, cache keys and
//! renderings (DOT, JSON, list).

pub mod build;
pub mod dot;
pub mod hash;
pub mod node;
pub mod recipe;
pub mod select;
pub mod shard;

pub use build::Plan;
pub use node::{Node, NodeKind, Skipped};
pub use recipe::Recipe;

use std::collections::HashMap;

/// The recipes and keys of each distro's base, image and provision nodes (see `hash`).
#[derive(Debug, Clone, Default)]
pub struct CacheKeys {
    recipes: HashMap<(NodeKind, String), (Recipe, String)>,
}

/// A distro's image and provision keys once its base image's id is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub image: Recipe,
    pub image_key: String,
    pub provision: Recipe,
    pub provision_key: String,
}

impl CacheKeys {
    /// The key a node has at plan time (for images and provisions: without the base's id).
    pub fn get(&self, kind: NodeKind, distro: &str) -> Option<&str> {
        self.recipes
            .get(&(kind, distro.to_string()))
            .map(|(_, k)| k.as_str())
    }

    pub fn recipe(&self, kind: NodeKind, distro: &str) -> Option<&Recipe> {
        self.recipes
            .get(&(kind, distro.to_string()))
            .map(|(r, _)| r)
    }

    pub fn insert(&mut self, kind: NodeKind, distro: &str, recipe: Recipe) {
        let key = recipe.key(kind.as_str());
        self.recipes
            .insert((kind, distro.to_string()), (recipe, key));
    }

    /// The image and provision keys of `distro` with its base image's id among the image's
    /// parts (in place of the base's name): a base that moved (a new pull, a re-imported
    /// rootfs) changes both.
    pub fn resolved(&self, distro: &str, base_image_id: &str) -> Option<Resolved> {
        let mut image = self.recipe(NodeKind::Image, distro)?.clone();
        // The id says what the base is; the name it was reached by does not matter (a tag
        // pinned to the digest it points at reuses the image).
        image.remove("base");
        image.set("base image", base_image_id);
        let image_key = image.key(NodeKind::Image.as_str());
        let mut provision = self.recipe(NodeKind::Provision, distro)?.clone();
        provision.set("image", image_key.clone());
        let provision_key = provision.key(NodeKind::Provision.as_str());
        Some(Resolved {
            image,
            image_key,
            provision,
            provision_key,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
