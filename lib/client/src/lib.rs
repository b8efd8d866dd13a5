//! The berth client as a library: where to talk (`host`, contexts), how (`transport`:
//! Unix, TCP, TLS, or the API in-process over the local store), the API calls (`http`),
//! docker's stream framing (`demux`), and the output docker users read: tables, Go
//! templates (`template`) and progress (`progress`). `bins/berth` is its flags and commands.

pub mod context;
pub mod demux;
pub mod error;
pub mod host;
pub mod http;
pub mod inprocess;
pub mod multi;
pub mod progress;
pub mod ssh;
pub mod stats_view;
pub mod template;
mod template_error;
pub mod tls;
pub mod transport;
pub mod views;

pub use error::{ClientError, Result};
pub use http::Client;
