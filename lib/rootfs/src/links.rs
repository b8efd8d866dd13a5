//! Short names for layer directories, as Docker's overlay2 makes them: `layers/l/<26 chars>`
//! symlinks to `../<chainid>/diff`, so that a legacy `mount(2)` of an image with many layers
//! fits its options in one page (`lowerdir=l/A:l/B:…` with relative paths, mounted from a
//! thread whose working directory is `layers/`).
//!
//! The name is derived from the layer path (sha256, base32), so it needs no bookkeeping: the
//! link is made on first use, atomically (temp symlink + rename), and is the same for every
//! container using the layer.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{mkdirat, openat, readlinkat, renameat, symlinkat, Mode, OFlags, CWD};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

use crate::error::{io_err, Result, RootfsError};

/// Directory of the short links, below the layers directory.
pub const LINK_DIR: &str = "l";
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The 26-character short name of a layer directory.
pub fn link_id(layer: &Path) -> String {
    let digest = Sha256::digest(layer.as_os_str().as_encoded_bytes());
    let mut bits: u128 = 0;
    for b in &digest[..16] {
        bits = bits << 8 | u128::from(*b);
    }
    (0..26)
        .map(|i| BASE32[((bits >> (128 - 5 * (i + 1)).max(0)) & 31) as usize] as char)
        .collect()
}

/// Opens `layers_dir` (where the mount will run) as a directory fd.
pub fn open_layers_dir(layers_dir: &Path) -> Result<OwnedFd> {
    openat(
        CWD,
        layers_dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("opening", layers_dir))
}

/// Makes (or finds) the short link for each layer; returns `l/<id>` per layer, in the order
/// given. The links are relative (`../<chainid>/diff`) for layers under `layers_dir`.
pub fn ensure_links(
    layers_fd: &OwnedFd,
    layers_dir: &Path,
    layers: &[PathBuf],
) -> Result<Vec<String>> {
    let link_dir = layers_dir.join(LINK_DIR);
    match mkdirat(layers_fd, LINK_DIR, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(io_err("creating", &link_dir)(e)),
    }
    let dir = openat(
        layers_fd,
        LINK_DIR,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("opening", &link_dir))?;
    let mut names = Vec::with_capacity(layers.len());
    for layer in layers {
        let id = link_id(layer);
        let target = match layer.strip_prefix(layers_dir) {
            Ok(rel) => Path::new("..").join(rel),
            Err(_) => layer.clone(),
        };
        let current = readlinkat(dir.as_fd(), id.as_str(), Vec::new()).ok();
        if current.as_deref().map(|c| c.to_bytes()) != Some(target.as_os_str().as_encoded_bytes()) {
            let tmp = format!(".tmp-{id}-{}", std::process::id());
            let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), rustix::fs::AtFlags::empty());
            symlinkat(&target, &dir, tmp.as_str())
                .map_err(io_err("creating", link_dir.join(&tmp)))?;
            renameat(&dir, tmp.as_str(), &dir, id.as_str())
                .map_err(io_err("creating", link_dir.join(&id)))?;
        }
        names.push(format!("{LINK_DIR}/{id}"));
    }
    Ok(names)
}

/// A path for the mount options, relative to `layers_dir` when it is a sibling below the
/// same root (`../containers/<id>/upper`), otherwise absolute.
pub fn relative_to_layers(layers_dir: &Path, path: &Path) -> PathBuf {
    match layers_dir.parent().map(|root| path.strip_prefix(root)) {
        Some(Ok(rel)) => Path::new("..").join(rel),
        _ => path.to_path_buf(),
    }
}

/// Refuses characters the legacy option string cannot carry.
pub fn check_option_path(what: &Path, layer: bool) -> Result<()> {
    let text = what.to_string_lossy();
    if text.contains(',') || text.contains(':') || text.contains('\\') {
        let reason = "the path contains ',', ':' or '\\', which overlay mount options cannot carry"
            .to_string();
        return Err(if layer {
            RootfsError::Layer {
                layer: what.to_path_buf(),
                reason,
            }
        } else {
            RootfsError::Overlay {
                target: what.to_path_buf(),
                reason,
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_26_base32_chars_and_stable() {
        let a = link_id(Path::new("/var/lib/berth/layers/abc/diff"));
        assert_eq!(a.len(), 26);
        assert!(a.bytes().all(|b| BASE32.contains(&b)));
        assert_eq!(a, link_id(Path::new("/var/lib/berth/layers/abc/diff")));
        assert_ne!(a, link_id(Path::new("/var/lib/berth/layers/abd/diff")));
    }

    #[test]
    fn links_point_at_the_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let layers_dir = tmp.path().join("layers");
        std::fs::create_dir_all(layers_dir.join("c1/diff")).unwrap();
        std::fs::write(layers_dir.join("c1/diff/f"), "x").unwrap();
        let fd = open_layers_dir(&layers_dir).unwrap();
        let layers = vec![layers_dir.join("c1/diff")];
        let names = ensure_links(&fd, &layers_dir, &layers).unwrap();
        let again = ensure_links(&fd, &layers_dir, &layers).unwrap();
        assert_eq!(names, again);
        assert_eq!(
            std::fs::read(layers_dir.join(&names[0]).join("f")).unwrap(),
            b"x"
        );
        let target = std::fs::read_link(layers_dir.join(&names[0])).unwrap();
        assert_eq!(target, Path::new("../c1/diff"));
        assert_eq!(
            relative_to_layers(&layers_dir, &tmp.path().join("containers/x/upper")),
            Path::new("../containers/x/upper")
        );
    }
}
