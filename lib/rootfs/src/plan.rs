//! Planning the stage's mounts: `-v`, `--tmpfs` and the image's VOLUMEs into mount
//! entries, and making (and seeding) the volumes they need.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_common::{ContainerRecord, MountEntry, MountKind, Paths};

use crate::error::{Result, RootfsError};
use crate::in_root::{open_in_root, reopen_dir, Kind};
use crate::proc_target::{check_target, MountSource};
use crate::setup::{Rollback, SetupOptions, Undo};
use crate::spec::{clean_target, parse_tmpfs, parse_volume, VolumeSpec};
use crate::volumes::{
    driver_mount, ensure_volume, is_empty_dir, lock_volume, random_name, seed_into, DriverMount,
};

/// One planned mount before volumes exist.
pub(crate) enum Planned {
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
        options: Vec<String>,
        kind: Kind,
    },
    Volume {
        name: String,
        anonymous: bool,
        target: String,
        readonly: bool,
        nocopy: bool,
        options: Vec<String>,
    },
    Tmpfs {
        target: String,
        readonly: bool,
        options: Vec<String>,
    },
}

impl Planned {
    /// What goes on the target, for the /proc rules (`proc_target`).
    pub(crate) fn mount_source(&self) -> MountSource {
        match self {
            Planned::Bind { source, .. } => MountSource::of_bind_source(source),
            _ => MountSource::Other,
        }
    }

    pub(crate) fn target(&self) -> &str {
        match self {
            Planned::Bind { target, .. }
            | Planned::Volume { target, .. }
            | Planned::Tmpfs { target, .. } => target,
        }
    }
}

/// Parses the flags and the image's volumes into planned mounts; checks bind sources and
/// duplicate targets.
pub(crate) fn plan(record: &ContainerRecord, opts: &SetupOptions) -> Result<Vec<Planned>> {
    let mut planned = Vec::new();
    for spec in &opts.volumes {
        planned.push(match parse_volume(spec)? {
            VolumeSpec::Bind {
                source,
                target,
                readonly,
                mut options,
            } => {
                let meta =
                    std::fs::metadata(&source).map_err(|_| RootfsError::BindSourceMissing {
                        path: source.clone(),
                    })?;
                let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
                options.insert(0, "rbind".into());
                Planned::Bind {
                    source,
                    target,
                    readonly,
                    options,
                    kind,
                }
            }
            VolumeSpec::Named {
                name,
                target,
                readonly,
                nocopy,
                options,
            } => Planned::Volume {
                name,
                anonymous: false,
                target,
                readonly,
                nocopy,
                options,
            },
            VolumeSpec::Anonymous {
                target,
                readonly,
                nocopy,
                options,
            } => Planned::Volume {
                name: random_name(),
                anonymous: true,
                target,
                readonly,
                nocopy,
                options,
            },
        });
    }
    for spec in &opts.tmpfs {
        let t = parse_tmpfs(spec)?;
        planned.push(Planned::Tmpfs {
            target: t.target,
            readonly: t.readonly,
            options: t.options,
        });
    }
    for (i, p) in planned.iter().enumerate() {
        if planned[..i].iter().any(|q| q.target() == p.target()) {
            return Err(RootfsError::DuplicateTarget {
                target: p.target().to_string(),
            });
        }
    }
    // The image's VOLUMEs not covered by a flag become anonymous volumes.
    for vol in &record.image.config.volumes {
        let target = clean_target(vol).map_err(|reason| RootfsError::Spec {
            what: "image volume",
            spec: vol.clone(),
            reason,
        })?;
        if planned.iter().all(|p| p.target() != target) {
            planned.push(Planned::Volume {
                name: random_name(),
                anonymous: true,
                target,
                readonly: false,
                nocopy: false,
                options: Vec::new(),
            });
        }
    }
    for p in &planned {
        check_target(p.target(), p.mount_source())?;
    }
    Ok(planned)
}

/// Makes the volume a planned mount needs (seeding it) and returns its record entry.
pub(crate) fn materialize(
    paths: &Paths,
    root: &OwnedFd,
    (container_id, p): (&str, &Planned),
    userns: Option<&berth_common::UserNamespace>,
    rollback: &mut Rollback<'_>,
) -> Result<MountEntry> {
    let entry = |kind, source, target: &str, readonly, volume, anonymous, options: &Vec<String>| {
        MountEntry {
            kind,
            source,
            target: target.to_string(),
            readonly,
            volume,
            anonymous,
            options: options.clone(),
        }
    };
    Ok(match p {
        Planned::Bind {
            source,
            target,
            readonly,
            options,
            ..
        } => entry(
            MountKind::Bind,
            Some(source.clone()),
            target,
            *readonly,
            None,
            false,
            options,
        ),
        Planned::Tmpfs {
            target,
            readonly,
            options,
        } => entry(
            MountKind::Tmpfs,
            None,
            target,
            *readonly,
            None,
            false,
            options,
        ),
        Planned::Volume {
            name,
            anonymous,
            target,
            readonly,
            nocopy,
            options,
        } => {
            let _lock = lock_volume(paths, name)?;
            let seed = |data: &Path| -> Result<()> {
                if *nocopy {
                    return Ok(());
                }
                seed_volume(root, name, target, data, userns)
            };
            let (info, created) =
                ensure_volume(paths, name, anonymous.then_some(container_id), seed)?;
            let driver = driver_mount(name, &info.options)?;
            if created {
                rollback.steps.push(Undo::RemoveVolume(name.clone()));
            } else if !*nocopy && driver == DriverMount::Data && is_empty_dir(&info.mountpoint)? {
                // Like Docker: an existing but empty volume is filled from the image too.
                seed_volume(root, name, target, &info.mountpoint, userns)?;
            }
            // The local driver's options decide what is mounted: a tmpfs (one per
            // container: berth keeps no mount of its own on `_data`), a host directory,
            // or `_data`.
            let (kind, source, options) = match driver {
                DriverMount::Data => (MountKind::Volume, Some(info.mountpoint), options.clone()),
                DriverMount::Bind { device } => (MountKind::Volume, Some(device), options.clone()),
                DriverMount::Tmpfs { options: tmpfs } => (MountKind::Tmpfs, None, tmpfs),
            };
            entry(
                kind,
                source,
                target,
                *readonly,
                Some(name.clone()),
                *anonymous,
                &options,
            )
        }
    })
}

/// Copies the rootfs content at `target` (if it is a directory) into `data`. With a user
/// namespace the rootfs shows owners shifted by its maps; the volume keeps them unshifted,
/// like the layers (the container sees it through an idmapped mount too).
fn seed_volume(
    root: &OwnedFd,
    name: &str,
    target: &str,
    data: &Path,
    userns: Option<&berth_common::UserNamespace>,
) -> Result<()> {
    let seed_err = |reason: String| RootfsError::Seed {
        volume: name.to_string(),
        target: target.to_string(),
        reason,
    };
    let src = match open_in_root(root.as_fd(), target, None) {
        Ok(fd) => fd,
        Err(RootfsError::InRoot { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(())
        }
        Err(e) => return Err(seed_err(e.to_string())),
    };
    let dir = match reopen_dir(src.as_fd()) {
        Ok(dir) => dir,
        // Not a directory: nothing to copy (the mountpoint check reports the conflict).
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(()),
        Err(e) => return Err(seed_err(e.to_string())),
    };
    seed_into(dir.as_fd(), data, userns).map_err(|e| seed_err(e.to_string()))
}
