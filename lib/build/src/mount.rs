//! An image's filesystem to read from (`COPY --from`): its one layer as it is, or its
//! layers under a read-only overlay mounted detached (no mount point; gone with its fd).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use berth_image::store::{ImageInfo, TempPath};
use berth_image::Store;
use berth_rootfs::detached::{detached_overlay, DetachedLayers};

use crate::error::{BuildError, Result};

pub struct ImageTree {
    path: PathBuf,
    _fd: Option<OwnedFd>,
    _empty: Option<TempPath>,
}

impl ImageTree {
    pub fn mount(store: &Store, image: &ImageInfo) -> Result<ImageTree> {
        let (_, config) = store.config_of(image)?;
        let layers = store.layer_dirs(image, &config)?;
        match layers.as_slice() {
            [] => {
                let empty = TempPath::new_dir(&store.paths().tmp(), "build-empty")?;
                Ok(ImageTree {
                    path: empty.path().to_path_buf(),
                    _fd: None,
                    _empty: Some(empty),
                })
            }
            [only] => Ok(ImageTree {
                path: only.clone(),
                _fd: None,
                _empty: None,
            }),
            many => {
                let top_first: Vec<PathBuf> = many.iter().rev().cloned().collect();
                let fd = detached_overlay(DetachedLayers::ReadOnly(&top_first)).map_err(|e| {
                    BuildError::Context(format!("mounting image {}: {e}", image.id))
                })?;
                Ok(ImageTree {
                    path: PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
                    _fd: Some(fd),
                    _empty: None,
                })
            }
        }
    }

    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }
}
