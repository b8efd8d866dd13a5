//! A container's user namespace as the record carries it: its uid and gid maps (the
//! lines of `/proc/PID/uid_map` and `gid_map`), and the translations between container
//! and host ids they define.

use serde::{Deserialize, Serialize};

/// The kernel's limit of lines in one map (since Linux 4.15).
pub const MAX_RANGES: usize = 340;

/// One line of a map: container ids `container..container+size` are host ids
/// `host..host+size`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// A user namespace's maps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserNamespace {
    pub uid_map: Vec<IdRange>,
    pub gid_map: Vec<IdRange>,
    /// Where the maps came from, for messages: `remap berth:berth`, `--uidmap`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// Why a map cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {which} map: {reason}")]
pub struct MapError {
    pub which: &'static str,
    pub reason: String,
}

fn to_host(map: &[IdRange], id: u32) -> Option<u32> {
    map.iter()
        .find(|r| id >= r.container && id - r.container < r.size)
        .map(|r| r.host + (id - r.container))
}

fn to_container(map: &[IdRange], id: u32) -> Option<u32> {
    map.iter()
        .find(|r| id >= r.host && id - r.host < r.size)
        .map(|r| r.container + (id - r.host))
}

/// The map as the kernel reads it: one `container host size` line per range.
fn text(map: &[IdRange]) -> String {
    map.iter()
        .map(|r| format!("{} {} {}\n", r.container, r.host, r.size))
        .collect()
}

/// Checks what the kernel would refuse, and that container id 0 is mapped (berth starts
/// the container's process as its root).
fn check(which: &'static str, map: &[IdRange]) -> Result<(), MapError> {
    let fail = |reason: String| Err(MapError { which, reason });
    if map.is_empty() {
        return fail("it is empty".into());
    }
    if map.len() > MAX_RANGES {
        return fail(format!(
            "{} ranges, the kernel takes at most {MAX_RANGES}",
            map.len()
        ));
    }
    for (i, r) in map.iter().enumerate() {
        let line = format!("{}:{}:{}", r.container, r.host, r.size);
        if r.size == 0 {
            return fail(format!("{line}: the size is 0"));
        }
        // The kernel keeps ids below 2^32-1 (the invalid id) on both sides.
        if u64::from(r.container) + u64::from(r.size) > u64::from(u32::MAX)
            || u64::from(r.host) + u64::from(r.size) > u64::from(u32::MAX)
        {
            return fail(format!("{line}: the range goes past 4294967294"));
        }
        for o in &map[..i] {
            let overlap = |a: u32, b: u32| {
                u64::from(a) < u64::from(b) + u64::from(o.size)
                    && u64::from(b) < u64::from(a) + u64::from(r.size)
            };
            if overlap(r.container, o.container) {
                return fail(format!("{line}: its container ids overlap another range"));
            }
            if overlap(r.host, o.host) {
                return fail(format!("{line}: its host ids overlap another range"));
            }
        }
    }
    if to_host(map, 0).is_none() {
        return fail("container id 0 (the container's root) is not mapped".into());
    }
    Ok(())
}

impl UserNamespace {
    /// Checks both maps.
    pub fn check(&self) -> Result<(), MapError> {
        check("uid", &self.uid_map)?;
        check("gid", &self.gid_map)
    }

    /// The host uid of container uid `uid`, if mapped.
    pub fn host_uid(&self, uid: u32) -> Option<u32> {
        to_host(&self.uid_map, uid)
    }

    /// The host gid of container gid `gid`, if mapped.
    pub fn host_gid(&self, gid: u32) -> Option<u32> {
        to_host(&self.gid_map, gid)
    }

    /// The container uid of host uid `uid`, if mapped.
    pub fn container_uid(&self, uid: u32) -> Option<u32> {
        to_container(&self.uid_map, uid)
    }

    /// The container gid of host gid `gid`, if mapped.
    pub fn container_gid(&self, gid: u32) -> Option<u32> {
        to_container(&self.gid_map, gid)
    }

    /// The host ids of the container's root (maps are checked to map 0).
    pub fn host_root(&self) -> (u32, u32) {
        (
            self.host_uid(0).unwrap_or(u32::MAX),
            self.host_gid(0).unwrap_or(u32::MAX),
        )
    }

    /// What to write to `/proc/PID/uid_map`.
    pub fn uid_map_text(&self) -> String {
        text(&self.uid_map)
    }

    /// What to write to `/proc/PID/gid_map`.
    pub fn gid_map_text(&self) -> String {
        text(&self.gid_map)
    }

    /// The largest `n` such that container gids `0..=n` are all mapped (by the range of 0).
    pub fn contiguous_gids_from_zero(&self) -> u32 {
        self.gid_map
            .iter()
            .find(|r| r.container == 0)
            .map_or(0, |r| r.size - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(uid: &[(u32, u32, u32)], gid: &[(u32, u32, u32)]) -> UserNamespace {
        let map = |m: &[(u32, u32, u32)]| {
            m.iter()
                .map(|&(container, host, size)| IdRange {
                    container,
                    host,
                    size,
                })
                .collect()
        };
        UserNamespace {
            uid_map: map(uid),
            gid_map: map(gid),
            source: String::new(),
        }
    }

    #[test]
    fn translations_both_ways() {
        let n = ns(
            &[(0, 100000, 1000), (1000, 300000, 10)],
            &[(0, 200000, 65536)],
        );
        n.check().unwrap();
        assert_eq!(n.host_uid(0), Some(100000));
        assert_eq!(n.host_uid(1005), Some(300005));
        assert_eq!(n.host_uid(1010), None);
        assert_eq!(n.container_uid(300009), Some(1009));
        assert_eq!(n.container_uid(0), None);
        assert_eq!(n.host_root(), (100000, 200000));
        assert_eq!(n.container_gid(265535), Some(65535));
        assert_eq!(n.uid_map_text(), "0 100000 1000\n1000 300000 10\n");
        assert_eq!(n.contiguous_gids_from_zero(), 65535);
    }

    #[test]
    fn bad_maps_are_refused_with_the_reason() {
        let bad = |u: &[(u32, u32, u32)]| ns(u, &[(0, 1, 1)]).check().unwrap_err().reason;
        assert!(bad(&[]).contains("empty"));
        assert!(bad(&[(0, 1, 0)]).contains("size is 0"));
        assert!(bad(&[(1, 1, 5)]).contains("container id 0"));
        assert!(bad(&[(0, 10, 5), (3, 100, 5)]).contains("container ids overlap"));
        assert!(bad(&[(0, 10, 5), (5, 12, 5)]).contains("host ids overlap"));
        assert!(bad(&[(0, u32::MAX - 2, 5)]).contains("past"));
    }
}
