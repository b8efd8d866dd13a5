//! Layer contents: tar entries written header by header, so that tests can also write
//! what a well-behaved tar writer refuses to (`../x`, absolute names, hostile link targets).

use std::io::Write;

use tar::{EntryType, Header};

/// mtime given to entries that do not set one.
pub const DEFAULT_MTIME: u64 = 1_700_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(Vec<u8>),
    Hardlink(Vec<u8>),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

/// One tar entry. `name` and link targets are raw bytes, written as they are.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// Written as PAX `SCHILY.xattr.<name>` records.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Entry {
    pub fn new(name: impl AsRef<[u8]>, kind: Kind, mode: u32) -> Entry {
        Entry {
            name: name.as_ref().to_vec(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: DEFAULT_MTIME,
            xattrs: Vec::new(),
        }
    }
    /// A directory, 0755.
    pub fn dir(name: impl AsRef<[u8]>) -> Entry {
        Entry::new(name, Kind::Dir, 0o755)
    }
    /// A regular file, 0644.
    pub fn file(name: impl AsRef<[u8]>, contents: impl AsRef<[u8]>) -> Entry {
        Entry::new(name, Kind::File(contents.as_ref().to_vec()), 0o644)
    }
    /// A regular file, 0755.
    pub fn exe(name: impl AsRef<[u8]>, contents: impl AsRef<[u8]>) -> Entry {
        Entry::new(name, Kind::File(contents.as_ref().to_vec()), 0o755)
    }
    pub fn symlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Entry {
        Entry::new(name, Kind::Symlink(target.as_ref().to_vec()), 0o777)
    }
    pub fn hardlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Entry {
        Entry::new(name, Kind::Hardlink(target.as_ref().to_vec()), 0o644)
    }
    pub fn char_dev(name: impl AsRef<[u8]>, major: u32, minor: u32) -> Entry {
        Entry::new(name, Kind::Char(major, minor), 0o666)
    }
    pub fn block_dev(name: impl AsRef<[u8]>, major: u32, minor: u32) -> Entry {
        Entry::new(name, Kind::Block(major, minor), 0o660)
    }
    pub fn fifo(name: impl AsRef<[u8]>) -> Entry {
        Entry::new(name, Kind::Fifo, 0o644)
    }
    /// The AUFS-style whiteout that deletes `path` (`dir/x` → `dir/.wh.x`).
    pub fn whiteout(path: &str) -> Entry {
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (format!("{d}/"), b),
            None => (String::new(), path),
        };
        Entry::file(format!("{dir}.wh.{base}"), b"")
    }
    /// The opaque marker for directory `dir` (`dir/.wh..wh..opq`).
    pub fn opaque(dir: &str) -> Entry {
        Entry::file(format!("{dir}/.wh..wh..opq"), b"")
    }
    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mtime(mut self, mtime: u64) -> Entry {
        self.mtime = mtime;
        self
    }
    pub fn xattr(mut self, name: &str, value: impl AsRef<[u8]>) -> Entry {
        self.xattrs
            .push((name.to_string(), value.as_ref().to_vec()));
        self
    }
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI layer media type for this compression.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(data).unwrap();
                enc.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
        }
    }
}

/// One layer: its entries, in archive order, and how its blob is compressed.
#[derive(Clone, Debug)]
pub struct Layer {
    pub entries: Vec<Entry>,
    pub compression: Compression,
}

impl Layer {
    pub fn new(entries: Vec<Entry>) -> Layer {
        Layer {
            entries,
            compression: Compression::None,
        }
    }
    pub fn compressed(mut self, compression: Compression) -> Layer {
        self.compression = compression;
        self
    }
    /// The uncompressed layer tar.
    pub fn tar(&self) -> Vec<u8> {
        tar_bytes(&self.entries)
    }
}

/// The base of most test images: busybox and a few applets linked to it.
pub fn busybox_entries() -> Vec<Entry> {
    vec![
        Entry::dir("bin"),
        Entry::exe("bin/busybox", crate::busybox_bytes()),
        Entry::symlink("bin/sh", "busybox"),
        Entry::symlink("bin/ls", "busybox"),
        Entry::symlink("bin/cat", "/bin/busybox"),
        Entry::dir("etc"),
        Entry::file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        Entry::file("etc/group", "root:x:0:\n"),
        Entry::dir("root").mode(0o700),
        Entry::dir("tmp").mode(0o1777),
    ]
}

/// Writes `entries` as an uncompressed tar.
pub fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        append_entry(&mut builder, entry);
    }
    builder.into_inner().unwrap()
}

/// Appends one entry, its name and link target copied byte for byte (PAX records carry
/// long ones and xattrs).
pub fn append_entry(builder: &mut tar::Builder<Vec<u8>>, entry: &Entry) {
    let link: &[u8] = match &entry.kind {
        Kind::Symlink(t) | Kind::Hardlink(t) => t,
        _ => b"",
    };
    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, value) in &entry.xattrs {
        pax.push((format!("SCHILY.xattr.{name}"), value.clone()));
    }
    if entry.name.len() > 100 {
        pax.push(("path".into(), entry.name.clone()));
    }
    if link.len() > 100 {
        pax.push(("linkpath".into(), link.to_vec()));
    }
    if !pax.is_empty() {
        let data = pax_records(&pax);
        let mut header = Header::new_ustar();
        let base = entry.name.rsplit(|b| *b == b'/').next().unwrap_or(b"x");
        let mut pax_name = b"PaxHeaders.0/".to_vec();
        pax_name.extend_from_slice(&base[..base.len().min(80)]);
        raw_field(&mut header.as_old_mut().name, &pax_name);
        header.set_entry_type(EntryType::XHeader);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_mtime(entry.mtime);
        header.set_cksum();
        builder.append(&header, data.as_slice()).unwrap();
    }

    let mut header = Header::new_ustar();
    raw_field(&mut header.as_old_mut().name, &entry.name);
    raw_field(&mut header.as_old_mut().linkname, link);
    header.set_mode(entry.mode);
    header.set_uid(entry.uid);
    header.set_gid(entry.gid);
    header.set_mtime(entry.mtime);
    let mut data: &[u8] = b"";
    let kind = match &entry.kind {
        Kind::Dir => EntryType::Directory,
        Kind::File(contents) => {
            data = contents;
            EntryType::Regular
        }
        Kind::Symlink(_) => EntryType::Symlink,
        Kind::Hardlink(_) => EntryType::Link,
        Kind::Char(..) => EntryType::Char,
        Kind::Block(..) => EntryType::Block,
        Kind::Fifo => EntryType::Fifo,
    };
    if let Kind::Char(major, minor) | Kind::Block(major, minor) = entry.kind {
        header.set_device_major(major).unwrap();
        header.set_device_minor(minor).unwrap();
    }
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

/// Copies `value` into a fixed header field, truncating at the field's size (the full
/// value then travels in a PAX record).
fn raw_field(field: &mut [u8], value: &[u8]) {
    field.fill(0);
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// PAX extended header records: `"<len> <key>=<value>\n"`, len counting itself.
pub fn pax_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

/// A valid VFS_CAP_REVISION_2 `security.capability` blob granting cap_net_raw (13) in the
/// permitted set with the effective flag: `setcap cap_net_raw+ep`.
pub fn cap_net_raw_ep() -> Vec<u8> {
    vec![
        0x01, 0x00, 0x00, 0x02, // magic_etc: VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
        0x00, 0x20, 0x00, 0x00, // permitted[0]: 1 << 13
        0x00, 0x00, 0x00, 0x00, // inheritable[0]
        0x00, 0x00, 0x00, 0x00, // permitted[1]
        0x00, 0x00, 0x00, 0x00, // inheritable[1]
    ]
}
