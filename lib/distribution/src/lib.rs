//! berth's registry client and pull over berth-image's store: the OCI distribution API
//! (v2 ping, Basic and Bearer auth, manifests, indexes, blobs) on a blocking HTTP client,
//! so a layer's response body is read straight into the store's one-pass
//! hash/decompress/unpack pipeline.

pub mod auth;
pub mod blob;
pub mod certs;
pub mod client;
pub mod credentials;
pub mod error;
pub mod fetch;
pub mod login;
pub mod manifest;
pub mod platform;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
pub mod upload;

pub use client::{Registry, RegistryOptions};
pub use error::{DistributionError, Result};
pub use platform::Platform;
pub use progress::{DockerStream, Event, Message, Progress, Step};
pub use pull::{pull, PullOptions, Pulled};
pub use reference::RemoteRef;
