//! `/system/df`: the sizes of the store's images (their layers, shared or not), of the
//! containers' writable layers and of the volumes, measured on disk at each call (dockerd
//! does the same walk).

use std::collections::{HashMap, HashSet};

use berth_api::containers::ListQuery;
use berth_api::filters::Filters;
use berth_api::system_df::{DfParts, SystemDfBackend};
use berth_api::{BackendError, ContainersBackend, ImagesBackend};
use berth_image::{Digest, Store};
use serde_json::{json, Value};

use crate::images::image_error;
use crate::volumes::{tree_size, view};

/// Each image's layer chains (lowest first) with their sizes.
fn image_layers(store: &Store) -> Result<HashMap<String, Vec<(Digest, u64)>>, BackendError> {
    let mut out = HashMap::new();
    for image in store.images().map_err(image_error)? {
        let (_, config) = store.config_of(&image).map_err(image_error)?;
        let mut parent: Option<Digest> = None;
        let mut layers = Vec::new();
        for diff_id in config.diff_ids() {
            let diff = Digest::parse(diff_id).map_err(image_error)?;
            let chain = Digest::chain(parent.as_ref(), &diff);
            let size = store.layer_meta(&chain).map(|m| m.size).unwrap_or(0);
            layers.push((chain.clone(), size));
            parent = Some(chain);
        }
        out.insert(image.id.to_string(), layers);
    }
    Ok(out)
}

/// The df backend: it lists containers through the engine's containers backend.
pub struct SystemDf(pub std::sync::Arc<crate::Engine>);

impl SystemDf {
    /// Every container as `ps -a` lists it, with `SizeRw` (its upper directory) and
    /// `SizeRootFs` (that and its image's layers).
    fn containers_with_sizes(
        &self,
        layers: &HashMap<String, Vec<(Digest, u64)>>,
    ) -> Result<Vec<Value>, BackendError> {
        let containers = crate::containers::Containers(self.0.clone());
        let mut list = containers.list(&ListQuery {
            all: true,
            limit: None,
            filters: HashMap::new(),
        })?;
        for c in &mut list {
            let id = c["Id"].as_str().unwrap_or_default().to_string();
            let size_rw = berth_common::ContainerId::parse(&id)
                .ok()
                .and_then(|id| {
                    berth_rootfs::state::read_state(&self.0.paths, &id)
                        .ok()
                        .flatten()
                })
                .map_or(0, |s| tree_size(&s.rootfs.upper));
            let image_size: u64 = layers
                .get(c["ImageID"].as_str().unwrap_or_default())
                .map_or(0, |l| l.iter().map(|(_, s)| s).sum());
            c["SizeRw"] = json!(size_rw);
            c["SizeRootFs"] = json!(size_rw + image_size);
        }
        Ok(list)
    }
}

impl SystemDfBackend for SystemDf {
    fn disk_usage(&self, parts: DfParts) -> Result<Value, BackendError> {
        let engine = &self.0;
        let store = engine.store()?;
        let layers = image_layers(&store)?;
        let mut out = serde_json::Map::new();
        // Containers are listed for the images' counts too.
        let containers = if parts.containers || parts.images {
            self.containers_with_sizes(&layers)?
        } else {
            Vec::new()
        };
        if parts.images {
            let mut users: HashMap<&str, usize> = HashMap::new();
            for c in &containers {
                *users
                    .entry(c["ImageID"].as_str().unwrap_or_default())
                    .or_default() += 1;
            }
            let mut images_per_layer: HashMap<&Digest, usize> = HashMap::new();
            let mut unique = HashSet::new();
            let mut layers_size = 0;
            for chains in layers.values() {
                for (chain, size) in chains {
                    *images_per_layer.entry(chain).or_default() += 1;
                    if unique.insert(chain) {
                        layers_size += size;
                    }
                }
            }
            let mut images = Vec::new();
            for mut summary in engine.list(false, &Filters::default())? {
                let chains = layers.get(&summary.id).map(Vec::as_slice).unwrap_or(&[]);
                summary.shared_size = chains
                    .iter()
                    .filter(|(chain, _)| images_per_layer.get(chain).copied().unwrap_or(0) > 1)
                    .map(|(_, size)| *size as i64)
                    .sum();
                summary.containers = users.get(summary.id.as_str()).copied().unwrap_or(0) as i64;
                images.push(summary);
            }
            out.insert("LayersSize".into(), json!(layers_size));
            out.insert("Images".into(), json!(images));
        }
        if parts.containers {
            out.insert("Containers".into(), json!(containers));
        }
        if parts.volumes {
            let mut volumes = Vec::new();
            for info in berth_rootfs::volumes::list_volumes(&engine.paths)
                .map_err(|e| BackendError::new(e.kind(), e.to_string()))?
            {
                volumes.push(view(&engine.paths, &info, true)?);
            }
            out.insert("Volumes".into(), json!(volumes));
        }
        if parts.build_cache {
            // The legacy builder keeps no build cache apart from images.
            out.insert("BuildCache".into(), json!([]));
        }
        Ok(Value::Object(out))
    }
}
