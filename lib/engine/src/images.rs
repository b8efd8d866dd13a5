//! The images of the root's store, as the Docker API shows them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use berth_api::filters::Filters;
use berth_api::{BackendError, ImagesBackend};
use berth_image::export::{save, SaveFormat, SaveItem};
use berth_image::import::{load, ImportOptions};
use berth_image::{ImageError, ImageInfo, Store};
use bollard_stubs::models::{
    ImageDeleteResponseItem, ImageHistoryResponseItem, ImagePruneResponse, ImageSummary,
};

use crate::Engine;

/// An image error as docker words it: a missing image is "No such image: NAME".
/// An image-store error as the API answers it (its kind, its message).
pub(crate) fn image_error(error: ImageError) -> BackendError {
    BackendError::new(error.kind(), error.to_string())
}

/// [`image_error`], with docker's words for an image `asked` for that is not there.
fn image_error_for(asked: &str, error: ImageError) -> BackendError {
    match error {
        ImageError::NotFound(_) => BackendError::not_found(format!("No such image: {asked}")),
        other => image_error(other),
    }
}

fn unix_seconds(rfc3339: &str) -> i64 {
    humantime::parse_rfc3339_weak(
        rfc3339
            .trim_end_matches('Z')
            .split('.')
            .next()
            .unwrap_or(""),
    )
    .ok()
    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    .map_or(0, |d| d.as_secs() as i64)
}

/// `name` matches a `reference` filter: the whole `repo:tag`, or the repository alone;
/// `*` matches any run of characters but `/`, as docker's path match.
fn reference_matches(pattern: &str, name: &str) -> bool {
    let (repo, _) = berth_image::reference::repository_and_tag(name);
    let normal = berth_image::reference::normalize(pattern).unwrap_or_else(|_| pattern.into());
    glob(pattern, name) || glob(pattern, repo) || normal == name
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .take_while(|&i| !rest[..i].contains('/'))
                .any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

fn label_matches(wanted: &[String], labels: &HashMap<String, String>) -> bool {
    wanted
        .iter()
        .all(|w| berth_api::filters::label_matches(w, |key| labels.get(key).map(String::as_str)))
}

impl Engine {
    /// A new directory in the store's tmp/ for what a client uploads (a build context, an
    /// image archive); the caller removes it.
    pub(crate) fn upload_dir(&self, what: &str) -> Result<PathBuf, BackendError> {
        let tmp = self.paths().tmp();
        let dir = tmp.join(format!(
            "upload-{what}-{}",
            &berth_common::units::random_id()[..16]
        ));
        std::fs::create_dir_all(&tmp)
            .and_then(|()| std::fs::create_dir(&dir))
            .map_err(|e| BackendError::internal(format!("cannot create {}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// The image store, opened for one request.
    pub(crate) fn store(&self) -> Result<Store, BackendError> {
        Store::open(self.paths().clone()).map_err(image_error)
    }

    fn summary(&self, store: &Store, image: &ImageInfo) -> Result<ImageSummary, ImageError> {
        let (_, config) = store.config_of(image)?;
        let size = store.image_size(image, &config)? as i64;
        let labels: HashMap<String, String> = config
            .typed
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        Ok(ImageSummary {
            id: image.id.to_string(),
            parent_id: String::new(),
            repo_tags: image.names.clone(),
            repo_digests: Vec::new(),
            created: unix_seconds(&config.created()),
            size,
            shared_size: -1,
            labels,
            containers: -1,
            ..ImageSummary::default()
        })
    }
}

impl ImagesBackend for Engine {
    fn list(&self, _all: bool, filters: &Filters) -> Result<Vec<ImageSummary>, BackendError> {
        filters.only(&["dangling", "reference", "label"])?;
        let store = self.store()?;
        let dangling = filters
            .get("dangling")
            .first()
            .map(|v| v == "true" || v == "1");
        let mut out = Vec::new();
        for image in store.images().map_err(image_error)? {
            let mut summary = self.summary(&store, &image).map_err(image_error)?;
            if dangling.is_some_and(|d| d != image.names.is_empty()) {
                continue;
            }
            let references = filters.get("reference");
            if !references.is_empty()
                && !image
                    .names
                    .iter()
                    .any(|n| references.iter().any(|p| reference_matches(p, n)))
            {
                continue;
            }
            if !references.is_empty() {
                // As dockerd: only the names the filter matched are shown.
                summary
                    .repo_tags
                    .retain(|n| references.iter().any(|p| reference_matches(p, n)));
            }
            if !label_matches(filters.get("label"), &summary.labels) {
                continue;
            }
            out.push(summary);
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok(out)
    }

    fn inspect(&self, name: &str) -> Result<serde_json::Value, BackendError> {
        let store = self.store()?;
        let image = store.resolve(name).map_err(|e| image_error_for(name, e))?;
        let mut doc = store
            .inspect(&image)
            .map_err(|e| image_error_for(name, e))?;
        if let Some(map) = doc.as_object_mut() {
            map.insert(
                "GraphDriver".into(),
                serde_json::json!({ "Name": "overlayfs", "Data": {} }),
            );
            map.insert("VirtualSize".into(), map["Size"].clone());
        }
        Ok(doc)
    }

    fn history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>, BackendError> {
        let store = self.store()?;
        let image = store.resolve(name).map_err(|e| image_error_for(name, e))?;
        let (_, config) = store
            .config_of(&image)
            .map_err(|e| image_error_for(name, e))?;
        let history = config.typed.history().clone().unwrap_or_default();
        // Layer sizes in order, for the entries that made a layer.
        let mut sizes = Vec::new();
        let mut parent: Option<berth_image::Digest> = None;
        for diff_id in config.diff_ids() {
            let diff = berth_image::Digest::parse(diff_id).map_err(|e| image_error_for(name, e))?;
            let chain = berth_image::Digest::chain(parent.as_ref(), &diff);
            sizes.push(store.layer_meta(&chain).map(|m| m.size as i64).unwrap_or(0));
            parent = Some(chain);
        }
        let mut sizes = sizes.into_iter();
        let mut items: Vec<ImageHistoryResponseItem> = history
            .iter()
            .map(|h| ImageHistoryResponseItem {
                id: "<missing>".into(),
                created: unix_seconds(h.created().as_deref().unwrap_or("")),
                created_by: h.created_by().clone().unwrap_or_default(),
                tags: Vec::new(),
                size: if h.empty_layer().unwrap_or(false) {
                    0
                } else {
                    sizes.next().unwrap_or(0)
                },
                comment: h.comment().clone().unwrap_or_default(),
            })
            .collect();
        if items.is_empty() {
            items.push(ImageHistoryResponseItem {
                id: String::new(),
                created: unix_seconds(&config.created()),
                created_by: String::new(),
                tags: Vec::new(),
                size: sizes.sum(),
                comment: String::new(),
            });
        }
        items.reverse();
        if let Some(top) = items.first_mut() {
            top.id = image.id.to_string();
            top.tags = image.names.clone();
        }
        Ok(items)
    }

    fn tag(&self, name: &str, repo: &str, tag: &str) -> Result<(), BackendError> {
        let store = self.store()?;
        let image = store.resolve(name).map_err(|e| image_error_for(name, e))?;
        let new_name = format!("{repo}:{tag}");
        store
            .tag(&image, &new_name)
            .map_err(|e| image_error_for(name, e))?;
        // docker's events carry the familiar form (the CLI sends the full one).
        let familiar = new_name
            .strip_prefix("docker.io/library/")
            .or_else(|| new_name.strip_prefix("docker.io/"))
            .unwrap_or(&new_name);
        self.image_event("tag", &image.id.to_string(), familiar);
        Ok(())
    }

    fn remove(
        &self,
        name: &str,
        force: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>, BackendError> {
        let store = self.store()?;
        let image = store.resolve(name).map_err(|e| image_error_for(name, e))?;
        let as_name = berth_image::reference::normalize(name)
            .ok()
            .filter(|n| image.names.contains(n));
        // By a name of several: only that name goes. By id: every name, unless the image
        // has several and no -f (docker's "must be forced").
        let names = match &as_name {
            Some(n) => Some(vec![n.clone()]),
            None if image.names.len() > 1 && !force => {
                return Err(BackendError::conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in \
                     multiple repositories",
                    image.id.short()
                )))
            }
            None => None,
        };
        let (untagged, _report) = store
            .remove_image(&image, names.as_deref())
            .map_err(|e| image_error_for(name, e))?;
        let mut items: Vec<ImageDeleteResponseItem> = untagged
            .into_iter()
            .map(|n| ImageDeleteResponseItem {
                untagged: Some(n),
                deleted: None,
            })
            .collect();
        let still_there = store
            .images()
            .map_err(|e| image_error_for(name, e))?
            .iter()
            .any(|i| i.id == image.id);
        for item in &items {
            if let Some(n) = &item.untagged {
                self.image_event("untag", &image.id.to_string(), n);
            }
        }
        if !still_there {
            self.image_event("delete", &image.id.to_string(), "");
            items.push(ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(image.id.to_string()),
            });
        }
        Ok(items)
    }

    fn prune(&self, filters: &Filters) -> Result<ImagePruneResponse, BackendError> {
        filters.only(&["dangling", "until", "label"])?;
        if !filters.get("until").is_empty() || !filters.get("label").is_empty() {
            return Err(BackendError::invalid(
                "image prune filters until and label are not supported by this berthd yet",
            ));
        }
        if filters
            .get("dangling")
            .first()
            .is_some_and(|v| v == "false")
        {
            return Err(BackendError::invalid(
                "image prune -a (dangling=false) is not supported by this berthd yet",
            ));
        }
        let store = self.store()?;
        let (deleted, report) = store.prune().map_err(image_error)?;
        Ok(ImagePruneResponse {
            images_deleted: Some(
                deleted
                    .into_iter()
                    .map(|d| ImageDeleteResponseItem {
                        untagged: None,
                        deleted: Some(d.to_string()),
                    })
                    .collect(),
            ),
            space_reclaimed: Some(report.bytes as i64),
        })
    }

    fn scratch_dir(&self) -> Result<PathBuf, BackendError> {
        self.upload_dir("image")
    }

    fn load(&self, path: &Path) -> Result<Vec<String>, BackendError> {
        let store = self.store()?;
        let images = load(&store, path, &ImportOptions::default()).map_err(|e| {
            // The client knows its archive, not where berthd keeps the upload.
            let message = e
                .to_string()
                .replace(&path.display().to_string(), "the archive");
            BackendError::new(e.kind(), format!("load: {message}"))
        })?;
        for image in &images {
            let name = image.names.first().map_or("", String::as_str);
            self.image_event("load", &image.id.to_string(), name);
        }
        Ok(images
            .into_iter()
            .flat_map(|i| {
                if i.names.is_empty() {
                    vec![i.id.to_string()]
                } else {
                    i.names
                }
            })
            .collect())
    }

    fn save(&self, names: &[String], dest: &Path) -> Result<(), BackendError> {
        let store = self.store()?;
        let mut items: Vec<SaveItem> = Vec::new();
        for name in names {
            let image = store.resolve(name).map_err(|e| image_error_for(name, e))?;
            let asked = berth_image::reference::normalize(name)
                .ok()
                .filter(|n| image.names.contains(n));
            let names = match asked {
                Some(n) => vec![n],
                None => image.names.clone(),
            };
            match items.iter_mut().find(|i| i.image.id == image.id) {
                Some(item) => item.names.extend(names),
                None => items.push(SaveItem { image, names }),
            }
        }
        save(&store, &items, SaveFormat::DockerArchive, dest)
            .map_err(|e| BackendError::new(e.kind(), format!("save: {e}")))?;
        for item in &items {
            let name = item.names.first().map_or("", String::as_str);
            self.image_event("save", &item.image.id.to_string(), name);
        }
        Ok(())
    }
}

impl crate::Engine {
    /// Records an image event: the image's id, `name` the reference it concerns.
    pub(crate) fn image_event(&self, action: &str, id: &str, name: &str) {
        use berth_common::events::{emit, Event, Kind};
        emit(
            self.paths(),
            &Event::new(Kind::Image, action, id).with("name", name),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filters_match_like_docker() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(!reference_matches("alpine", "busybox:latest"));
        assert!(!reference_matches("a*", "a/b:latest"));
        assert!(glob("*:1.*", "x:1.2"));
    }

    #[test]
    fn created_times_read_as_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:01:00Z"), 60);
        assert_eq!(unix_seconds("2026-12-07T10:00:00.123456789Z"), 1796637600);
        assert_eq!(unix_seconds("garbage"), 0);
    }
}
