//! `docker commit`: a container's upper dir becomes a layer on its image, with the
//! container's config (what its create asked for over the image's), the body's overrides
//! and the `--change` instructions. A running container is frozen while its files are read
//! (docker's default, `--pause`), so the layer is one moment of it.

use berth_api::commit::CommitRequest;
use berth_api::{BackendError, CommitBackend};
use berth_image::commit::{self as image_commit, LayerTarOptions};
use berth_image::spec::RunConfig;
use berth_image::store::TempPath;
use berth_image::ImageError;
use serde_json::{Map, Value};

use crate::containers::entry::Entry;
use crate::images::image_error;
use crate::Engine;

/// The config keys a container's create may set that a committed image keeps.
const IMAGE_KEYS: &[&str] = &[
    "User",
    "ExposedPorts",
    "Env",
    "Cmd",
    "Healthcheck",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "OnBuild",
    "Labels",
    "StopSignal",
    "Shell",
];

impl CommitBackend for Engine {
    fn commit(&self, request: &CommitRequest) -> Result<String, BackendError> {
        let paths = self.paths();
        let entry = Entry::find(paths, &request.container)
            .map_err(|_| crate::container_ops::no_such_container(&request.container))?;
        let id = &entry.id;
        let rootfs = berth_rootfs::state::read_state(paths, id)
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
        let store = self.store()?;
        let image_ref = match &entry.created {
            Some(created) => created.image_id.clone(),
            None => rootfs.as_ref().map(|s| s.image.clone()).unwrap_or_default(),
        };
        let parent = store.resolve(&image_ref).map_err(|e| match e {
            ImageError::NotFound(_) => BackendError::not_found(format!(
                "container {}: its image {image_ref} is no longer in the store",
                id.as_str()
            )),
            other => image_error(other),
        })?;
        let (_, parent_config) = store.config_of(&parent).map_err(image_error)?;
        let mut config = parent_config
            .field("config")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or_else(|| Value::Object(Map::new()));
        if let Some(created) = &entry.created {
            let body = serde_json::to_value(&created.body).unwrap_or(Value::Null);
            merge_config(&mut config, &body);
        }
        if let Some(overrides) = &request.config {
            merge_config(&mut config, overrides);
        }
        for change in &request.changes {
            apply_change(&mut config, change)?;
        }
        let mut skip: Vec<String> = image_commit::CONTAINER_MADE
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(state) = &rootfs {
            skip.extend(state.rootfs.mounts.iter().map(|m| m.target.clone()));
        }
        let clamp = image_commit::source_date_epoch();
        let upper = rootfs.as_ref().map(|s| s.rootfs.upper.clone());
        // A container never started has written nothing: its layer is empty.
        let empty = TempPath::new_dir(&paths.tmp(), "commit-empty").map_err(image_error)?;
        let image_request = image_commit::CommitRequest {
            layer: Some(
                upper
                    .as_deref()
                    .filter(|u| u.is_dir())
                    .unwrap_or(empty.path()),
            ),
            tar: LayerTarOptions {
                skip,
                clamp_mtime: clamp.map(unix_seconds),
            },
            parent: Some(&parent),
            config,
            created_by: created_by(&entry),
            comment: Some(request.comment.clone()).filter(|c| !c.is_empty()),
            author: Some(request.author.clone()).filter(|a| !a.is_empty()),
            created: clamp,
            names: request.reference.iter().cloned().collect(),
        };
        let paused = match entry.state.as_ref().filter(|s| s.is_running()) {
            Some(state) if request.pause => crate::container_ops::pause::pause(state)
                .ok()
                .map(|()| state),
            _ => None,
        };
        let result = image_commit::commit(&store, &image_request);
        if let Some(state) = paused {
            if let Err(e) = crate::container_ops::pause::unpause(state) {
                tracing::warn!(container = id.as_str(), error = %e, "unpausing after commit");
            }
        }
        let image = result.map_err(image_error)?;
        crate::events::record_id(
            paths,
            "commit",
            id,
            &[
                ("comment", request.comment.as_str()),
                ("imageID", image.id.as_str()),
                ("imageRef", request.reference.as_deref().unwrap_or_default()),
            ],
        );
        Ok(image.id.to_string())
    }
}

fn unix_seconds(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What `docker history` shows for the step: the container's command.
fn created_by(entry: &Entry) -> String {
    match &entry.state {
        Some(state) => state.command.join(" "),
        None => entry
            .created
            .as_ref()
            .and_then(|c| c.body.cmd.clone())
            .unwrap_or_default()
            .join(" "),
    }
}

fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// docker's merge of a container config over the image's: what the container sets wins,
/// `Env` and the maps are merged by key, and an `Entrypoint` set without a `Cmd` drops the
/// image's `Cmd` (moby's `daemon/commit.go` `merge`).
pub fn merge_config(base: &mut Value, over: &Value) {
    let Some(over) = over.as_object() else { return };
    let Some(base) = base.as_object_mut() else {
        return;
    };
    let entrypoint_set = over.get("Entrypoint").is_some_and(is_set);
    if entrypoint_set && !over.get("Cmd").is_some_and(is_set) {
        base.remove("Cmd");
    }
    for key in IMAGE_KEYS {
        let Some(value) = over.get(*key).filter(|v| is_set(v)) else {
            continue;
        };
        match *key {
            "Env" => {
                let mut env: Vec<Value> = base
                    .get("Env")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for item in value.as_array().into_iter().flatten() {
                    let Some(text) = item.as_str() else { continue };
                    let name = text.split_once('=').map_or(text, |(k, _)| k);
                    env.retain(|e| {
                        e.as_str()
                            .is_none_or(|e| e.split_once('=').map_or(e, |(k, _)| k) != name)
                    });
                    env.push(item.clone());
                }
                base.insert("Env".into(), Value::Array(env));
            }
            "Labels" | "ExposedPorts" | "Volumes" => {
                let mut map = base
                    .get(*key)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for (k, v) in value.as_object().into_iter().flatten() {
                    map.insert(k.clone(), v.clone());
                }
                base.insert((*key).into(), Value::Object(map));
            }
            _ => {
                base.insert((*key).into(), value.clone());
            }
        }
    }
}

/// One `--change` instruction, applied by the image crate's `--change` parser to the typed
/// view; the keys it does not model (`Healthcheck`, `Shell`…) are kept as they were.
fn apply_change(config: &mut Value, instruction: &str) -> Result<(), BackendError> {
    let mut typed: RunConfig = serde_json::from_value(config.clone()).map_err(|e| {
        BackendError::invalid(format!("the image's config cannot take a change: {e}"))
    })?;
    berth_image::changes::apply_change(&mut typed, instruction).map_err(image_error)?;
    let updated = serde_json::to_value(&typed).unwrap_or(Value::Null);
    if let (Some(base), Some(updated)) = (config.as_object_mut(), updated.as_object()) {
        for (key, value) in updated {
            base.insert(key.clone(), value.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_containers_config_wins_and_merges_by_key() {
        let mut base = json!({"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"],
            "Labels": {"a": "1"}, "Healthcheck": {"Test": ["CMD", "true"]}});
        merge_config(
            &mut base,
            &json!({"Env": ["A=2", "B=3"], "Labels": {"b": "2"}, "User": "",
                "Entrypoint": ["/init"], "Cmd": null, "Image": "x"}),
        );
        assert_eq!(base["Env"], json!(["PATH=/bin", "A=2", "B=3"]));
        assert_eq!(base["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(base["Entrypoint"], json!(["/init"]));
        assert!(base.get("Cmd").is_none());
        assert!(base.get("User").is_none());
        assert!(base.get("Image").is_none());
        assert_eq!(base["Healthcheck"]["Test"][1], "true");
    }

    #[test]
    fn changes_apply_and_keep_what_the_parser_does_not_model() {
        let mut config = json!({"Cmd": ["sh"], "Shell": ["/bin/ash", "-c"]});
        apply_change(&mut config, r#"CMD ["cat", "/x"]"#).unwrap();
        apply_change(&mut config, "ENV K=v").unwrap();
        assert_eq!(config["Cmd"], json!(["cat", "/x"]));
        assert_eq!(config["Env"], json!(["K=v"]));
        assert_eq!(config["Shell"], json!(["/bin/ash", "-c"]));
        assert!(apply_change(&mut config, "RUN true").is_err());
    }
}
