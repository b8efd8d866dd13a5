//! berth's image store: import (docker-archive, OCI layout, rootfs tarballs), verify,
//! unpack layers in overlayfs form, export, and manage names.

pub mod compression;
pub mod digest;
pub mod error;
pub mod extract;
pub mod unpack;

pub use digest::Digest;
pub use error::{ImageError, Result};
pub mod reference;
pub mod spec;
pub mod store;

pub use store::{ImageInfo, Store};
pub mod formats;
pub use formats::oci_layout::host_architecture;
pub mod changes;
pub mod commit;
pub mod export;
pub mod import;
pub mod remote;
pub mod views;
