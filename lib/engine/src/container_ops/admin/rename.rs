//! `docker rename`: the registry's identity changes under its lock; the copies of the name
//! in `run.json`, `rootfs.json`, `create.json` and the networks' endpoint files follow
//! (the networks' DNS servers read those on every query, so the new name resolves). A
//! monitor that rewrites `run.json` later takes the name from the registry again
//! (`RunState::refresh_identity`).

use std::path::Path;

use berth_api::BackendError;
use berth_common::{json_file, registry, ContainerName, Paths};
use serde_json::Value;

use crate::container_ops::archive::resolve;

fn registry_error(e: registry::RegistryError) -> BackendError {
    BackendError::new(e.kind(), e.to_string())
}

pub fn rename(paths: &Paths, reference: &str, name: &str) -> Result<(), BackendError> {
    // The container first, then the name, as dockerd checks them.
    let id = resolve(paths, reference)?;
    let new = ContainerName::parse(name).map_err(|_| {
        BackendError::invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    })?;
    let lock = registry::lock(paths).map_err(registry_error)?;
    let current = registry::identity(paths, &id)
        .map_err(registry_error)?
        .ok_or_else(|| BackendError::not_found(format!("No such container: {reference}")))?;
    if current.name.as_ref() == Some(&new) {
        return Err(BackendError::invalid(
            "Renaming a container with the same name as its current name",
        ));
    }
    let part = registry::rename(paths, &lock, &id, new).map_err(registry_error)?;
    let name_value = Value::String(name.to_string());
    let part_value =
        serde_json::to_value(&part).map_err(|e| BackendError::internal(e.to_string()))?;
    let dir = paths.container_dir(&id);
    rewrite(&dir.join(berth_common::run_state::RUN_STATE), |v| {
        v["name"] = name_value.clone();
        if v.get("record").is_some() {
            v["record"]["container"] = part_value.clone();
        }
    })?;
    rewrite(&dir.join(berth_rootfs::state::STATE_FILE), |v| {
        v["container"] = part_value.clone();
    })?;
    rewrite(&dir.join(crate::containers::config::CREATE_FILE), |v| {
        if v.get("request").is_some() {
            v["request"]["name"] = name_value.clone();
        }
    })?;
    drop(lock);
    rename_endpoints(paths, id.as_str(), name);
    tracing::info!(id = %id, name, "renamed");
    let old = current.name.as_ref().map_or("", |n| n.as_str());
    let old = format!("/{old}");
    crate::events::record_id(paths, "rename", &id, &[("oldName", &old)]);
    Ok(())
}

/// Rewrites the JSON file at `path`, if there is one.
fn rewrite(path: &Path, change: impl Fn(&mut Value)) -> Result<(), BackendError> {
    let io = |e: json_file::JsonFileError| BackendError::internal(e.to_string());
    let Some(mut value) = json_file::read_if_exists::<Value>(path).map_err(io)? else {
        return Ok(());
    };
    change(&mut value);
    json_file::write_atomic(path, &value).map_err(io)
}

/// The container's name in every network it is attached to, under the networks' lock.
fn rename_endpoints(paths: &Paths, id: &str, name: &str) {
    let Ok(networks) = std::fs::read_dir(paths.networks()) else {
        return;
    };
    let _lock = match berth_net::network::lock(paths) {
        Ok(lock) => lock,
        Err(e) => {
            tracing::warn!("rename: the networks' lock: {e}; DNS keeps the old name");
            return;
        }
    };
    for network in networks.flatten() {
        let file = berth_net::endpoints::path(&network.path(), id);
        if let Err(e) = rewrite(&file, |v| v["name"] = Value::String(name.to_string())) {
            tracing::warn!(file = %file.display(), "rename: {}", e.message);
        }
    }
}
