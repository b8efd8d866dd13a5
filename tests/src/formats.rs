//! Images and the archive formats `berth-unpack load` reads: docker-archive (classic and
//! Docker 25+), OCI image-layout directory and OCI image-layout tarball.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::image::{busybox_entries, Compression, Layer};
use crate::{chain_ids, digest_of, hex_part};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Deliberate damage, to test that `load` verifies what it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// The manifest names layer N by a digest its bytes do not have (the blob is stored
    /// under that wrong name, so only hashing the content can tell).
    LayerDigest(usize),
    /// The manifest gives layer N a size one byte larger than the blob.
    LayerSize(usize),
    /// The config's `rootfs.diff_ids[N]` is not the digest of the uncompressed layer.
    DiffId(usize),
}

/// What an image is made of, before it is written out.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub layers: Vec<Layer>,
    /// The `config` section of the image config (`Env`, `Cmd`, ...).
    pub config: Value,
    /// The name it carries in the archive (`RepoTags`, `org.opencontainers.image.ref.name`).
    pub name: Option<String>,
    pub corruptions: Vec<Corruption>,
    /// Makes otherwise identical specs distinct images.
    pub created: String,
}

impl ImageSpec {
    pub fn new(layers: Vec<Layer>) -> ImageSpec {
        ImageSpec {
            layers,
            config: json!({
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
            }),
            name: None,
            corruptions: Vec::new(),
            created: "2024-01-01T00:00:00Z".into(),
        }
    }
    /// One uncompressed busybox layer.
    pub fn busybox() -> ImageSpec {
        ImageSpec::new(vec![Layer::new(busybox_entries())])
    }
    pub fn name(mut self, name: &str) -> ImageSpec {
        self.name = Some(name.to_string());
        self
    }
    pub fn cmd(mut self, cmd: &[&str]) -> ImageSpec {
        self.config["Cmd"] = json!(cmd);
        self
    }
    pub fn env(mut self, env: &[&str]) -> ImageSpec {
        self.config["Env"] = json!(env);
        self
    }
    pub fn created(mut self, created: &str) -> ImageSpec {
        self.created = created.to_string();
        self
    }
    pub fn corrupt(mut self, corruption: Corruption) -> ImageSpec {
        self.corruptions.push(corruption);
        self
    }

    pub fn build(&self) -> BuiltImage {
        let mut layers = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let tar = layer.tar();
            let blob = layer.compression.compress(&tar);
            let real_digest = digest_of(&blob);
            let diff_id = digest_of(&tar);
            let mut digest = real_digest.clone();
            let mut size = blob.len() as u64;
            let mut config_diff_id = diff_id.clone();
            for c in &self.corruptions {
                match *c {
                    Corruption::LayerDigest(n) if n == i => {
                        digest = digest_of(format!("not {real_digest}").as_bytes())
                    }
                    Corruption::LayerSize(n) if n == i => size += 1,
                    Corruption::DiffId(n) if n == i => {
                        config_diff_id = digest_of(format!("not {diff_id}").as_bytes())
                    }
                    _ => {}
                }
            }
            layers.push(BuiltLayer {
                tar,
                blob,
                diff_id,
                config_diff_id,
                digest,
                real_digest,
                size,
                media_type: layer.compression.layer_media_type().to_string(),
                compression: layer.compression,
            });
        }
        let history: Vec<Value> = (0..layers.len())
            .map(|i| json!({"created": self.created, "created_by": format!("berth-tests layer {i}")}))
            .collect();
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "created": self.created,
            "config": self.config,
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.config_diff_id.clone()).collect::<Vec<_>>(),
            },
            "history": history,
        });
        let config = serde_json::to_vec(&config).unwrap();
        let config_digest = digest_of(&config);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": layers.iter().map(|l| json!({
                "mediaType": l.media_type, "digest": l.digest, "size": l.size,
            })).collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec(&manifest).unwrap();
        let manifest_digest = digest_of(&manifest);
        BuiltImage {
            name: self.name.clone(),
            layers,
            config,
            config_digest,
            manifest,
            manifest_digest,
        }
    }
}

#[derive(Clone, Debug)]
pub struct BuiltLayer {
    /// Uncompressed layer tar.
    pub tar: Vec<u8>,
    /// The blob as stored (compressed or not).
    pub blob: Vec<u8>,
    /// Real digest of `tar`.
    pub diff_id: String,
    /// What the config claims `diff_id` is.
    pub config_diff_id: String,
    /// The digest the manifest claims (and the blob's file name).
    pub digest: String,
    /// Real digest of `blob`.
    pub real_digest: String,
    /// The size the manifest claims.
    pub size: u64,
    pub media_type: String,
    pub compression: Compression,
}

#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub name: Option<String>,
    pub layers: Vec<BuiltLayer>,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
}

impl BuiltImage {
    /// The image ID: digest of the config.
    pub fn id(&self) -> String {
        self.config_digest.clone()
    }
    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }
    /// Chain IDs of the layers, lowest first.
    pub fn chain_ids(&self) -> Vec<String> {
        chain_ids(&self.diff_ids())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `docker save` before Docker 25: `<id>/layer.tar`, `<config>.json`, `manifest.json`.
    DockerClassic,
    /// Docker 25+: `manifest.json` plus an OCI layout (`index.json`, `blobs/sha256`).
    Docker25,
    /// An OCI image-layout directory.
    OciDir,
    /// An OCI image-layout directory packed as a tar.
    OciArchive,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::DockerClassic,
        Format::Docker25,
        Format::OciDir,
        Format::OciArchive,
    ];
}

/// Writes `images` at `path` in `format`; returns `path`.
pub fn write_images(format: Format, images: &[BuiltImage], path: &Path) -> PathBuf {
    match format {
        Format::DockerClassic => write_tar(path, &docker_classic_files(images)),
        Format::Docker25 => write_tar(path, &docker25_files(images)),
        Format::OciDir => write_dir(path, &oci_layout_files(images)),
        Format::OciArchive => write_tar(path, &oci_layout_files(images)),
    }
    path.to_path_buf()
}

/// A file of an archive or layout directory: path and contents.
pub type ArchiveFile = (String, Vec<u8>);

fn blob_file(digest: &str, bytes: &[u8]) -> ArchiveFile {
    (format!("blobs/sha256/{}", hex_part(digest)), bytes.to_vec())
}

/// `busybox` → `docker.io/library/busybox:latest`, as containerd names images.
pub fn normalize_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    let name = if last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    };
    match name.split_once('/') {
        None => format!("docker.io/library/{name}"),
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            name
        }
        Some(_) => format!("docker.io/{name}"),
    }
}

fn tag_of(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split_once(':')
        .map(|(_, t)| t.to_string())
        .unwrap_or_else(|| "latest".into())
}

fn oci_layout_file() -> ArchiveFile {
    (
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    )
}

/// Files of an OCI image layout: `ref.name` carries each image's name verbatim.
pub fn oci_layout_files(images: &[BuiltImage]) -> Vec<ArchiveFile> {
    let mut files = vec![oci_layout_file()];
    let mut manifests = Vec::new();
    for image in images {
        push_blobs(&mut files, image);
        let mut desc = json!({
            "mediaType": OCI_MANIFEST,
            "digest": image.manifest_digest,
            "size": image.manifest.len(),
        });
        if let Some(name) = &image.name {
            desc["annotations"] = json!({"org.opencontainers.image.ref.name": name});
        }
        manifests.push(desc);
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    files
}

fn push_blobs(files: &mut Vec<ArchiveFile>, image: &BuiltImage) {
    for layer in &image.layers {
        files.push(blob_file(&layer.digest, &layer.blob));
    }
    files.push(blob_file(&image.config_digest, &image.config));
    files.push(blob_file(&image.manifest_digest, &image.manifest));
}

/// Files of a Docker 25+ `docker save`.
pub fn docker25_files(images: &[BuiltImage]) -> Vec<ArchiveFile> {
    let mut files = vec![oci_layout_file()];
    let mut manifests = Vec::new();
    let mut docker_manifest = Vec::new();
    for image in images {
        push_blobs(&mut files, image);
        let mut desc = json!({
            "mediaType": OCI_MANIFEST,
            "digest": image.manifest_digest,
            "size": image.manifest.len(),
        });
        if let Some(name) = &image.name {
            desc["annotations"] = json!({
                "io.containerd.image.name": normalize_name(name),
                "org.opencontainers.image.ref.name": tag_of(name),
            });
        }
        manifests.push(desc);
        docker_manifest.push(json!({
            "Config": format!("blobs/sha256/{}", hex_part(&image.config_digest)),
            "RepoTags": image.name.iter().collect::<Vec<_>>(),
            "Layers": image.layers.iter()
                .map(|l| format!("blobs/sha256/{}", hex_part(&l.digest)))
                .collect::<Vec<_>>(),
        }));
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&docker_manifest).unwrap(),
    ));
    dedup(files)
}

/// Files of a classic (pre-25) `docker save`: layers are uncompressed `<v1id>/layer.tar`
/// whatever the spec's compression (that is what `docker save` writes).
pub fn docker_classic_files(images: &[BuiltImage]) -> Vec<ArchiveFile> {
    let mut files = Vec::new();
    let mut docker_manifest = Vec::new();
    let mut repositories = serde_json::Map::new();
    for image in images {
        let mut layer_paths = Vec::new();
        let mut parent = String::new();
        for (i, layer) in image.layers.iter().enumerate() {
            let v1 = crate::sha256_hex(format!("{parent} {} {i}", layer.diff_id).as_bytes());
            let mut v1_json = json!({"id": v1, "created": "2024-01-01T00:00:00Z"});
            if !parent.is_empty() {
                v1_json["parent"] = json!(parent);
            }
            files.push((format!("{v1}/VERSION"), b"1.0".to_vec()));
            files.push((format!("{v1}/json"), serde_json::to_vec(&v1_json).unwrap()));
            files.push((format!("{v1}/layer.tar"), layer.tar.clone()));
            layer_paths.push(format!("{v1}/layer.tar"));
            parent = v1;
        }
        let config_name = format!("{}.json", hex_part(&image.config_digest));
        files.push((config_name.clone(), image.config.clone()));
        if let Some(name) = &image.name {
            let (repo, tag) = match name.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (name.clone(), "latest".into()),
            };
            repositories.insert(repo, json!({ tag: parent }));
        }
        docker_manifest.push(json!({
            "Config": config_name,
            "RepoTags": image.name.as_ref().map(|n| vec![n.clone()]),
            "Layers": layer_paths,
        }));
    }
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&docker_manifest).unwrap(),
    ));
    if !repositories.is_empty() {
        files.push((
            "repositories".into(),
            serde_json::to_vec(&repositories).unwrap(),
        ));
    }
    dedup(files)
}

fn dedup(files: Vec<ArchiveFile>) -> Vec<ArchiveFile> {
    let mut seen = std::collections::BTreeSet::new();
    files
        .into_iter()
        .filter(|(p, _)| seen.insert(p.clone()))
        .collect()
}

/// Writes `files` as a tar (with directory entries for their parents).
pub fn write_tar(path: &Path, files: &[ArchiveFile]) {
    std::fs::write(path, tar_of_files(files)).unwrap();
}

pub fn tar_of_files(files: &[ArchiveFile]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for (path, bytes) in dedup(files.to_vec()) {
        let mut parent = Path::new(&path).parent();
        let mut missing = Vec::new();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            if dirs.insert(p.to_path_buf()) {
                missing.push(p.to_path_buf());
            }
            parent = p.parent();
        }
        for dir in missing.into_iter().rev() {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_mtime(crate::image::DEFAULT_MTIME);
            h.set_size(0);
            builder
                .append_data(&mut h, format!("{}/", dir.display()), &[][..])
                .unwrap();
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(crate::image::DEFAULT_MTIME);
        h.set_size(bytes.len() as u64);
        builder
            .append_data(&mut h, &path, bytes.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

/// Writes `files` under directory `dir`.
pub fn write_dir(dir: &Path, files: &[ArchiveFile]) {
    for (path, bytes) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, bytes).unwrap();
    }
}

/// Compresses the file at `path` into `<path>.gz` / `<path>.zst`; returns the new path.
pub fn compress_file(path: &Path, compression: Compression) -> PathBuf {
    let ext = match compression {
        Compression::None => return path.to_path_buf(),
        Compression::Gzip => "gz",
        Compression::Zstd => "zst",
    };
    let out = PathBuf::from(format!("{}.{ext}", path.display()));
    std::fs::write(&out, compression.compress(&std::fs::read(path).unwrap())).unwrap();
    out
}
