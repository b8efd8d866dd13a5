//! Named and anonymous volumes: `<root>/volumes/<name>/_data` (what is mounted) and
//! `<root>/volumes/<name>/volume.json` (name, creation time, anonymous or not). A new volume is
//! made in a temp directory and renamed into place, so a half-made volume is never seen.
//! Creation and seeding hold `locks/volume-<name>.lock`. A volume directory without
//! `volume.json` (made by an older berth) is adopted as a named volume.

use std::collections::BTreeMap;
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
    /// User metadata (`volume create --label`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The local driver's options (`--opt type=tmpfs,device=tmpfs,o=size=64m`), applied
    /// when a container mounts the volume.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// What a new volume is made with beyond its name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolumeMeta {
    /// Made without a name (`volume create` with none): pruned by default, as Docker's.
    pub anonymous: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
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
    ensure_volume_with(paths, name, anonymous_for, VolumeMeta::default(), fill)
}

/// [`ensure_volume`] with labels and driver options for a new volume (an existing one
/// keeps its own). The caller holds the volume's lock.
pub fn ensure_volume_with(
    paths: &Paths,
    name: &str,
    anonymous_for: Option<&str>,
    meta: VolumeMeta,
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
            anonymous: anonymous_for.is_some() || meta.anonymous,
            container: anonymous_for.map(str::to_string),
            labels: meta.labels,
            options: meta.options,
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
    let info =
        berth_common::json_file::read_if_exists(&volume_dir(paths, name).join("volume.json"))
            .map_err(|e| io_err(e.op, e.path)(e.source))?;
    match info {
        Some(info) => Ok(Some(info)),
        None => adopted(paths, name),
    }
}

/// A volume directory with `_data` but no metadata: a named volume, created when its
/// directory was.
fn adopted(paths: &Paths, name: &str) -> Result<Option<VolumeInfo>> {
    let data = volume_data(paths, name);
    let meta = match std::fs::metadata(&data) {
        Ok(meta) if meta.is_dir() => meta,
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("reading", data)(e)),
    };
    let created = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    Ok(Some(VolumeInfo {
        name: name.to_string(),
        driver: "local".into(),
        mountpoint: data,
        created_at: humantime::format_rfc3339_seconds(created).to_string(),
        anonymous: false,
        container: None,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
    }))
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

/// [`create_volume`] with labels and driver options; also says whether it was created.
pub fn create_volume_with(
    paths: &Paths,
    name: &str,
    meta: VolumeMeta,
) -> Result<(VolumeInfo, bool)> {
    let _lock = lock_volume(paths, name)?;
    ensure_volume_with(paths, name, None, meta, |_| Ok(()))
}

/// Gives anonymous volume `name`, made before its container had an id (`--mount` with
/// volume options and no source), to container `id`: that container's `rm -v` removes it.
pub fn give_to_container(paths: &Paths, name: &str, id: &str) -> Result<()> {
    let _lock = lock_volume(paths, name)?;
    let Some(mut info) = read_info(paths, name)? else {
        return Ok(());
    };
    info.container = Some(id.to_string());
    berth_common::json_file::write_atomic(&volume_dir(paths, name).join("volume.json"), &info)
        .map_err(|e| io_err(e.op, e.path)(e.source))
}

/// The container using volume `name`, if any: one whose rootfs mounts it, or one made to
/// mount it that has not yet (its claim, `claims.rs`).
pub fn volume_user(paths: &Paths, name: &str) -> Result<Option<String>> {
    let mounted = all_states(paths)?
        .into_iter()
        .find(|s| {
            s.rootfs.mounts.iter().any(|m| {
                // A volume with tmpfs options is mounted as a tmpfs entry that names it.
                matches!(m.kind, MountKind::Volume | MountKind::Tmpfs)
                    && m.volume.as_deref() == Some(name)
            })
        })
        .map(|s| s.container.id.to_string());
    match mounted {
        Some(id) => Ok(Some(id)),
        None => Ok(crate::claims::claimant(paths, name)?.map(|id| id.to_string())),
    }
}

/// Removes volume `name` and its data. Refused while a container uses it unless `force`
/// (used when that container itself is being removed).
pub fn remove_volume(paths: &Paths, name: &str, force: bool) -> Result<()> {
    let _lock = lock_volume(paths, name)?;
    remove_volume_locked(paths, name, force)
}

/// [`remove_volume`] for a caller that holds the volume's lock (and has checked its own
/// idea of who uses it).
pub fn remove_volume_locked(paths: &Paths, name: &str, force: bool) -> Result<()> {
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

/// How the local driver mounts a volume, from its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverMount {
    /// `_data` itself (no options).
    Data,
    /// `type=tmpfs,device=tmpfs[,o=OPTS]`: a tmpfs with these mount options.
    Tmpfs { options: Vec<String> },
    /// `type=none,o=bind,device=/host/path`: that host directory.
    Bind { device: PathBuf },
}

/// What the local driver makes of `options`, as dockerd checks them at create: only the
/// keys `type`, `o`, `device`, `size`; berth mounts tmpfs and binds.
pub fn driver_mount(
    name: &str,
    options: &BTreeMap<String, String>,
) -> std::result::Result<DriverMount, RootfsError> {
    let bad = |reason: String| RootfsError::Spec {
        what: "volume options",
        spec: name.to_string(),
        reason,
    };
    if let Some(key) = options
        .keys()
        .find(|k| !["type", "o", "device", "size"].contains(&k.as_str()))
    {
        return Err(bad(format!("invalid option key: {key:?}")));
    }
    if options.is_empty() {
        return Ok(DriverMount::Data);
    }
    let o: Vec<String> = options
        .get("o")
        .map(|o| {
            o.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    match options.get("type").map(String::as_str) {
        Some("tmpfs") => {
            let mut o = o;
            if let Some(size) = options.get("size") {
                o.push(format!("size={size}"));
            }
            Ok(DriverMount::Tmpfs { options: o })
        }
        Some("none") | None if o.iter().any(|x| x == "bind" || x == "rbind") => {
            let device = options
                .get("device")
                .filter(|d| d.starts_with('/'))
                .ok_or_else(|| bad("a bind needs an absolute device path".into()))?;
            Ok(DriverMount::Bind {
                device: PathBuf::from(device),
            })
        }
        Some(other) => Err(bad(format!(
            "mount type {other:?} is not supported: use type=tmpfs or type=none,o=bind"
        ))),
        None => Err(bad("missing required option: \"type\"".into())),
    }
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
