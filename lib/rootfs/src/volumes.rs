//! Named and anonymous volumes: `<root>/volumes/<name>/_data` (what is mounted) and
//! `<root>/volumes/<name>/volume.json` (name, creation time, anonymous or not). A new volume is
//! made in a temp directory and renamed into place, so a half-made volume is never seen.
//! Creation and seeding hold `locks/volume-<name>.lock`.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_common::{FileLock, LockMode, MountKind, Paths};
use serde::{Deserialize, Serialize};

use crate::error::{io_err, Result, RootfsError};
use crate::spec::check_volume_name;
use crate::state::all_states;

/// What `volume inspect` shows, named as `docker volume inspect` names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeInfo {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: String,
    #[serde(default)]
    pub anonymous: bool,
    /// The container an anonymous volume was made for: its teardown finds the volume even
    /// when a crash came before the container's state named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// `<root>/volumes/<name>`.
pub fn volume_dir(paths: &Paths, name: &str) -> PathBuf {
    paths.volumes().join(name)
}

/// `<root>/volumes/<name>/_data`.
pub fn volume_data(paths: &Paths, name: &str) -> PathBuf {
    volume_dir(paths, name).join("_data")
}

/// A new anonymous volume name: 64 random hex digits.
pub fn random_name() -> String {
    berth_common::units::random_id()
}

/// Holds a volume's lock.
pub fn lock_volume(paths: &Paths, name: &str) -> Result<FileLock> {
    Ok(FileLock::acquire(
        &paths.locks().join(format!("volume-{name}.lock")),
        LockMode::Exclusive,
    )?)
}

/// Creates volume `name` if it does not exist; `fill` runs on the new (empty) `_data`
/// before it is renamed into place. Returns the volume and whether it was created.
/// `anonymous_for` names the container an anonymous volume is made for (None: a named
/// volume). The caller holds the volume's lock.
pub fn ensure_volume(
    paths: &Paths,
    name: &str,
    anonymous_for: Option<&str>,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<(VolumeInfo, bool)> {
    check_volume_name(name).map_err(|reason| RootfsError::Spec {
        what: "volume name",
        spec: name.to_string(),
        reason,
    })?;
    if let Some(info) = read_info(paths, name)? {
        return Ok((info, false));
    }
    let volumes = paths.volumes();
    std::fs::create_dir_all(&volumes).map_err(io_err("creating", &volumes))?;
    let tmp = volumes.join(format!(".tmp-{name}-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err("removing", &tmp))?;
    }
    let result = (|| {
        std::fs::create_dir(&tmp).map_err(io_err("creating", &tmp))?;
        let data = tmp.join("_data");
        std::fs::create_dir(&data).map_err(io_err("creating", &data))?;
        fill(&data)?;
        let info = VolumeInfo {
            name: name.to_string(),
            driver: "local".into(),
            mountpoint: volume_data(paths, name),
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            anonymous: anonymous_for.is_some(),
            container: anonymous_for.map(str::to_string),
        };
        let json = tmp.join("volume.json");
        std::fs::write(&json, serde_json::to_vec_pretty(&info).expect("serializes"))
            .map_err(io_err("writing", &json))?;
        let dir = volume_dir(paths, name);
        std::fs::rename(&tmp, &dir).map_err(io_err("creating", &dir))?;
        Ok(info)
    })();
    match result {
        Ok(info) => Ok((info, true)),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// The volume's metadata, or None if it does not exist.
pub fn read_info(paths: &Paths, name: &str) -> Result<Option<VolumeInfo>> {
    if check_volume_name(name).is_err() {
        return Ok(None);
    }
    berth_common::json_file::read_if_exists(&volume_dir(paths, name).join("volume.json"))
        .map_err(|e| io_err(e.op, e.path)(e.source))
}

pub fn inspect_volume(paths: &Paths, name: &str) -> Result<VolumeInfo> {
    read_info(paths, name)?.ok_or_else(|| RootfsError::NoSuchVolume {
        name: name.to_string(),
    })
}

/// Every volume, by name.
pub fn list_volumes(paths: &Paths) -> Result<Vec<VolumeInfo>> {
    let dir = paths.volumes();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("reading", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("reading", &dir))?;
        if let Some(info) = read_info(paths, &entry.file_name().to_string_lossy())? {
            out.push(info);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `volume create [NAME]`: an empty volume (a random name if none is given). Creating one
/// that exists is fine, as with Docker.
pub fn create_volume(paths: &Paths, name: Option<&str>) -> Result<VolumeInfo> {
    let name = name.map_or_else(random_name, str::to_string);
    let _lock = lock_volume(paths, &name)?;
    Ok(ensure_volume(paths, &name, None, |_| Ok(()))?.0)
}

/// The container using volume `name`, if any.
pub fn volume_user(paths: &Paths, name: &str) -> Result<Option<String>> {
    Ok(all_states(paths)?
        .into_iter()
        .find(|s| {
            s.rootfs
                .mounts
                .iter()
                .any(|m| m.kind == MountKind::Volume && m.volume.as_deref() == Some(name))
        })
        .map(|s| s.container.id.to_string()))
}

/// Removes volume `name` and its data. Refused while a container uses it unless `force`
/// (used when that container itself is being removed).
pub fn remove_volume(paths: &Paths, name: &str, force: bool) -> Result<()> {
    let _lock = lock_volume(paths, name)?;
    if read_info(paths, name)?.is_none() {
        return Err(RootfsError::NoSuchVolume {
            name: name.to_string(),
        });
    }
    if !force {
        if let Some(container) = volume_user(paths, name)? {
            return Err(RootfsError::VolumeInUse {
                name: name.to_string(),
                container,
            });
        }
    }
    let dir = volume_dir(paths, name);
    crate::teardown::refuse_if_mounted(&dir)?;
    // Rename first so a half-deleted volume is never taken for a volume.
    let doomed = paths
        .volumes()
        .join(format!(".rm-{name}-{}", std::process::id()));
    std::fs::rename(&dir, &doomed).map_err(io_err("removing", &dir))?;
    std::fs::remove_dir_all(&doomed).map_err(io_err("removing", &doomed))
}

/// True if `dir` has no entries.
pub fn is_empty_dir(dir: &Path) -> Result<bool> {
    let mut entries = std::fs::read_dir(dir).map_err(io_err("reading", dir))?;
    Ok(entries.next().is_none())
}

/// Copies `src_dir` (a readable directory fd inside the rootfs) into `data`; owners are
/// shifted back by `userns`'s maps when the rootfs is idmapped for it.
pub fn seed_into(
    src_dir: std::os::fd::BorrowedFd<'_>,
    data: &Path,
    userns: Option<&berth_common::UserNamespace>,
) -> std::io::Result<()> {
    let dst = std::fs::File::open(data)?;
    crate::seed::copy_tree_with(src_dir, dst.as_fd(), crate::seed::Owners(userns))
}
