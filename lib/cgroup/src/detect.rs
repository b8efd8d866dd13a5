//! Which cgroup layout the host has: pure v2 (cgroup2 at the root), hybrid (v1 controllers
//! at `<root>/<ctrl>` plus cgroup2 at `<root>/unified`) or v1. Decided by statfs(2) of the
//! cgroupfs root and its `unified` directory, cross-checked with /proc/self/mountinfo.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{CgroupError, Result};

const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// The v1 controllers berth uses, in the order they are created.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices",
];

/// The v2 controllers berth enables in `cgroup.subtree_control` (those available).
pub const V2_CONTROLLERS: &[&str] = &["cpu", "cpuset", "memory", "pids", "io"];

/// The key of the cgroup2 directory in `CgroupPart::paths`.
pub const UNIFIED: &str = "unified";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    V1,
    V2,
    Hybrid,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::V1 => "v1",
            Mode::V2 => "v2",
            Mode::Hybrid => "hybrid",
        }
    }

    pub fn parse(text: &str) -> Result<Mode> {
        match text {
            "v1" => Ok(Mode::V1),
            "v2" => Ok(Mode::V2),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(CgroupError::Invalid {
                what: "cgroup mode".into(),
                reason: format!("{other:?} is not v1, v2 or hybrid"),
            }),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// f_type is i64 on x86_64 and narrower elsewhere.
#[allow(clippy::unnecessary_cast)]
fn fs_type(path: &Path) -> Option<i64> {
    rustix::fs::statfs(path).ok().map(|s| s.f_type as i64)
}

/// Detects the layout under `root` (normally `/sys/fs/cgroup`).
pub fn detect(root: &Path) -> Result<Mode> {
    let err = |reason: String| CgroupError::Detect {
        root: root.to_path_buf(),
        reason,
    };
    match fs_type(root) {
        None => return Err(err("cannot statfs it".into())),
        Some(CGROUP2_SUPER_MAGIC) => return Ok(Mode::V2),
        Some(_) => {}
    }
    let v1_present = V1_CONTROLLERS
        .iter()
        .any(|c| fs_type(&root.join(c)) == Some(CGROUP_SUPER_MAGIC));
    let unified = fs_type(&root.join(UNIFIED)) == Some(CGROUP2_SUPER_MAGIC);
    match (v1_present, unified) {
        (true, true) => Ok(Mode::Hybrid),
        (true, false) => Ok(Mode::V1),
        (false, true) => Err(err(
            "only a cgroup2 mount at unified/ and no v1 controllers; mount cgroup2 at the root"
                .into(),
        )),
        (false, false) => Err(err(format!(
            "no cgroup filesystem found (mounts: {})",
            cgroup_mounts().join(", ")
        ))),
    }
}

/// Mount points of cgroup and cgroup2 filesystems, from /proc/self/mountinfo (for messages
/// and diagnostics).
pub fn cgroup_mounts() -> Vec<String> {
    let Ok(mounts) = procfs::process::Process::myself().and_then(|me| me.mountinfo()) else {
        return Vec::new();
    };
    cgroup_mount_points(&mounts)
        .into_iter()
        .map(|(point, fstype)| format!("{} ({fstype})", point.display()))
        .collect()
}

/// (mount point, fstype) of each cgroup/cgroup2 mount.
pub fn cgroup_mount_points(mounts: &procfs::process::MountInfos) -> Vec<(PathBuf, String)> {
    mounts
        .iter()
        .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2")
        .map(|m| (unescape_mount_path(&m.mount_point), m.fs_type.clone()))
        .collect()
}

/// The kernel writes space, tab, newline and backslash in mountinfo paths as `\ooo`
/// (`mangle_path`); procfs leaves them so (eminence/procfs#262).
fn unescape_mount_path(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_ref();
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let octal = rest
            .get(at + 1..at + 4)
            .filter(|o| o.bytes().all(|b| (b'0'..=b'7').contains(&b)));
        match octal.and_then(|o| u8::from_str_radix(o, 8).ok()) {
            Some(byte @ (b' ' | b'\t' | b'\n' | b'\\')) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            _ => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    PathBuf::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_round_trips() {
        for m in [Mode::V1, Mode::V2, Mode::Hybrid] {
            assert_eq!(Mode::parse(m.as_str()).unwrap(), m);
        }
        assert!(Mode::parse("v3").is_err());
    }

    #[test]
    fn mountinfo_lists_cgroup_mounts() {
        use procfs::FromBufRead;
        let text = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
            42 31 0:39 / /tmp/a\\040b\\134c\\011 rw - cgroup2 cgroup2 rw\n";
        let mounts = procfs::process::MountInfos::from_buf_read(text.as_bytes()).unwrap();
        let mounts = cgroup_mount_points(&mounts);
        assert_eq!(
            mounts,
            vec![
                (PathBuf::from("/sys/fs/cgroup/memory"), "cgroup".to_string()),
                (
                    PathBuf::from("/sys/fs/cgroup/unified"),
                    "cgroup2".to_string()
                ),
                (PathBuf::from("/tmp/a b\\c\t"), "cgroup2".to_string()),
            ]
        );
    }

    #[test]
    fn a_plain_directory_is_no_cgroupfs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(detect(dir.path()).is_err());
    }
}
