//! The on-disk layout of a berth root. One place decides every path so that stages,
//! the wrapper and the daemon agree on it.

use std::path::{Path, PathBuf};

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

    /// Runtime state of networks (DNS servers' pid files).
    pub fn net_run(&self) -> PathBuf {
        self.run_dir.join("net")
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
