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
    Ok(points_under(&mounts()?, &[path]))
}

/// The mount points of `table` at or below any of `paths`, deepest (and latest) first.
pub fn points_under(table: &[MountInfo], paths: &[&Path]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = table
        .iter()
        .map(|m| &m.mount_point)
        .filter(|m| paths.iter().any(|p| m.starts_with(p)))
        .cloned()
        .collect();
    // Later mounts stack on earlier ones: reverse mount order, then deepest first (stable).
    found.reverse();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

/// Unmounts everything mounted at `path` or below it, deepest first, until nothing is left.
/// A mount that is busy is detached (`MNT_DETACH`). Returns how many mounts were removed;
/// "not mounted" is not an error.
pub fn unmount_all_under(path: &Path) -> Result<usize> {
    unmount_all_under_each(&[path]).map(|(count, _)| count)
}

/// [`unmount_all_under`] for several paths, reading the mount table once a pass rather than
/// once a path. Also returns the table as it was last read (nothing left under `paths`), for
/// the caller's further checks. Every mount found is tried even when one fails; the first
/// failure is returned.
pub fn unmount_all_under_each(paths: &[&Path]) -> Result<(usize, Vec<MountInfo>)> {
    let mut count = 0;
    // Mounts may be stacked several deep on one point: repeat while any remain.
    for _ in 0..64 {
        let table = mounts().map_err(|source| RootfsError::Io {
            op: "reading",
            path: "/proc/self/mountinfo".into(),
            source,
        })?;
        let found = points_under(&table, paths);
        if found.is_empty() {
            return Ok((count, table));
        }
        let mut first_error = None;
        for point in found {
            match unmount_one(&point) {
                Ok(true) => count += 1,
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    Err(RootfsError::Unmount {
        path: paths.first().map(|p| p.to_path_buf()).unwrap_or_default(),
        source: io::Error::other("mounts keep reappearing below it"),
    })
}

/// Unmounts `point`, detaching it when busy; Ok(false) when it was gone meanwhile.
fn unmount_one(point: &Path) -> Result<bool> {
    let fail = |e: Errno| RootfsError::Unmount {
        path: point.to_path_buf(),
        source: e.into(),
    };
    match unmount(point, UnmountFlags::NOFOLLOW) {
        Ok(()) => Ok(true),
        Err(Errno::BUSY) => unmount(point, UnmountFlags::NOFOLLOW | UnmountFlags::DETACH)
            .map(|()| true)
            .map_err(fail),
        // Gone meanwhile, or not a mount point any more.
        Err(Errno::INVAL | Errno::NOENT) => Ok(false),
        Err(e) => Err(fail(e)),
    }
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

    #[test]
    fn points_under_any_path_deepest_and_latest_first() {
        let text = "1 0 0:1 / /r/a rw - overlay o rw\n\
                    2 1 0:2 / /r/a/proc rw - proc p rw\n\
                    3 0 0:3 / /r/ab rw - tmpfs t rw\n\
                    4 0 0:4 / /r/b rw - tmpfs t rw\n\
                    5 0 0:5 / /r/a rw - tmpfs t rw\n";
        let found = points_under(&parse(text), &[Path::new("/r/a"), Path::new("/r/b")]);
        let want: Vec<PathBuf> = ["/r/a/proc", "/r/a", "/r/b", "/r/a"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(found, want);
    }
}
