//! The container process: namespaces, the root filesystem inside them (pivot_root, /proc,
//! /dev, /sys, masked paths), user, capabilities, seccomp, and exec; then waiting for it
//! with signals forwarded.

pub mod caps;
mod child;
pub mod container_exec;
pub mod devices;
pub mod etc_files;
pub mod exe_seal;
pub mod exec;
mod fds;
pub mod gate;
pub mod hook;
mod init;
pub mod join;
pub mod options;
mod placement;
pub mod rootfs;
pub mod seccomp;
pub mod signals;
pub mod spawn;
pub mod sync;
pub mod tty;
mod umask;
pub mod user;
pub mod userns;
mod workdir;

pub use spawn::{start, ContainerSpec, NetworkMode, SpawnError, Started};
