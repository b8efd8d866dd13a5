//! berth-oci's library: a runc-compatible OCI runtime over berth's isolation library.
//! `config` maps a bundle's config.json onto berth-process's `ContainerSpec` (refusing,
//! by field, what it cannot honour), `cgroups` maps `linux.cgroupsPath` and the resources
//! onto berth-cgroups, `state` keeps one directory per container under `--root`, and one
//! module per operation does the lifecycle (`create`, `start`, `kill`, `delete`).

pub mod cgroups;
pub mod config;
pub mod console;
pub mod create;
pub mod default_spec;
pub mod delete;
pub mod devices;
pub mod error;
pub mod events;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod id;
pub mod kill;
pub mod lsm;
pub mod signal;
pub mod start;
pub mod state;
pub mod sysctl;
pub mod update;
pub mod userns;

pub use error::OciError;

/// The OCI runtime spec version berth-oci implements (what `state` and `spec` print).
pub const OCI_VERSION: &str = "1.0.2-dev";

/// Default `--root`.
pub const DEFAULT_ROOT: &str = "/run/berth-oci";
