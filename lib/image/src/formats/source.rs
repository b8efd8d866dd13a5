//! Where an image comes from: a directory (OCI layout, unpacked docker-archive) or a tar
//! file (docker-archive, OCI layout tarball, possibly gzip or zstd compressed as a whole).
//! Members of a tar are indexed once and then read in place by offset, so a layer is
//! streamed straight from the archive, never copied first.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::compression::{decompress, Compression};
use crate::error::{ImageError, Result};
use crate::store::TempPath;

const MAX_METADATA: u64 = 16 << 20;
const MAX_LINK_DEPTH: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Member {
    offset: u64,
    size: u64,
}

/// A layer blob to read: a stream, and where it lies in a file when it does.
pub struct LayerSource {
    pub reader: Box<dyn Read>,
    pub file_range: Option<FileRange>,
}

pub struct FileRange {
    pub file: File,
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

impl LayerSource {
    pub fn stream(reader: Box<dyn Read>) -> LayerSource {
        LayerSource {
            reader,
            file_range: None,
        }
    }

    /// A whole file: regular files are also copied in the kernel, anything else streamed.
    pub fn file(path: &Path) -> Result<LayerSource> {
        let file = File::open(path).map_err(|e| ImageError::io(path, e))?;
        let meta = file.metadata().map_err(|e| ImageError::io(path, e))?;
        if !meta.is_file() {
            return Ok(LayerSource::stream(Box::new(file)));
        }
        let copy = File::open(path).map_err(|e| ImageError::io(path, e))?;
        Ok(LayerSource {
            reader: Box::new(file),
            file_range: Some(FileRange {
                file: copy,
                path: path.to_owned(),
                offset: 0,
                len: meta.len(),
            }),
        })
    }
}

pub struct ArchiveSource {
    shown: PathBuf,
    kind: SourceKind,
}

enum SourceKind {
    Dir(PathBuf),
    Tar {
        file: PathBuf,
        members: HashMap<String, Member>,
        _spool: Option<TempPath>,
    },
}

impl ArchiveSource {
    /// Opens `path`; a compressed archive is first decompressed into `tmp`.
    pub fn open(path: &Path, tmp: &Path) -> Result<ArchiveSource> {
        let meta = std::fs::metadata(path).map_err(|e| ImageError::io(path, e))?;
        if meta.is_dir() {
            return Ok(ArchiveSource {
                shown: path.to_owned(),
                kind: SourceKind::Dir(path.to_owned()),
            });
        }
        let mut file = File::open(path).map_err(|e| ImageError::io(path, e))?;
        let mut head = [0u8; 4];
        let n = read_head(&mut file, &mut head).map_err(|e| ImageError::io(path, e))?;
        let (tar_path, spool) = if Compression::sniff(&head[..n]) == Compression::None {
            (path.to_owned(), None)
        } else {
            let spool = TempPath::new_file(tmp, "archive")?;
            let mut out =
                File::create(spool.path()).map_err(|e| ImageError::io(spool.path(), e))?;
            let (_, mut stream) =
                decompress(BufReader::new(file)).map_err(|e| ImageError::io(path, e))?;
            io::copy(&mut stream, &mut out).map_err(|e| ImageError::UnknownFormat {
                source_path: path.to_owned(),
                reason: format!("cannot decompress: {e}"),
            })?;
            (spool.path().to_owned(), Some(spool))
        };
        let members = index_tar(&tar_path).map_err(|reason| ImageError::UnknownFormat {
            source_path: path.to_owned(),
            reason,
        })?;
        Ok(ArchiveSource {
            shown: path.to_owned(),
            kind: SourceKind::Tar {
                file: tar_path,
                members,
                _spool: spool,
            },
        })
    }

    pub fn shown(&self) -> &Path {
        &self.shown
    }

    pub fn has(&self, name: &str) -> bool {
        let Some(name) = clean(name) else {
            return false;
        };
        match &self.kind {
            SourceKind::Dir(dir) => dir.join(&name).is_file(),
            SourceKind::Tar { members, .. } => members.contains_key(&name),
        }
    }

    fn bad(&self, member: &str, reason: impl Into<String>) -> ImageError {
        ImageError::BadArchive {
            source_path: self.shown.clone(),
            member: member.to_string(),
            reason: reason.into(),
        }
    }

    /// Opens a member for streaming, with the file region it occupies so its bytes can
    /// also be copied in the kernel.
    pub fn open_layer(&self, name: &str) -> Result<LayerSource> {
        let (reader, size) = self.open_member(name)?;
        let clean_name =
            clean(name).ok_or_else(|| self.bad(name, "member name leaves the archive"))?;
        let (path, offset) = match &self.kind {
            SourceKind::Dir(dir) => (dir.join(&clean_name), 0),
            SourceKind::Tar { file, members, .. } => (
                file.clone(),
                members.get(&clean_name).map_or(0, |m| m.offset),
            ),
        };
        let file = File::open(&path).map_err(|e| ImageError::io(&path, e))?;
        Ok(LayerSource {
            reader,
            file_range: Some(FileRange {
                file,
                path,
                offset,
                len: size,
            }),
        })
    }

    /// Opens a member for streaming; also returns its size.
    pub fn open_member(&self, name: &str) -> Result<(Box<dyn Read>, u64)> {
        let clean_name =
            clean(name).ok_or_else(|| self.bad(name, "member name leaves the archive"))?;
        match &self.kind {
            SourceKind::Dir(dir) => {
                let path = dir.join(&clean_name);
                let file = File::open(&path).map_err(|e| self.bad(name, e.to_string()))?;
                let size = file.metadata().map_err(|e| ImageError::io(&path, e))?.len();
                Ok((Box::new(file), size))
            }
            SourceKind::Tar { file, members, .. } => {
                let member = members
                    .get(&clean_name)
                    .ok_or_else(|| self.bad(name, "no such member in the archive"))?;
                let mut handle = File::open(file).map_err(|e| ImageError::io(file, e))?;
                handle
                    .seek(SeekFrom::Start(member.offset))
                    .map_err(|e| ImageError::io(file, e))?;
                Ok((Box::new(handle.take(member.size)), member.size))
            }
        }
    }

    /// Reads a small member (JSON metadata) whole.
    pub fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let (reader, size) = self.open_member(name)?;
        if size > MAX_METADATA {
            return Err(self.bad(
                name,
                format!("{size} bytes is too large for image metadata"),
            ));
        }
        let mut data = Vec::with_capacity(size as usize);
        reader
            .take(MAX_METADATA)
            .read_to_end(&mut data)
            .map_err(|e| self.bad(name, e.to_string()))?;
        Ok(data)
    }
}

fn read_head(file: &mut File, head: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(n)
}

/// A member name made relative and free of `.`/`..`; None if it would leave the archive.
fn clean(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Offsets of every regular file in the tar; symlinks and hard links between members
/// (Docker's classic `save` links shared layers) resolve to the file they name.
fn index_tar(path: &Path) -> std::result::Result<HashMap<String, Member>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(file);
    let mut members = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    for entry in archive
        .entries_with_seek()
        .map_err(|e| format!("not a tar archive: {e}"))?
    {
        let entry = entry.map_err(|e| format!("not a tar archive: {e}"))?;
        let name_bytes = entry.path_bytes();
        let Some(name) = clean(&String::from_utf8_lossy(&name_bytes)) else {
            continue;
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                members.insert(
                    name,
                    Member {
                        offset: entry.raw_file_position(),
                        size: entry.size(),
                    },
                );
            }
            tar::EntryType::Symlink => {
                let target = String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default())
                    .into_owned();
                let base = name.rsplit_once('/').map_or("", |(dir, _)| dir);
                if let Some(resolved) = clean(&format!("{base}/{target}")) {
                    links.insert(name, resolved);
                }
            }
            tar::EntryType::Link => {
                let target = String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default())
                    .into_owned();
                if let Some(resolved) = clean(&target) {
                    links.insert(name, resolved);
                }
            }
            _ => {}
        }
    }
    for (name, target) in &links {
        let mut current = target.clone();
        for _ in 0..MAX_LINK_DEPTH {
            if let Some(member) = members.get(&current) {
                let member = *member;
                members.insert(name.clone(), member);
                break;
            }
            match links.get(&current) {
                Some(next) => current = next.clone(),
                None => break,
            }
        }
    }
    if members.is_empty() {
        return Err("the archive holds no files".into());
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn member_names_cannot_leave_the_archive() {
        assert_eq!(
            clean("./blobs/sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(clean("a/../b").as_deref(), Some("b"));
        assert_eq!(clean("../etc/shadow"), None);
        assert_eq!(clean("/etc/../../x"), None);
    }
}
