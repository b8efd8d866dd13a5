//! The build cache under `<root>/build-cache/`: `steps/<key>` holds the manifest digest of
//! the image a step made, `roots/<manifest>` tells the store's garbage collection to keep
//! that image (it is in no index), `mounts/<id>` are the `RUN --mount=type=cache` dirs (`locks/<id>` how builds share them).
//! A step's key is the hash of its parent, its instruction as expanded, the build args
//! and environment it sees and the content hash of what it copies.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use berth_common::{FileLock, LockMode};
use berth_image::commit::image_by_manifest;
use berth_image::store::{ImageInfo, TempPath};
use berth_image::{Digest, Store};
use sha2::{Digest as _, Sha256};

use crate::dockerfile::Sharing;
use crate::error::{BuildError, Result};

pub struct Cache {
    dir: PathBuf,
}

/// Who a new cache mount's directory belongs to (BuildKit's `uid`, `gid`, `mode`).
#[derive(Debug, Clone, Copy)]
pub struct CacheOwner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl Default for CacheOwner {
    fn default() -> Self {
        CacheOwner {
            uid: 0,
            gid: 0,
            mode: 0o755,
        }
    }
}

/// A cache mount held for one RUN: its lock (or private directory) goes when it drops.
pub struct CacheMount {
    pub path: PathBuf,
    /// Made for this use: empty, to be seeded (`from=`) if the step says so.
    pub fresh: bool,
    _lock: Option<FileLock>,
    _private: Option<TempPath>,
}

/// What `prune` removed.
#[derive(Debug, Default, Clone, Copy)]
pub struct PruneReport {
    pub steps: u64,
    pub mounts: u64,
}

impl Cache {
    pub fn open(store: &Store) -> Result<Cache> {
        let dir = store.build_cache_dir();
        for sub in ["steps", "roots", "mounts"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|e| BuildError::io(&path, e))?;
        }
        Ok(Cache { dir })
    }

    /// The key of a step from its parts, in order.
    pub fn key(parts: &[&str]) -> String {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.len().to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hex::encode(hasher.finalize())
    }

    /// The image a step with this key made, if it is still whole in the store.
    pub fn get(&self, store: &Store, key: &str) -> Option<ImageInfo> {
        let text = std::fs::read_to_string(self.dir.join("steps").join(key)).ok()?;
        let manifest = Digest::parse(text.trim()).ok()?;
        let image = image_by_manifest(store, &manifest).ok()?;
        let (_, config) = store.config_of(&image).ok()?;
        // Its layers may have been collected while the cache entry stayed.
        store.layer_dirs(&image, &config).ok()?;
        Some(image)
    }

    pub fn put(&self, key: &str, image: &ImageInfo) -> Result<()> {
        let root = self.dir.join("roots").join(image.manifest_digest.hex());
        std::fs::write(&root, b"").map_err(|e| BuildError::io(&root, e))?;
        let step = self.dir.join("steps").join(key);
        let temp = self.dir.join("steps").join(format!(".{key}.tmp"));
        std::fs::write(&temp, image.manifest_digest.as_str())
            .map_err(|e| BuildError::io(&temp, e))?;
        std::fs::rename(&temp, &step).map_err(|e| BuildError::io(&step, e))
    }

    /// The `--mount=type=cache` with this id for one RUN, made on first use (owned and
    /// moded as `owner` says), shared with other builds as `sharing` says: shared users
    /// hold `locks/<key>` shared, a locked one waits for it exclusively, a private one
    /// takes it exclusively if no one holds it, else gets a fresh directory in `tmp` that
    /// goes with the step.
    pub fn mount(
        &self,
        id: &str,
        sharing: Sharing,
        owner: CacheOwner,
        tmp: &Path,
    ) -> Result<CacheMount> {
        let key = Cache::key(&[id]);
        let lock_path = self.dir.join("locks").join(&key);
        let lock_err = |e: berth_common::LockError| BuildError::Image(e.into());
        let lock = match sharing {
            Sharing::Shared => {
                Some(FileLock::acquire(&lock_path, LockMode::Shared).map_err(lock_err)?)
            }
            Sharing::Locked => {
                Some(FileLock::acquire(&lock_path, LockMode::Exclusive).map_err(lock_err)?)
            }
            Sharing::Private => {
                FileLock::try_acquire(&lock_path, LockMode::Exclusive).map_err(lock_err)?
            }
        };
        let (path, private) = match lock {
            Some(_) => (self.dir.join("mounts").join(&key), None),
            None => {
                let temp = TempPath::new_dir(tmp, "build-cache-private")?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let fresh = match std::fs::create_dir(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => private.is_some(),
            Err(e) => return Err(BuildError::io(&path, e)),
        };
        if fresh {
            std::os::unix::fs::chown(&path, Some(owner.uid), Some(owner.gid))
                .map_err(|e| BuildError::io(&path, e))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(owner.mode))
                .map_err(|e| BuildError::io(&path, e))?;
        }
        Ok(CacheMount {
            path,
            fresh,
            _lock: lock,
            _private: private,
        })
    }

    /// Forgets every step and cache mount; the store's next garbage collection removes
    /// the images only the cache kept.
    pub fn prune(&self, store: &Store) -> Result<PruneReport> {
        let (steps, mounts) = store.forget_build_cache()?;
        Ok(PruneReport { steps, mounts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mounts_are_shared_locked_or_private() {
        let dir = tempfile::tempdir().unwrap();
        let paths = berth_common::Paths::new(dir.path().join("root"), dir.path().join("run"));
        let store = Store::open(paths).unwrap();
        let cache = Cache::open(&store).unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let owner = CacheOwner {
            uid: 0,
            gid: 0,
            mode: 0o700,
        };
        let mount = |sharing| cache.mount("c", sharing, owner, &tmp).unwrap();

        let a = mount(Sharing::Shared);
        assert!(a.fresh);
        let mode = std::fs::metadata(&a.path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        std::fs::write(a.path.join("kept"), "x").unwrap();
        let b = mount(Sharing::Shared);
        assert_eq!(a.path, b.path);
        assert!(!b.fresh);
        // In use: a private user gets an empty directory of its own, gone after.
        let p = mount(Sharing::Private);
        assert_ne!(p.path, a.path);
        assert!(p.fresh);
        assert_eq!(std::fs::read_dir(&p.path).unwrap().count(), 0);
        let private_path = p.path.clone();
        drop(p);
        assert!(!private_path.exists());
        drop((a, b));
        // Free: the private user has the cache itself, and holds it alone.
        let p = mount(Sharing::Private);
        assert!(p.path.join("kept").exists());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let locked = mount(Sharing::Locked);
                tx.send(locked.path.clone()).unwrap();
            });
            assert!(
                rx.try_recv().is_err(),
                "a locked user waits for the private one"
            );
            drop(p);
            assert!(rx.recv().unwrap().join("kept").exists());
        });
    }
}
