//! `docker cp` (archive HEAD/GET/PUT), `docker export` and `docker diff` over a container's
//! root ([`root`]), with every path resolved inside it ([`target`]) and trees walked by
//! descriptors ([`pack`], `berth_image::extract`).

mod changes;
mod owner;
mod pack;
mod root;
mod target;

use std::os::fd::AsFd;

use berth_api::archive::{Change, PathStat, PipeReader, PipeWriter, PutOptions};
use berth_api::{ArchiveBackend, BackendError};
use berth_image::extract::{ExtractOptions, Extractor, Owner, Ownership, Symlinks};
use rustix::fs::FileType;

use crate::Engine;
pub(crate) use root::resolve;
use root::{open_root, View};

fn io_error(what: &str, e: std::io::Error) -> BackendError {
    BackendError::new(berth_common::ErrorKind::of_io(&e), format!("{what}: {e}"))
}

impl ArchiveBackend for Engine {
    fn stat_path(&self, reference: &str, path: &str) -> Result<PathStat, BackendError> {
        let root = open_root(self.paths(), reference, View::Mounts, false)?;
        let found = target::find(root.fd.as_fd(), path, reference)?;
        target::path_stat(root.fd.as_fd(), &found)
    }

    fn get_archive(
        &self,
        reference: &str,
        path: &str,
        out: &mut PipeWriter,
    ) -> Result<(), BackendError> {
        let root = open_root(self.paths(), reference, View::Mounts, false)?;
        let found = target::find(root.fd.as_fd(), path, reference)?;
        let mut packer = pack::Packer::new(out);
        let (dir, name) = found.at();
        packer
            .add(dir, name, &found.base)
            .and_then(|()| packer.finish().map(drop))
            .map_err(|e| io_error(&format!("archiving {path}"), e))?;
        crate::events::record_id(self.paths(), "archive-path", &root.id, &[("path", path)]);
        Ok(())
    }

    fn put_archive(
        &self,
        reference: &str,
        path: &str,
        options: PutOptions,
        input: &mut PipeReader,
    ) -> Result<(), BackendError> {
        let root = open_root(self.paths(), reference, View::Mounts, true)?;
        let abs = format!("/{}", path.trim_start_matches('/'));
        let dest = berth_rootfs::open_in_root(root.fd.as_fd(), &abs, None)
            .map_err(|e| target::in_root_error(e, path, reference))?;
        let stat = rustix::fs::fstat(&dest).map_err(|e| io_error(path, e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
            return Err(BackendError::invalid("extraction point is not a directory"));
        }
        let resolved = berth_rootfs::resolved_in_root(root.fd.as_fd(), &abs)
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
        let owner = if options.copy_uid_gid {
            owner::of_container(self.paths(), &root)?
        } else {
            Owner::default()
        };
        let extractor = Extractor {
            root: root.fd.as_fd(),
            dest: resolved,
            options: ExtractOptions {
                ownership: Ownership::Fixed(owner),
                symlinks: Symlinks::InRoot,
                refuse_absolute: false,
                devices: true,
                no_overwrite_dir_non_dir: options.no_overwrite_dir_non_dir,
            },
        };
        extractor
            .unpack(input)
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
        crate::events::record_id(self.paths(), "extract-to-dir", &root.id, &[("path", path)]);
        Ok(())
    }

    fn export(&self, reference: &str, out: &mut PipeWriter) -> Result<(), BackendError> {
        let root = open_root(self.paths(), reference, View::Rootfs, false)?;
        let mut packer = pack::Packer::new(out);
        packer
            .add_contents(root.fd.as_fd(), "")
            .and_then(|()| packer.finish().map(drop))
            .map_err(|e| io_error(&format!("exporting {reference}"), e))?;
        crate::events::record_id(self.paths(), "export", &root.id, &[]);
        Ok(())
    }

    fn changes(&self, reference: &str) -> Result<Vec<Change>, BackendError> {
        let root = open_root(self.paths(), reference, View::Rootfs, false)?;
        changes::changes(&root)
    }
}
