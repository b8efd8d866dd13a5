//! Which user namespace a container gets: `--userns host` (none, the default),
//! `--userns-remap NAME[:GROUP]` (container ids 0.. are the ranges of NAME in /etc/subuid
//! and of GROUP in /etc/subgid, one after another from the lowest host id, like dockerd's
//! option but per container), or
//! explicit `--uidmap`/`--gidmap` ranges (podman's). Nothing here touches the host's files.

use std::path::{Path, PathBuf};

use berth_common::{IdRange, UserNamespace};

use crate::error::{Result, RootfsError};

/// Overrides /etc/subuid (tests point it at their own file).
pub const SUBUID_ENV: &str = "BERTH_SUBUID_FILE";
/// Overrides /etc/subgid.
pub const SUBGID_ENV: &str = "BERTH_SUBGID_FILE";
/// The user `--userns-remap default` means.
pub const DEFAULT_REMAP_USER: &str = "berth";
/// The range suggested when a user has none (Docker's size).
const SUGGESTED: &str = "100000:65536";

/// The flags as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsernsRequest {
    /// `--userns`: only `host`.
    pub userns: Option<String>,
    /// `--userns-remap NAME[:GROUP]`.
    pub remap: Option<String>,
    /// `--uidmap CONTAINER:HOST:SIZE`, repeatable.
    pub uidmap: Vec<String>,
    /// `--gidmap CONTAINER:HOST:SIZE`, repeatable (default: the uid map).
    pub gidmap: Vec<String>,
}

fn flag_err(what: &'static str, spec: &str, reason: impl Into<String>) -> RootfsError {
    RootfsError::Spec {
        what,
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

impl UsernsRequest {
    /// The user namespace asked for, or None for the host's. Reads the subordinate id files
    /// for `--userns-remap`; makes nothing.
    pub fn resolve(&self) -> Result<Option<UserNamespace>> {
        let mapped = self.remap.is_some() || !self.uidmap.is_empty() || !self.gidmap.is_empty();
        match self.userns.as_deref() {
            None => {}
            Some("host") if mapped => {
                let other = if self.remap.is_some() {
                    "--userns-remap"
                } else {
                    "--uidmap/--gidmap"
                };
                return Err(flag_err(
                    "--userns",
                    "host",
                    format!("conflicts with {other} (host means no user namespace)"),
                ));
            }
            Some("host") => return Ok(None),
            Some(other) => {
                return Err(flag_err(
                    "--userns",
                    other,
                    "only host is supported; use --userns-remap or --uidmap for a user namespace",
                ))
            }
        }
        let userns = match &self.remap {
            Some(_) if !self.uidmap.is_empty() || !self.gidmap.is_empty() => {
                return Err(flag_err(
                    "--userns-remap",
                    self.remap.as_deref().unwrap_or_default(),
                    "conflicts with --uidmap/--gidmap",
                ))
            }
            Some(spec) => remap(spec)?,
            None if !self.uidmap.is_empty() => {
                let uid_map = parse_ranges("--uidmap", &self.uidmap)?;
                let gid_map = if self.gidmap.is_empty() {
                    uid_map.clone()
                } else {
                    parse_ranges("--gidmap", &self.gidmap)?
                };
                UserNamespace {
                    uid_map,
                    gid_map,
                    source: "--uidmap".into(),
                }
            }
            None if !self.gidmap.is_empty() => {
                return Err(flag_err("--gidmap", &self.gidmap[0], "needs --uidmap too"))
            }
            None => return Ok(None),
        };
        userns.check().map_err(|e| RootfsError::Spec {
            what: "user namespace",
            spec: userns.source.clone(),
            reason: e.to_string(),
        })?;
        Ok(Some(userns))
    }
}

/// `CONTAINER:HOST:SIZE` each.
fn parse_ranges(flag: &'static str, specs: &[String]) -> Result<Vec<IdRange>> {
    specs
        .iter()
        .map(|spec| {
            let parts: Vec<&str> = spec.split(':').collect();
            let numbers: Option<Vec<u32>> = parts.iter().map(|p| p.trim().parse().ok()).collect();
            match numbers.as_deref() {
                Some([container, host, size]) => Ok(IdRange {
                    container: *container,
                    host: *host,
                    size: *size,
                }),
                _ => Err(flag_err(
                    flag,
                    spec,
                    "expected CONTAINER:HOST:SIZE (three numbers)",
                )),
            }
        })
        .collect()
}

/// `--userns-remap NAME[:GROUP]` (`default` = berth).
fn remap(spec: &str) -> Result<UserNamespace> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, spec),
    };
    let (user, group) = match (user, group) {
        ("default", "default") => (DEFAULT_REMAP_USER, DEFAULT_REMAP_USER),
        ("default", g) => (DEFAULT_REMAP_USER, g),
        (u, g) => (u, g),
    };
    if user.is_empty() || group.is_empty() {
        return Err(flag_err(
            "--userns-remap",
            spec,
            "expected NAME[:GROUP] (or default)",
        ));
    }
    let subuid = file_from_env(SUBUID_ENV, "/etc/subuid");
    let subgid = file_from_env(SUBGID_ENV, "/etc/subgid");
    remap_from(user, group, &subuid, &subgid)
}

/// The maps of `user` and `group` in the subordinate id files `subuid` and `subgid`.
fn remap_from(user: &str, group: &str, subuid: &Path, subgid: &Path) -> Result<UserNamespace> {
    let (subuid, subgid) = (subuid.to_path_buf(), subgid.to_path_buf());
    let uid_map = ranges_of(&subuid, user, (&subuid, &subgid))?;
    let gid_map = ranges_of(&subgid, group, (&subuid, &subgid))?;
    Ok(UserNamespace {
        uid_map,
        gid_map,
        source: format!("--userns-remap {user}:{group}"),
    })
}

fn file_from_env(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// Every `name:start:count` line for `name` in `file`, lowest host id first, as
/// consecutive container ids from 0 (as dockerd's createIDMap sorts and maps them). `files`
/// are both files, to say what to add when there is none.
fn ranges_of(file: &Path, name: &str, files: (&Path, &Path)) -> Result<Vec<IdRange>> {
    let missing = |why: String| RootfsError::Subid {
        file: file.to_path_buf(),
        reason: format!(
            "{why}; add a line `{name}:{SUGGESTED}` (NAME:FIRST_ID:COUNT, a range no other \
             user has) to {} and {} (berth does not edit them)",
            files.0.display(),
            files.1.display()
        ),
    };
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(missing("the file does not exist".into()))
        }
        Err(e) => {
            return Err(RootfsError::Subid {
                file: file.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    let mut found: Vec<(u32, u32)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() != Some(&name) {
            continue;
        }
        let bad = |reason: &str| RootfsError::Subid {
            file: file.to_path_buf(),
            reason: format!("line {}: {line:?}: {reason}", n + 1),
        };
        let (Some(start), Some(count)) = (
            fields.get(1).and_then(|s| s.parse::<u32>().ok()),
            fields.get(2).and_then(|s| s.parse::<u32>().ok()),
        ) else {
            return Err(bad("expected NAME:FIRST_ID:COUNT"));
        };
        if fields.len() != 3 || count == 0 {
            return Err(bad("expected NAME:FIRST_ID:COUNT with a COUNT above 0"));
        }
        if start == 0 {
            return Err(bad(
                "the range starts at host id 0: the container's root would be the host's root",
            ));
        }
        found.push((start, count));
    }
    if found.is_empty() {
        return Err(missing(format!("no range for {name}")));
    }
    found.sort_unstable();
    let mut ranges = Vec::new();
    let mut next_container_id: u64 = 0;
    for (start, count) in found {
        let container = u32::try_from(next_container_id).map_err(|_| RootfsError::Subid {
            file: file.to_path_buf(),
            reason: format!("the ranges of {name} hold more ids than a container has"),
        })?;
        next_container_id += u64::from(count);
        ranges.push(IdRange {
            container,
            host: start,
            size: count,
        });
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(userns: Option<&str>, remap: Option<&str>, uid: &[&str], gid: &[&str]) -> UsernsRequest {
        UsernsRequest {
            userns: userns.map(String::from),
            remap: remap.map(String::from),
            uidmap: uid.iter().map(|s| s.to_string()).collect(),
            gidmap: gid.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn host_and_nothing_mean_no_user_namespace() {
        assert_eq!(req(None, None, &[], &[]).resolve().unwrap(), None);
        assert_eq!(req(Some("host"), None, &[], &[]).resolve().unwrap(), None);
        let err = req(Some("host"), Some("default"), &[], &[])
            .resolve()
            .unwrap_err();
        assert!(
            err.to_string().contains("conflicts with --userns-remap"),
            "{err}"
        );
        let err = req(Some("private"), None, &[], &[]).resolve().unwrap_err();
        assert!(err.to_string().contains("only host"), "{err}");
        let err = req(None, Some("x"), &["0:1:1"], &[]).resolve().unwrap_err();
        assert!(err.to_string().contains("conflicts with --uidmap"), "{err}");
    }

    #[test]
    fn explicit_maps_default_gid_to_uid_and_are_checked() {
        let ns = req(None, None, &["0:100000:1000", "1000:200000:10"], &[])
            .resolve()
            .unwrap()
            .unwrap();
        assert_eq!(ns.uid_map, ns.gid_map);
        assert_eq!(ns.host_uid(1001), Some(200001));
        let ns = req(None, None, &["0:100000:10"], &["0:5000:10"])
            .resolve()
            .unwrap()
            .unwrap();
        assert_eq!(ns.host_root(), (100000, 5000));
        for (uid, gid, want) in [
            (&["0:1"][..], &[][..], "three numbers"),
            (&["1:100000:10"][..], &[][..], "container id 0"),
            (&[][..], &["0:1:1"][..], "needs --uidmap"),
        ] {
            let err = req(None, None, uid, gid).resolve().unwrap_err().to_string();
            assert!(err.contains(want), "{uid:?} {gid:?}: {err}");
        }
    }

    #[test]
    fn subid_files_give_every_range_or_say_what_to_add() {
        let dir = tempfile::tempdir().unwrap();
        let subuid = dir.path().join("subuid");
        let subgid = dir.path().join("subgid");
        std::fs::write(
            &subuid,
            "# c\nalice:100000:65536\nberth:900000:5\nberth:200000:65536\n",
        )
        .unwrap();
        std::fs::write(&subgid, "berth:300000:1000\nstaff:400000:10\n").unwrap();
        let files = (subuid.as_path(), subgid.as_path());
        let range = |container, host, size| IdRange {
            container,
            host,
            size,
        };
        assert_eq!(
            ranges_of(&subuid, "berth", files).unwrap(),
            [range(0, 200000, 65536), range(65536, 900000, 5)],
            "several ranges follow each other in container ids, lowest host id first"
        );
        assert_eq!(
            ranges_of(&subgid, "staff", files).unwrap(),
            [range(0, 400000, 10)]
        );
        let err = ranges_of(&subgid, "alice", files).unwrap_err().to_string();
        assert!(
            err.contains(&subgid.display().to_string())
                && err.contains("no range for alice")
                && err.contains("alice:100000:65536"),
            "{err}"
        );
        let gone = dir.path().join("nope");
        let err = ranges_of(&gone, "berth", (&gone, &subgid))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("does not exist") && err.contains("berth:100000:65536"),
            "{err}"
        );
        std::fs::write(&subuid, "root:0:65536\nbad:x:1\n").unwrap();
        let err = ranges_of(&subuid, "root", files).unwrap_err().to_string();
        assert!(err.contains("host id 0"), "{err}");
        let err = ranges_of(&subuid, "bad", files).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        // overlapping ranges fail the map check that `resolve` runs on every map
        std::fs::write(&subuid, "berth:200000:100\nberth:200050:100\n").unwrap();
        let userns = remap_from("berth", "berth", &subuid, &subgid).unwrap();
        assert_eq!(userns.uid_map.len(), 2);
        let err = userns.check().unwrap_err().to_string();
        assert!(err.contains("host ids overlap"), "{err}");
    }
}
