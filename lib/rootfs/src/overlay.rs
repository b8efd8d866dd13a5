//! The container's root: overlayfs with the image's layers as lower dirs and a per-container
//! upper and work dir.
//!
//! Two ways to mount it:
//! - [`OverlayMethod::Fsconfig`] (Linux 6.8+): `fsopen("overlay")`, one
//!   `fsconfig("lowerdir+", layer)` per layer (top first), `fsmount`, `move_mount`. No option
//!   string, so no page limit and no escaping; the kernel's own messages explain failures.
//! - [`OverlayMethod::ShortLinks`] (any kernel): Docker overlay2's trick. Each layer gets a
//!   short symlink `layers/l/<26 chars>`, and the legacy `mount(2)` runs in a short-lived
//!   thread that has its own working directory (`unshare(CLONE_FS)`, then `fchdir` into
//!   `layers/`), with `lowerdir=l/A:l/B:…` relative to it. The process's working directory
//!   never changes.
//!
//! [`OverlayMethod::Auto`] tries the first and falls back to the second when the kernel does
//! not know `lowerdir+` (or the new mount API).
//!
//! A container in a user namespace gets [`mount_overlay_idmapped`] instead: the same overlay
//! over idmapped layers.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_common::UserNamespace;
use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{
    fsconfig_create, fsconfig_set_fd, fsconfig_set_string, fsmount, fsopen, mount, move_mount,
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags,
};
use rustix::thread::UnshareFlags;

use crate::error::{Result, RootfsError};
use crate::idmap::{as_container_root, MapperNs};
use crate::links;

/// The most a legacy `mount(2)` option string may hold (one page, with its NUL).
pub const MAX_MOUNT_DATA: usize = 4095;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverlayMethod {
    /// `Fsconfig` when the kernel supports it, else `ShortLinks`.
    #[default]
    Auto,
    Fsconfig,
    #[serde(rename = "links", alias = "short-links")]
    ShortLinks,
}

impl std::str::FromStr for OverlayMethod {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(OverlayMethod::Auto),
            "fsconfig" => Ok(OverlayMethod::Fsconfig),
            "links" | "short-links" => Ok(OverlayMethod::ShortLinks),
            other => Err(format!(
                "unknown overlay method {other:?} (auto, fsconfig, links)"
            )),
        }
    }
}

/// What to mount.
#[derive(Debug, Clone)]
pub struct Overlay<'a> {
    /// Layer directories, lowest first (as in the record).
    pub lower: &'a [PathBuf],
    pub upper: &'a Path,
    pub work: &'a Path,
    /// Where to mount it; absolute.
    pub target: &'a Path,
    /// The store's `layers/` (where short links live); absolute.
    pub layers_dir: &'a Path,
    /// overlayfs `volatile`: no sync of the upper dir, ever, including at unmount. For
    /// containers whose writable layer is thrown away when they stop (`--rm`): unmounting
    /// then costs no writeback.
    pub volatile: bool,
}

/// Every layer directory the overlay needs is there.
fn check_layers(overlay: &Overlay<'_>) -> Result<()> {
    if overlay.lower.is_empty() {
        return Err(overlay_err(overlay, "the image has no layers".into()));
    }
    for layer in overlay.lower {
        if !layer.is_dir() {
            return Err(RootfsError::Layer {
                layer: layer.clone(),
                reason: "the layer directory is missing (remove and load the image again)".into(),
            });
        }
    }
    Ok(())
}

/// Mounts the overlay; returns the method that was used.
pub fn mount_overlay(overlay: &Overlay<'_>, method: OverlayMethod) -> Result<OverlayMethod> {
    check_layers(overlay)?;
    match method {
        OverlayMethod::Fsconfig => mount_fsconfig(overlay)
            .map_err(|(_, e)| e)
            .map(|()| OverlayMethod::Fsconfig),
        OverlayMethod::ShortLinks => mount_links(overlay).map(|()| OverlayMethod::ShortLinks),
        OverlayMethod::Auto => match mount_fsconfig(overlay) {
            Ok(()) => Ok(OverlayMethod::Fsconfig),
            Err((true, first)) => {
                tracing::info!("lowerdir+ is not supported ({first}); mounting with short links");
                mount_links(overlay)
                    .map(|()| OverlayMethod::ShortLinks)
                    .map_err(|e| match e {
                        RootfsError::Overlay { target, reason } => RootfsError::Overlay {
                            target,
                            reason: format!("{reason} (and with lowerdir+: {first})"),
                        },
                        other => other,
                    })
            }
            Err((false, e)) => Err(e),
        },
    }
}

fn overlay_err(overlay: &Overlay<'_>, reason: String) -> RootfsError {
    RootfsError::Overlay {
        target: overlay.target.to_path_buf(),
        reason,
    }
}

/// The new API. On error, the flag says whether the kernel lacks support (fall back).
fn mount_fsconfig(overlay: &Overlay<'_>) -> std::result::Result<(), (bool, RootfsError)> {
    let fs = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fs) => fs,
        Err(e @ (Errno::NOSYS | Errno::NODEV)) => {
            return Err((true, overlay_err(overlay, format!("fsopen: {e}"))))
        }
        Err(e) => return Err((false, overlay_err(overlay, format!("fsopen: {e}")))),
    };
    for (i, layer) in overlay.lower.iter().rev().enumerate() {
        if let Err(e) = fsconfig_set_string(&fs, "lowerdir+", layer) {
            let messages = kernel_messages(&fs);
            // Linux 6.5-6.7 reject the unknown key itself ("Unknown parameter 'lowerdir+'").
            let unsupported = i == 0
                && e == Errno::INVAL
                && (messages.is_empty() || messages.contains("Unknown parameter"));
            let err = RootfsError::Layer {
                layer: layer.clone(),
                reason: format!("overlay refuses it as a lower dir: {e}{messages}"),
            };
            return Err((unsupported, err));
        }
    }
    let fail = |what: &str, e: Errno| {
        (
            false,
            overlay_err(overlay, format!("{what}: {e}{}", kernel_messages(&fs))),
        )
    };
    fsconfig_set_string(&fs, "upperdir", overlay.upper).map_err(|e| fail("upperdir", e))?;
    fsconfig_set_string(&fs, "workdir", overlay.work).map_err(|e| fail("workdir", e))?;
    if overlay.volatile {
        rustix::mount::fsconfig_set_flag(&fs, "volatile").map_err(|e| fail("volatile", e))?;
    }
    if let Err(e) = fsconfig_create(&fs) {
        // Before 6.5 overlay parsed a legacy option string built from the parameters, so an
        // unknown `lowerdir+` only shows here, as EINVAL. Nothing is mounted yet, so the
        // short-link method may try (its own error then describes any other problem).
        let (_, err) = fail("creating the overlay", e);
        return Err((e == Errno::INVAL, err));
    }
    attach_created(&fs, overlay).map_err(|e| (false, e))
}

/// Mounts an overlay whose context is created (`fsconfig_create`) at the target.
fn attach_created(fs: &OwnedFd, overlay: &Overlay<'_>) -> Result<()> {
    let mnt = fsmount(fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| overlay_err(overlay, format!("fsmount: {e}{}", kernel_messages(fs))))?;
    move_mount(
        mnt.as_fd(),
        "",
        CWD,
        overlay.target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| overlay_err(overlay, format!("move_mount: {e}")))
}

/// The overlay for a container in a user namespace: every layer, and the container dir
/// holding upper and work, idmapped with the namespace's maps (see [`crate::idmap`]) and
/// handed to overlayfs as fds (`fsconfig(FSCONFIG_SET_FD, "lowerdir+")`, Linux 6.13+),
/// then the overlay created with the container root's host ids as its mounter's. On disk
/// everything stays as without a user namespace (the container's root writes files owned
/// by 0); through the mount the host sees them shifted (0 is the root's host uid).
pub fn mount_overlay_idmapped(overlay: &Overlay<'_>, userns: &UserNamespace) -> Result<()> {
    use crate::bind::{BindOptions, BindSource};
    use crate::tree::clone_tree;
    check_layers(overlay)?;
    let container_dir = match (overlay.upper.parent(), overlay.work.parent()) {
        (Some(a), Some(b)) if a == b => a,
        _ => {
            return Err(overlay_err(
                overlay,
                "the upper and work dirs must share a parent directory".into(),
            ))
        }
    };
    let mapper = MapperNs::new(userns).map_err(|source| RootfsError::Idmap {
        what: format!("cannot make a namespace with the maps of {}", userns.source),
        source,
    })?;
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| overlay_err(overlay, format!("fsopen: {e}")))?;
    let _ = fsconfig_set_string(&fs, "source", "overlay");
    let lower_options = BindOptions {
        readonly: true,
        ..BindOptions::default()
    };
    // overlayfs clones the layers when the overlay is created; closing a detached tree's
    // fd before that would unmount it. They go when this function returns.
    let mut trees = Vec::with_capacity(overlay.lower.len() + 1);
    for (i, layer) in overlay.lower.iter().rev().enumerate() {
        let tree = clone_tree(BindSource::Path(layer), lower_options, Some(mapper.as_fd()))
            .map_err(|e| RootfsError::Layer {
                layer: layer.clone(),
                reason: format!("cannot idmap it for the user namespace: {e}"),
            })?;
        if let Err(e) = fsconfig_set_fd(&fs, "lowerdir+", &tree) {
            let mut reason = format!(
                "overlay refuses it as a lower dir: {e}{}",
                kernel_messages(&fs)
            );
            if i == 0 && e == Errno::INVAL {
                reason.push_str(
                    " (user namespaces need overlayfs to take layers as file descriptors, Linux 6.13 or later)",
                );
            }
            return Err(RootfsError::Layer {
                layer: layer.clone(),
                reason,
            });
        }
        trees.push(tree);
    }
    let writable = clone_tree(
        BindSource::Path(container_dir),
        BindOptions::default(),
        Some(mapper.as_fd()),
    )
    .map_err(|e| {
        overlay_err(
            overlay,
            format!("cannot idmap {}: {e}", container_dir.display()),
        )
    })?;
    let fail =
        |what: &str, e: Errno| overlay_err(overlay, format!("{what}: {e}{}", kernel_messages(&fs)));
    for (key, dir) in [("upperdir", overlay.upper), ("workdir", overlay.work)] {
        let name = dir.file_name().unwrap_or_default();
        let fd = rustix::fs::openat(
            &writable,
            name,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| overlay_err(overlay, format!("open {}: {e}", dir.display())))?;
        fsconfig_set_fd(&fs, key, &fd).map_err(|e| fail(key, e))?;
    }
    if overlay.volatile {
        rustix::mount::fsconfig_set_flag(&fs, "volatile").map_err(|e| fail("volatile", e))?;
    }
    // overlayfs keeps the creator's credentials for its work in upper and work.
    as_container_root(userns, || fsconfig_create(&fs))
        .map_err(|source| RootfsError::Idmap {
            what: "cannot act as the container's root to create the overlay".into(),
            source,
        })?
        .map_err(|e| fail("creating the overlay", e))?;
    attach_created(&fs, overlay)
}

/// Messages the kernel queued on an fs context fd (`e overlayfs: …`), as `: msg; msg`.
fn kernel_messages(fs: &OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..16 {
        match rustix::io::read(fs, &mut buf) {
            Ok(n) if n > 0 => {
                let text = String::from_utf8_lossy(&buf[..n]);
                let text = text.trim();
                let text = text
                    .strip_prefix("e ")
                    .or_else(|| text.strip_prefix("w "))
                    .or_else(|| text.strip_prefix("i "))
                    .unwrap_or(text);
                out.push(text.to_string());
            }
            _ => break,
        }
    }
    if out.is_empty() {
        String::new()
    } else {
        format!(" ({})", out.join("; "))
    }
}

/// The legacy `mount(2)` with short relative paths.
fn mount_links(overlay: &Overlay<'_>) -> Result<()> {
    let layers_fd = links::open_layers_dir(overlay.layers_dir)?;
    for layer in overlay.lower {
        links::check_option_path(layer, true)?;
    }
    let names = links::ensure_links(&layers_fd, overlay.layers_dir, overlay.lower)?;
    let upper = links::relative_to_layers(overlay.layers_dir, overlay.upper);
    let work = links::relative_to_layers(overlay.layers_dir, overlay.work);
    links::check_option_path(&upper, false)?;
    links::check_option_path(&work, false)?;
    let lower: Vec<&str> = names.iter().rev().map(String::as_str).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}{}",
        lower.join(":"),
        upper.display(),
        work.display(),
        if overlay.volatile { ",volatile" } else { "" }
    );
    if data.len() > MAX_MOUNT_DATA {
        return Err(overlay_err(
            overlay,
            format!(
                "{} layers need {} bytes of mount options, more than the kernel's {MAX_MOUNT_DATA}; \
                 a kernel with `lowerdir+` (Linux 6.8+) has no such limit",
                overlay.lower.len(),
                data.len()
            ),
        ));
    }
    let data = std::ffi::CString::new(data)
        .map_err(|_| overlay_err(overlay, "a path contains a NUL byte".into()))?;
    let target = overlay.target;
    let result = std::thread::scope(|scope| {
        scope
            .spawn(|| -> std::result::Result<(), Errno> {
                // SAFETY: CLONE_FS only gives this thread its own working directory, root and
                // umask; it does not touch the fd table or memory other threads share. The
                // thread ends right after the mount, taking that private state with it.
                unsafe { rustix::thread::unshare_unsafe(UnshareFlags::FS) }?;
                rustix::process::fchdir(&layers_fd)?;
                mount(
                    "overlay",
                    target,
                    "overlay",
                    MountFlags::empty(),
                    Some(data.as_c_str()),
                )
            })
            .join()
    });
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(overlay_err(
            overlay,
            format!("mount(2) with short links: {e}"),
        )),
        Err(_) => Err(overlay_err(overlay, "the mounting thread panicked".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_layers_for_one_page_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let layers_dir = tmp.path().join("layers");
        let lower: Vec<PathBuf> = (0..200)
            .map(|i| {
                let d = layers_dir.join(format!("{i:064}")).join("diff");
                std::fs::create_dir_all(&d).unwrap();
                d
            })
            .collect();
        let upper = tmp.path().join("containers/c/upper");
        let work = tmp.path().join("containers/c/work");
        let target = tmp.path().join("target");
        for d in [&upper, &work, &target] {
            std::fs::create_dir_all(d).unwrap();
        }
        let overlay = Overlay {
            lower: &lower,
            upper: &upper,
            work: &work,
            target: &target,
            layers_dir: &layers_dir,
            volatile: false,
        };
        let err = mount_overlay(&overlay, OverlayMethod::ShortLinks).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("200 layers") && text.contains("4095"),
            "{text}"
        );
        assert!(text.contains(&target.display().to_string()), "{text}");
        let missing = [tmp.path().join("nope")];
        let err = mount_overlay(
            &Overlay {
                lower: &missing,
                ..overlay
            },
            OverlayMethod::Auto,
        )
        .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
