//! The store under `--root`: an OCI image layout for blobs and names, plus unpacked layers
//! keyed by chain ID. Everything appears atomically (temp + rename), so a crash or a full
//! disk never leaves an entry that a later run would use.
//!
//! Locking: imports hold `locks/store.lock` shared (many at once) and a per-chain-ID lock
//! while unpacking a layer (so two imports of one image do the work once); `rm` and
//! `prune` hold the store lock exclusively while they collect garbage; `locks/index.lock`
//! serialises rewrites of `index.json`.

mod blobs;
mod copy;
mod gc;
mod index;
mod layers;
mod resume;
mod temp;

use std::path::PathBuf;

use berth_common::{FileLock, LockMode, Paths};

use crate::error::{ImageError, Result};

pub use blobs::BlobWriter;
pub use gc::GcReport;
pub use index::ImageInfo;
pub use layers::{LayerInput, LayerMeta};
pub use temp::TempPath;

const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

#[derive(Debug, Clone)]
pub struct Store {
    paths: Paths,
}

impl Store {
    /// Opens the store, creating its directories on first use.
    pub fn open(paths: Paths) -> Result<Store> {
        let store = Store { paths };
        for dir in [
            store.paths.blobs(),
            store.paths.layers(),
            store.paths.locks(),
            store.paths.tmp(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|e| ImageError::io(&dir, e))?;
        }
        // Unpacked layers may hold device nodes and setuid files: keep other users out.
        set_mode(store.paths.root(), 0o711)?;
        set_mode(&store.paths.layers(), 0o700)?;
        let layout = store.paths.image_layout().join("oci-layout");
        if !layout.exists() {
            store.write_atomic(&layout, OCI_LAYOUT.as_bytes())?;
        }
        Ok(store)
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub(crate) fn lock(&self, name: &str, mode: LockMode) -> Result<FileLock> {
        Ok(FileLock::acquire(&self.paths.locks().join(name), mode)?)
    }

    /// Held while adding to the store; `rm`/`prune` take it exclusively.
    pub(crate) fn lock_store(&self, mode: LockMode) -> Result<FileLock> {
        self.lock("store.lock", mode)
    }

    /// Writes a small file whole or not at all.
    pub(crate) fn write_atomic(&self, path: &std::path::Path, data: &[u8]) -> Result<()> {
        let temp = TempPath::new_file(&self.paths.tmp(), "write")?;
        std::fs::write(temp.path(), data).map_err(|e| ImageError::io(temp.path(), e))?;
        temp.persist(path)
    }

    pub(crate) fn tmp(&self) -> PathBuf {
        self.paths.tmp()
    }
}

fn set_mode(path: &std::path::Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| ImageError::io(path, e))
}
