//! `--user`: `uid[:gid]` or names, resolved through the container's own /etc/passwd and
//! /etc/group (read after pivot_root, so the image's files, never the host's).

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, the primary gid first.
    pub groups: Vec<u32>,
    pub home: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn passwd(etc: &Path) -> Vec<PasswdEntry> {
    let text = std::fs::read_to_string(etc.join("passwd")).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).unwrap_or(&"/").to_string(),
            })
        })
        .collect()
}

/// (name, gid, members)
fn groups(etc: &Path) -> Vec<(String, u32, Vec<String>)> {
    let text = std::fs::read_to_string(etc.join("group")).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, members))
        })
        .collect()
}

/// Resolves `spec` (empty means root) against the files in `etc`.
pub fn resolve(spec: &str, etc: &Path) -> Result<ResolvedUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let users = passwd(etc);
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => users.iter().find(|e| e.uid == uid),
        Err(_) => Some(
            users
                .iter()
                .find(|e| e.name == user_part)
                .ok_or_else(|| UserError::NoUser(user_part.to_string()))?,
        ),
    };
    let uid = entry.map_or_else(|| user_part.parse().expect("numeric"), |e| e.uid);
    let all_groups = groups(etc);
    let gid = match group_part {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => all_groups
                .iter()
                .find(|(n, _, _)| n == g)
                .map(|(_, gid, _)| *gid)
                .ok_or_else(|| UserError::NoGroup(g.to_string()))?,
        },
        None => entry.map_or(0, |e| e.gid),
    };
    let mut groups = vec![gid];
    if group_part.is_none() {
        if let Some(entry) = entry {
            for (_, g, members) in &all_groups {
                if members.contains(&entry.name) && !groups.contains(g) {
                    groups.push(*g);
                }
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        groups,
        home: entry.map_or_else(|| "/".to_string(), |e| e.home.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etc() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("group"),
            "root:x:0:\nalice:x:1000:\naudio:x:29:alice\nvideo:x:44:bob,alice\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn names_and_numbers_resolve_with_supplementary_groups() {
        let etc = etc();
        let alice = resolve("alice", etc.path()).unwrap();
        assert_eq!(
            (
                alice.uid,
                alice.gid,
                alice.groups.clone(),
                alice.home.as_str()
            ),
            (1000, 1000, vec![1000, 29, 44], "/home/alice")
        );
        assert_eq!(resolve("1000:29", etc.path()).unwrap().groups, vec![29]);
        assert_eq!(resolve("alice:video", etc.path()).unwrap().gid, 44);
        let unknown_uid = resolve("4242", etc.path()).unwrap();
        assert_eq!((unknown_uid.uid, unknown_uid.gid), (4242, 0));
        assert_eq!(resolve("", etc.path()).unwrap().uid, 0);
    }

    #[test]
    fn unknown_names_are_errors_not_root() {
        let etc = etc();
        assert!(matches!(
            resolve("mallory", etc.path()),
            Err(UserError::NoUser(_))
        ));
        assert!(matches!(
            resolve("alice:nogroup", etc.path()),
            Err(UserError::NoGroup(_))
        ));
    }
}
