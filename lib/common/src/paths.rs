//! The on-disk layout of a berth root. One place decides every path so that stages,
//! the wrapper and the daemon agree on it.

use std::path::{Component, Path, PathBuf};

use crate::identity::ContainerId;

/// Default persistent state directory (`--root`, `BERTH_ROOT`).
pub const DEFAULT_ROOT: &str = "/var/lib/berth";
/// Default runtime directory (`--run-dir`, `BERTH_RUN_DIR`): mounts, sockets, anything
/// that must not survive a reboot.
pub const DEFAULT_RUN_DIR: &str = "/run/berth";

/// Paths under one berth root and run dir.
#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
    run_dir: PathBuf,
}

impl Paths {
    pub fn new(root: impl Into<PathBuf>, run_dir: impl Into<PathBuf>) -> Self {
        Paths {
            root: root.into(),
            run_dir: run_dir.into(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The OCI image layout holding every blob and the name index (`index.json`).
    pub fn image_layout(&self) -> PathBuf {
        self.root.join("images")
    }

    /// `blobs/sha256` of the image layout.
    pub fn blobs(&self) -> PathBuf {
        self.image_layout().join("blobs").join("sha256")
    }

    /// Unpacked layers, one directory per chain ID.
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// Lock files; one per object that processes may race on.
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// Scratch space on the same filesystem as the store, so finished work is renamed in
    /// place atomically.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Named volumes.
    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// Network definitions, address allocations and endpoints, one directory per network.
    pub fn networks(&self) -> PathBuf {
        self.root.join("networks")
    }

    /// Persistent network namespaces (bind mounts), one per container.
    pub fn netns(&self) -> PathBuf {
        self.run_dir.join("netns")
    }

    /// A stable name for this root: 12 hex digits of a hash of its absolute, lexically
    /// normalised path. Roots that share a run dir (every root uses `/run/berth` unless
    /// told otherwise) keep what is theirs apart under it by this id.
    pub fn root_id(&self) -> String {
        root_id(&self.root)
    }

    /// This root's own part of the run dir, `<run-dir>/roots/<root id>`: state keyed by a
    /// name the user chose (a network's name), which another root may choose too.
    pub fn root_run(&self) -> PathBuf {
        self.run_dir.join("roots").join(self.root_id())
    }

    /// Runtime state of this root's networks (DNS servers' pid files), by network name.
    pub fn net_run(&self) -> PathBuf {
        self.root_run().join("net")
    }

    /// Containers' persistent state.
    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// `<root>/containers/<id>`: the container's persistent state (identity, upper dir,
    /// state files, logs).
    pub fn container_dir(&self, id: &ContainerId) -> PathBuf {
        self.containers().join(id)
    }

    /// `<run-dir>/containers`: the parent of every container's runtime directory.
    pub fn containers_run(&self) -> PathBuf {
        self.run_dir.join("containers")
    }

    /// `<run-dir>/containers/<id>`: the container's runtime state (its rootfs mount point,
    /// its monitor's attach socket), gone with a reboot.
    pub fn container_run_dir(&self, id: &ContainerId) -> PathBuf {
        self.containers_run().join(id)
    }

    /// The lock serialising container creation (name uniqueness) and removal.
    pub fn containers_lock(&self) -> PathBuf {
        self.locks().join("containers.lock")
    }
}

/// `path` made absolute (against the current directory) with `.`, `..` and repeated or
/// trailing slashes resolved lexically: symlinks are not followed, so the id does not
/// change when what a path points to does.
pub fn normalise(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut out = PathBuf::from("/");
    for component in absolute.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The id of the root at `root` (see [`Paths::root_id`]): FNV-1a (64 bits) of the
/// normalised path's bytes, its first 12 hex digits. Stable across releases and hosts, so
/// a root keeps its run-dir namespace and its default bridge's name.
pub fn root_id(root: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = normalise(root)
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME));
    format!("{hash:016x}")[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_resolves_dots_and_slashes_lexically() {
        assert_eq!(
            normalise(Path::new("/var/lib/berth")),
            Path::new("/var/lib/berth")
        );
        assert_eq!(
            normalise(Path::new("/var//lib/./berth/")),
            Path::new("/var/lib/berth")
        );
        assert_eq!(
            normalise(Path::new("/var/lib/x/../berth")),
            Path::new("/var/lib/berth")
        );
        assert_eq!(normalise(Path::new("/../..")), Path::new("/"));
        let here = std::env::current_dir().unwrap();
        assert_eq!(normalise(Path::new("store")), here.join("store"));
    }

    #[test]
    fn root_id_is_stable_per_root_and_differs_between_roots() {
        let id = root_id(Path::new("/var/lib/berth"));
        assert_eq!(id.len(), 12);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        // Fixed: a root's namespace in the run dir and its bridge name outlive releases.
        assert_eq!(id, "848c4bd7edd6");
        assert_eq!(root_id(Path::new("/var/lib//berth/")), id);
        assert_eq!(root_id(Path::new("/var/lib/x/../berth")), id);
        assert_ne!(root_id(Path::new("/var/lib/berth2")), id);
        assert_ne!(root_id(Path::new("/tmp/a")), root_id(Path::new("/tmp/b")));
    }

    #[test]
    fn name_keyed_run_state_is_scoped_by_root() {
        let a = Paths::new("/tmp/a", "/run/berth");
        let b = Paths::new("/tmp/b", "/run/berth");
        assert_eq!(
            a.net_run(),
            Path::new("/run/berth/roots").join(a.root_id()).join("net")
        );
        assert_ne!(a.net_run(), b.net_run());
        assert_eq!(a.root_run().parent(), b.root_run().parent());
        // Container-keyed state keeps its place (ids are unique; socket paths stay short).
        assert_eq!(a.netns(), b.netns());
        assert_eq!(a.netns(), Path::new("/run/berth/netns"));
        // The same root under another spelling shares its namespace.
        let a2 = Paths::new("/tmp/./a/", "/run/berth");
        assert_eq!(a2.net_run(), a.net_run());
    }
}
