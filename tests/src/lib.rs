//! Support for berth's integration tests. The tests run the built binaries as subprocesses
//! against throw-away stores (`TestStore`) and feed them images made here in pure Rust
//! (`image`, `formats`) from the host's `/usr/bin/busybox`, with no network.

pub mod client;
pub mod container;
pub mod daemon;
pub mod escape;
pub mod formats;
pub mod image;
pub mod net;
pub mod private_netns;
pub mod probe;
pub mod pty;
pub mod store;
pub mod tools;

use std::path::PathBuf;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

pub use formats::{BuiltImage, BuiltLayer, Corruption, Format, ImageSpec};
pub use image::{Compression, Entry, Kind, Layer};
pub use store::{Failure, Snapshot, TestStore};

/// Path of the built `berth-unpack`. `BERTH_BIN_DIR` overrides; otherwise the workspace's
/// `target/debug`, then `target/release`.
pub fn berth_unpack_bin() -> PathBuf {
    bin_path("berth-unpack")
}

/// Path of a built berth binary (`berth-run`, `berth-enter`, …), found like
/// [`berth_unpack_bin`].
pub fn berth_bin(name: &str) -> PathBuf {
    bin_path(name)
}

fn bin_path(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_BIN_DIR") {
        let path = PathBuf::from(dir).join(name);
        assert!(
            path.is_file(),
            "BERTH_BIN_DIR is set but {} does not exist: build with cargo build first",
            path.display()
        );
        return path;
    }
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target");
    for profile in ["debug", "release"] {
        let path = target.join(profile).join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "{name} not found in {}/{{debug,release}}: build with cargo build first \
         (cargo build -p {name}), or point BERTH_BIN_DIR at the directory holding it",
        target.display()
    );
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// The hex part of a `sha256:<hex>` digest (or the string itself if it has no algorithm).
pub fn hex_part(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The host's busybox, read once.
pub fn busybox_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        std::fs::read("/usr/bin/busybox").expect(
            "/usr/bin/busybox is needed to build test images (apt-get install busybox-static)",
        )
    })
}

/// Chain IDs (`sha256:<hex>`) for a list of diff IDs, lowest first, as the OCI image spec
/// defines them.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for diff_id in diff_ids {
        let next = match out.last() {
            None => diff_id.clone(),
            Some(parent) => digest_of(format!("{parent} {diff_id}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Everything read from `from` so far, collected by a thread until EOF or an error (EIO
/// when the other side of a terminal closes).
pub fn collect(
    mut from: impl std::io::Read + Send + 'static,
) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    seen
}

/// What [`collect`] has gathered, as text.
pub fn collected_text(seen: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&seen.lock().unwrap()).into_owned()
}

/// Polls `check` every 50 ms until it holds; fails the test after 10 s, naming `what`.
pub fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
pub mod registry;
pub mod tiny_http;
pub mod token_server;
