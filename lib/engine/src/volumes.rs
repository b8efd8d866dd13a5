//! The volume endpoints over `berth_rootfs::volumes`, the same store `berth-run -v` and
//! `berth-mount volume` use: `<root>/volumes/<name>/{_data,volume.json}`. Every change
//! holds the volume's lock, the one a container's mount takes to make or seed it.

use std::collections::{BTreeMap, HashMap};

use berth_api::filters::Filters;
use berth_api::{BackendError, VolumesBackend};
use berth_common::{registry, ErrorKind, MountKind, Paths};
use berth_rootfs::spec::{check_volume_name, parse_volume, VolumeSpec};
use berth_rootfs::volumes::{self as store, VolumeInfo, VolumeMeta};
use bollard_stubs::models::{
    Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse, VolumeUsageData,
};

use crate::containers::config::Created;

/// The label dockerd puts on volumes made without a name (prune takes only those by default).
const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

fn rootfs_error(error: berth_rootfs::RootfsError) -> BackendError {
    BackendError::new(error.kind(), error.to_string())
}

fn no_such(name: &str) -> BackendError {
    BackendError::not_found(format!("get {name}: no such volume"))
}

/// Docker's wording for a name outside `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn check_name(name: &str) -> Result<(), BackendError> {
    check_volume_name(name).map_err(|_| {
        BackendError::invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, \
             only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host \
             directory, use absolute path"
        ))
    })
}

fn registry_lock(paths: &Paths) -> Result<registry::RegistryLock, BackendError> {
    registry::lock(paths).map_err(|e| BackendError::new(e.kind(), e.to_string()))
}

/// The ids of the containers that refer to volume `name`: those whose mounts name it, and
/// those created (by berthd) with a `-v`/`--mount` of it that have not mounted yet.
pub(crate) fn users(paths: &Paths, name: &str) -> Result<Vec<String>, BackendError> {
    let mut out = Vec::new();
    for state in berth_rootfs::state::all_states(paths).map_err(rootfs_error)? {
        let mounts_it = state.rootfs.mounts.iter().any(|m| {
            matches!(m.kind, MountKind::Volume | MountKind::Tmpfs)
                && m.volume.as_deref() == Some(name)
        });
        if mounts_it {
            out.push(state.container.id.to_string());
        }
    }
    let ids = registry::ids(paths).map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
    for id in ids {
        if out.iter().any(|u| u == id.as_str()) {
            continue;
        }
        let Ok(Some(created)) = Created::read(paths, &id) else {
            continue;
        };
        if named_volumes(&created.request.mount.volumes).any(|n| n == name) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

/// The named volumes among `-v` specs.
fn named_volumes(specs: &[String]) -> impl Iterator<Item = String> + '_ {
    specs.iter().filter_map(|spec| match parse_volume(spec) {
        Ok(VolumeSpec::Named { name, .. }) => Some(name),
        _ => None,
    })
}

/// Makes the named volumes a new container's `-v` specs ask for, as dockerd does at
/// create (they are seeded from the image at the first start, being empty).
pub(crate) fn ensure_named(paths: &Paths, specs: &[String]) -> Result<(), BackendError> {
    for name in named_volumes(specs) {
        let (_, created) =
            store::create_volume_with(paths, &name, VolumeMeta::default()).map_err(rootfs_error)?;
        if created {
            emit(paths, "create", &name);
        }
    }
    Ok(())
}

/// Records a volume event (`create`, `destroy`) in the root's journal, as dockerd reports
/// them: the volume's name as the actor, its driver as an attribute.
fn emit(paths: &Paths, action: &str, name: &str) {
    use berth_common::events::{Event, Kind};
    berth_common::events::emit(
        paths,
        &Event::new(Kind::Volume, action, name).with("driver", "local"),
    );
}

/// Bytes in the files under `dir` (each inode once), not following symlinks.
pub(crate) fn tree_size(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if seen.insert((meta.dev(), meta.ino())) {
            total += meta.len();
        }
    }
    total
}

/// The volume as the API shows it; `usage` adds `UsageData` (for `/system/df`).
pub(crate) fn view(paths: &Paths, info: &VolumeInfo, usage: bool) -> Result<Volume, BackendError> {
    let mut labels: HashMap<String, String> = info.labels.clone().into_iter().collect();
    if info.anonymous {
        labels.entry(ANONYMOUS_LABEL.into()).or_default();
    }
    let usage_data = if usage {
        Some(VolumeUsageData {
            size: tree_size(&info.mountpoint) as i64,
            ref_count: users(paths, &info.name)?.len() as i64,
        })
    } else {
        None
    };
    // CreatedAt goes through serde: its Rust type depends on bollard-stubs' features.
    let created_at = serde_json::from_value(serde_json::json!(info.created_at)).ok();
    Ok(Volume {
        name: info.name.clone(),
        driver: info.driver.clone(),
        mountpoint: info.mountpoint.display().to_string(),
        created_at,
        labels,
        scope: Some(bollard_stubs::models::VolumeScopeEnum::LOCAL),
        options: info.options.clone().into_iter().collect(),
        usage_data,
        ..Volume::default()
    })
}

fn labels_of(info: &VolumeInfo) -> BTreeMap<String, String> {
    let mut labels = info.labels.clone();
    if info.anonymous {
        labels.entry(ANONYMOUS_LABEL.into()).or_default();
    }
    labels
}

fn bool_filter(values: &[String], key: &str) -> Result<Option<bool>, BackendError> {
    match values.first().map(String::as_str) {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(BackendError::invalid(format!(
            "invalid filter '{key}={other}'"
        ))),
    }
}

impl VolumesBackend for crate::Engine {
    fn create(&self, request: VolumeCreateRequest) -> Result<Volume, BackendError> {
        let driver = request.driver.as_deref().unwrap_or("");
        let given = request.name.clone().filter(|n| !n.is_empty());
        let name = given.clone().unwrap_or_else(store::random_name);
        if !matches!(driver, "" | "local") {
            return Err(BackendError::not_found(format!(
                "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        check_name(&name)?;
        let meta = VolumeMeta {
            anonymous: given.is_none(),
            labels: request.labels.unwrap_or_default().into_iter().collect(),
            options: request
                .driver_opts
                .unwrap_or_default()
                .into_iter()
                .collect(),
        };
        store::driver_mount(&name, &meta.options)
            .map_err(|e| BackendError::invalid(format!("create {name}: {e}")))?;
        let (info, created) =
            store::create_volume_with(&self.paths, &name, meta).map_err(rootfs_error)?;
        if created {
            tracing::info!(volume = %name, "volume created");
            emit(&self.paths, "create", &name);
        }
        view(&self.paths, &info, false)
    }

    fn list(&self, filters: &Filters) -> Result<VolumeListResponse, BackendError> {
        filters.only(&["name", "label", "label!", "dangling", "driver"])?;
        let dangling = bool_filter(filters.get("dangling"), "dangling")?;
        let mut out = Vec::new();
        for info in store::list_volumes(&self.paths).map_err(rootfs_error)? {
            let names = filters.get("name");
            if !names.is_empty() && !names.iter().any(|n| info.name.contains(n.as_str())) {
                continue;
            }
            let drivers = filters.get("driver");
            if !drivers.is_empty() && !drivers.contains(&info.driver) {
                continue;
            }
            let labels = labels_of(&info);
            if !filters.labels_pass(|key| labels.get(key).map(String::as_str)) {
                continue;
            }
            if let Some(want) = dangling {
                if users(&self.paths, &info.name)?.is_empty() != want {
                    continue;
                }
            }
            out.push(view(&self.paths, &info, false)?);
        }
        Ok(VolumeListResponse {
            volumes: Some(out),
            warnings: None,
        })
    }

    fn inspect(&self, name: &str) -> Result<Volume, BackendError> {
        match store::read_info(&self.paths, name).map_err(rootfs_error)? {
            Some(info) => view(&self.paths, &info, false),
            None => Err(no_such(name)),
        }
    }

    fn remove(&self, name: &str, force: bool) -> Result<(), BackendError> {
        // The registry's lock first, as a container's setup and teardown take it before
        // the volume's: none can mount or make the volume meanwhile.
        let _registry = registry_lock(&self.paths)?;
        let _lock = store::lock_volume(&self.paths, name).map_err(rootfs_error)?;
        if store::read_info(&self.paths, name)
            .map_err(rootfs_error)?
            .is_none()
        {
            // `force` forgives only a volume that is not there.
            return if force { Ok(()) } else { Err(no_such(name)) };
        }
        let users = users(&self.paths, name)?;
        if !users.is_empty() {
            return Err(BackendError::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        store::remove_volume_locked(&self.paths, name, true).map_err(rootfs_error)?;
        tracing::info!(volume = %name, "volume removed");
        emit(&self.paths, "destroy", name);
        Ok(())
    }

    fn prune(&self, filters: &Filters) -> Result<VolumePruneResponse, BackendError> {
        filters.only(&["label", "label!", "all"])?;
        let all = bool_filter(filters.get("all"), "all")?.unwrap_or(false);
        let _registry = registry_lock(&self.paths)?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for info in store::list_volumes(&self.paths).map_err(rootfs_error)? {
            let labels = labels_of(&info);
            if (!all && !info.anonymous)
                || !filters.labels_pass(|key| labels.get(key).map(String::as_str))
            {
                continue;
            }
            let _lock = store::lock_volume(&self.paths, &info.name).map_err(rootfs_error)?;
            if !users(&self.paths, &info.name)?.is_empty() {
                continue;
            }
            let size = tree_size(&info.mountpoint);
            match store::remove_volume_locked(&self.paths, &info.name, true) {
                Ok(()) => {
                    reclaimed += size;
                    emit(&self.paths, "destroy", &info.name);
                    deleted.push(info.name);
                }
                // Gone meanwhile (removed by another client): nothing to prune.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(rootfs_error(e)),
            }
        }
        Ok(VolumePruneResponse {
            volumes_deleted: Some(deleted),
            space_reclaimed: Some(reclaimed as i64),
        })
    }
}

/// `--mount type=volume,volume-opt=…` without a source: dockerd makes an anonymous volume
/// with those options. Each such mount is given a new volume name here, before the
/// container is created, so its record names the volume; the names.
pub(crate) fn name_anonymous_with_options(
    mounts: &mut [berth_api::containers::model::MountBody],
) -> Vec<String> {
    let mut named = Vec::new();
    for mount in mounts {
        let volume = mount.kind.as_deref().unwrap_or("volume") == "volume";
        if volume
            && mount.volume_options.is_some()
            && mount.source.as_deref().unwrap_or_default().is_empty()
        {
            let name = store::random_name();
            mount.source = Some(name.clone());
            named.push(name);
        }
    }
    named
}

/// The volumes of `--mount type=volume,source=NAME,volume-opt=…,volume-label=…`, made at
/// create with those options and labels as dockerd makes them (a volume that exists
/// already is used as it is); those in `anonymous` (named by
/// [`name_anonymous_with_options`]) are made anonymous.
pub(crate) fn ensure_for_mounts(
    paths: &Paths,
    mounts: &[berth_api::containers::model::MountBody],
    anonymous: &[String],
) -> Result<(), BackendError> {
    for mount in mounts {
        let volume = mount.kind.as_deref().unwrap_or("volume") == "volume";
        let name = mount.source.as_deref().unwrap_or_default();
        let Some(options) = mount.volume_options.as_ref().filter(|_| volume) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        check_name(name)?;
        let meta = VolumeMeta {
            anonymous: anonymous.iter().any(|a| a == name),
            labels: options
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            options: options
                .driver_config
                .as_ref()
                .and_then(|d| d.options.clone())
                .unwrap_or_default()
                .into_iter()
                .collect(),
        };
        store::driver_mount(name, &meta.options)
            .map_err(|e| BackendError::invalid(format!("create {name}: {e}")))?;
        let (_, created) = store::create_volume_with(paths, name, meta).map_err(rootfs_error)?;
        if created {
            emit(paths, "create", name);
        }
    }
    Ok(())
}

/// After the create: the anonymous volumes made for its mounts belong to container `id`
/// (removed with it by `rm -v`); when the create failed, they go.
pub(crate) fn settle_anonymous(paths: &Paths, names: &[String], id: Option<&str>) {
    for name in names {
        let done = match id {
            Some(id) => store::give_to_container(paths, name, id),
            None => store::remove_volume(paths, name, true),
        };
        if let Err(e) = done {
            tracing::warn!(volume = %name, "anonymous volume of a create: {e}");
        }
    }
}

/// The named volumes among `-v` specs, as a list.
pub(crate) fn named_in(specs: &[String]) -> Vec<String> {
    named_volumes(specs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_as_docker_words_it() {
        assert!(check_name("good.name-1").is_ok());
        for bad in ["../x", "a/b", "x", "-x", ""] {
            let err = check_name(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{bad}");
            assert!(
                err.message.contains("invalid characters"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn named_volumes_are_picked_from_specs() {
        let specs = ["data:/data".to_string(), "/host:/h".into(), "/anon".into()];
        assert_eq!(named_volumes(&specs).collect::<Vec<_>>(), ["data"]);
    }
}
