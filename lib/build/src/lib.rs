//! Images from Dockerfiles: the Dockerfile parser ([`dockerfile`]), and the builder that
//! runs a build's steps over the store and the runtime.

pub mod dockerfile;
pub mod error;
pub mod ignore;

pub use error::{BuildError, Result};
