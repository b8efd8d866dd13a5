//! Images from Dockerfiles: the Dockerfile parser ([`dockerfile`]), and the builder that
//! runs a build's steps over the store and the runtime.

pub mod builder;
pub mod cache;
mod config;
pub mod context;
mod copy_step;
pub mod dockerfile;
pub mod error;
pub mod helper;
pub mod ignore;
mod mount;
pub mod progress;
pub mod run_step;

pub use error::{BuildError, Result};

/// For every binary that builds (berth-build, berthd, berth): when the first argument
/// names one of the builder's helpers, runs it and gives its exit code. Call it first in
/// `main`, before any thread is started.
pub fn helper_main() -> Option<i32> {
    match std::env::args().nth(1).as_deref() {
        Some(run_step::RUN_HELPER) => Some(run_step::helper_main()),
        Some(helper::BUILD_HELPER) => Some(helper::helper_main()),
        _ => None,
    }
}
