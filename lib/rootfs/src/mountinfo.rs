//! `/proc/self/mountinfo`: what is mounted where, to unmount what a (possibly crashed) stage
//! left and to refuse deleting directories that still have something mounted below them.

use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{unmount, UnmountFlags};

use crate::error::{Result, RootfsError};

/// One line of mountinfo, the fields berth uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
    pub options: String,
}

/// The mounts of the calling process's mount namespace, in mount order.
pub fn mounts() -> io::Result<Vec<MountInfo>> {
    // procfs reports a size of 0, so a plain read_to_string starts with a 32-byte read and
    // doubles: nine reads for a typical table. One buffer sized for it takes one or two.
    let mut text = String::with_capacity(64 * 1024);
    std::io::Read::read_to_string(&mut std::fs::File::open("/proc/self/mountinfo")?, &mut text)?;
    Ok(parse(&text))
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    let mount_point = unescape(fields.get(4)?);
    let options = fields.get(5)?.to_string();
    let mut right = right.split(' ');
    let fs_type = right.next()?.to_string();
    let source = unescape(right.next().unwrap_or(""));
    Some(MountInfo {
        mount_point: PathBuf::from(mount_point),
        fs_type,
        source,
        options,
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\012`, `\134`…).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points at `path` or below it, deepest (and latest) first.
pub fn mounts_under(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = mounts()?
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|m| m.starts_with(path))
        .collect();
    // Later mounts stack on earlier ones: reverse mount order, then deepest first (stable).
    found.reverse();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    Ok(found)
}

/// Unmounts everything mounted at `path` or below it, deepest first, until nothing is left.
/// A mount that is busy is detached (`MNT_DETACH`). Returns how many mounts were removed;
/// "not mounted" is not an error.
pub fn unmount_all_under(path: &Path) -> Result<usize> {
    let mut count = 0;
    // Mounts may be stacked several deep on one point: repeat while any remain.
    for _ in 0..64 {
        let found = mounts_under(path).map_err(|source| RootfsError::Io {
            op: "reading",
            path: "/proc/self/mountinfo".into(),
            source,
        })?;
        if found.is_empty() {
            return Ok(count);
        }
        for point in found {
            match unmount(&point, UnmountFlags::NOFOLLOW) {
                Ok(()) => count += 1,
                Err(Errno::BUSY) => {
                    unmount(&point, UnmountFlags::NOFOLLOW | UnmountFlags::DETACH).map_err(
                        |e| RootfsError::Unmount {
                            path: point.clone(),
                            source: e.into(),
                        },
                    )?;
                    count += 1;
                }
                // Gone meanwhile, or not a mount point any more.
                Err(Errno::INVAL | Errno::NOENT) => {}
                Err(e) => {
                    return Err(RootfsError::Unmount {
                        path: point,
                        source: e.into(),
                    })
                }
            }
        }
    }
    Err(RootfsError::Unmount {
        path: path.to_path_buf(),
        source: io::Error::other("mounts keep reappearing below it"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unescapes() {
        let text = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    40 36 0:50 / /run/berth/containers/x/rootfs rw,relatime - overlay overlay rw,lowerdir=a\n";
        let m = parse(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, Path::new("/mnt/with space"));
        assert_eq!(m[0].fs_type, "ext3");
        assert_eq!(m[1].fs_type, "overlay");
        assert_eq!(
            m[1].mount_point,
            Path::new("/run/berth/containers/x/rootfs")
        );
        assert_eq!(unescape("a\\134b\\012"), "a\\b\n");
        assert_eq!(unescape("trailing\\"), "trailing\\");
    }
}
