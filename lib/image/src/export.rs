//! `save`: images out of the store as a docker-archive (Docker 25+'s layout: a
//! `manifest.json` beside an OCI layout, which docker, skopeo and berth all read), an OCI
//! layout tarball or an OCI layout directory. The output appears only when complete.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::json;

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::spec::{
    descriptor, to_sorted_json, DockerArchiveEntry, Index, ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME, MEDIA_OCI_MANIFEST,
};
use crate::store::{ImageInfo, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    DockerArchive,
    OciArchive,
    OciDir,
}

/// An image to save and the names to save it under.
pub struct SaveItem {
    pub image: ImageInfo,
    pub names: Vec<String>,
}

pub fn save(store: &Store, items: &[SaveItem], format: SaveFormat, dest: &Path) -> Result<()> {
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = dest
        .file_name()
        .ok_or_else(|| ImageError::io(dest, std::io::Error::other("not a file name")))?;
    let temp = parent.join(format!(
        ".{}.berth-{:08x}",
        file_name.to_string_lossy(),
        rand::random::<u32>()
    ));
    let result = match format {
        SaveFormat::OciDir => write_dir(store, items, &temp),
        SaveFormat::DockerArchive | SaveFormat::OciArchive => {
            write_tar(store, items, format, &temp)
        }
    };
    let result = result.and_then(|()| {
        if format == SaveFormat::OciDir && dest.is_dir() {
            std::fs::remove_dir_all(dest).map_err(|e| ImageError::io(dest, e))?;
        }
        std::fs::rename(&temp, dest).map_err(|e| ImageError::io(dest, e))
    });
    if result.is_err() {
        let _ = if temp.is_dir() {
            std::fs::remove_dir_all(&temp)
        } else {
            std::fs::remove_file(&temp)
        };
    }
    result
}

/// Every blob the images need, and the OCI index naming them.
fn collect(store: &Store, items: &[SaveItem]) -> Result<(BTreeSet<Digest>, Index)> {
    let mut blobs = BTreeSet::new();
    let mut index = Index::default();
    for item in items {
        blobs.insert(item.image.manifest_digest.clone());
        blobs.insert(item.image.id.clone());
        for layer in item.image.manifest.layers() {
            blobs.insert(Digest::parse(layer.digest().as_ref())?);
        }
        let size = std::fs::metadata(store.blob_path(&item.image.manifest_digest))
            .map_err(|e| ImageError::io(store.blob_path(&item.image.manifest_digest), e))?
            .len();
        let media_type = match item.image.manifest.media_type() {
            Some(media_type) => media_type.as_ref(),
            None => MEDIA_OCI_MANIFEST,
        };
        let base = descriptor(media_type, &item.image.manifest_digest, size);
        if item.names.is_empty() {
            index.edit_manifests(|m| m.push(base.clone()));
        }
        for name in &item.names {
            let mut named = base.clone();
            named.set_annotations(Some(HashMap::from([
                (ANNOTATION_REF_NAME.to_string(), name.clone()),
                (ANNOTATION_CONTAINERD_NAME.to_string(), full_name(name)),
            ])));
            index.edit_manifests(|m| m.push(named));
        }
    }
    Ok((blobs, index))
}

/// Docker spells Hub names in full in OCI annotations.
fn full_name(name: &str) -> String {
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    match (has_registry, name.contains('/')) {
        (true, _) => name.to_string(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    }
}

fn write_dir(store: &Store, items: &[SaveItem], dir: &Path) -> Result<()> {
    let (blobs, index) = collect(store, items)?;
    let blob_dir = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blob_dir).map_err(|e| ImageError::io(&blob_dir, e))?;
    for digest in &blobs {
        let to = blob_dir.join(digest.hex());
        std::fs::copy(store.blob_path(digest), &to).map_err(|e| ImageError::io(&to, e))?;
    }
    write_file(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    write_file(&dir.join("index.json"), &to_sorted_json(&index))
}

fn write_file(path: &Path, data: &[u8]) -> Result<()> {
    std::fs::write(path, data).map_err(|e| ImageError::io(path, e))
}

fn write_tar(store: &Store, items: &[SaveItem], format: SaveFormat, path: &Path) -> Result<()> {
    let (blobs, index) = collect(store, items)?;
    let file = File::create(path).map_err(|e| ImageError::io(path, e))?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    let io_err = |e| ImageError::io(path, e);
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut header = header(tar::EntryType::Directory, 0, 0o755);
        tar.append_data(&mut header, dir, std::io::empty())
            .map_err(io_err)?;
    }
    for digest in &blobs {
        let blob_path = store.blob_path(digest);
        let blob = File::open(&blob_path).map_err(|e| ImageError::io(&blob_path, e))?;
        let size = blob
            .metadata()
            .map_err(|e| ImageError::io(&blob_path, e))?
            .len();
        let mut header = header(tar::EntryType::Regular, size, 0o644);
        tar.append_data(&mut header, format!("blobs/sha256/{}", digest.hex()), blob)
            .map_err(io_err)?;
    }
    let mut small = |name: &str, data: &[u8]| -> Result<()> {
        let mut header = header(tar::EntryType::Regular, data.len() as u64, 0o644);
        tar.append_data(&mut header, name, data).map_err(io_err)
    };
    small("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    small("index.json", &to_sorted_json(&index))?;
    if format == SaveFormat::DockerArchive {
        let entries: Vec<DockerArchiveEntry> = items
            .iter()
            .map(|item| DockerArchiveEntry {
                config: format!("blobs/sha256/{}", item.image.id.hex()),
                repo_tags: Some(item.names.clone()),
                layers: item
                    .image
                    .manifest
                    .layers()
                    .iter()
                    .map(|l| format!("blobs/sha256/{}", l.digest().digest()))
                    .collect(),
            })
            .collect();
        small(
            "manifest.json",
            &serde_json::to_vec(&json!(entries)).expect("manifest serialises"),
        )?;
    }
    let mut writer = tar.into_inner().map_err(io_err)?;
    writer.flush().map_err(io_err)?;
    writer
        .into_inner()
        .map_err(|e| ImageError::io(path, e.into_error()))?
        .sync_all()
        .map_err(io_err)
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}
