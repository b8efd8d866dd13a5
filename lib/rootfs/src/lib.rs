//! The container root filesystem: overlayfs over the image's layers, volumes, binds and
//! tmpfs, and safe path resolution inside a root.
//!
//! For `berth-mount` (the stage): [`setup`], [`down`], the volume functions.
//! For `berth-enter` (mounting inside the container's mount namespace): [`open_in_root`],
//! [`mount_bind_onto`], [`mount_tmpfs_onto`], [`reopen_dir`], [`fd_path`], or all at once for
//! a record's entry, [`mount_entry`]:
//!
//! ```no_run
//! use std::os::fd::AsFd;
//! # fn f(record: &berth_common::ContainerRecord) -> berth_rootfs::Result<()> {
//! let rootfs = record.rootfs.as_ref().unwrap();
//! // Inside the container's mount namespace, before pivot_root:
//! let root = std::fs::File::open(&rootfs.path).unwrap();
//! for m in &rootfs.mounts {
//!     berth_rootfs::mount_entry(root.as_fd(), m)?;
//! }
//! # Ok(()) }
//! ```

pub mod bind;
pub mod claims;
pub mod detached;
pub mod error;
pub mod idmap;
pub mod in_root;
pub mod links;
pub mod mountinfo;
pub mod overlay;
mod plan;
pub mod proc_target;
pub mod request;
pub mod seed;
pub mod setup;
pub mod spec;
pub mod state;
pub mod subid;
pub mod teardown;
pub mod tmpfs;
pub mod tree;
pub mod volumes;

pub use bind::{
    entry_tree, mount_bind_onto, mount_entry, mount_entry_from_tree, BindOptions, BindSource,
    Propagation,
};
pub use error::{Result, RootfsError};
pub use in_root::{fd_path, open_in_root, reopen_dir, resolved_in_root, Kind};
pub use overlay::{mount_overlay, Overlay, OverlayMethod};
pub use request::MountRequest;
pub use setup::{setup, SetupOptions};
pub use subid::UsernsRequest;
pub use teardown::{down, down_with, DownReport};
pub use tmpfs::mount_tmpfs_onto;
pub use tree::{attach_tree, clone_tree};
pub use volumes::VolumeInfo;
