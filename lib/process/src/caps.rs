//! Capabilities: Docker's default set, `--cap-add/--cap-drop`, `--privileged`, applied in
//! the order the kernel needs (bounding set first, then after the uid change the
//! permitted/effective/inheritable sets; ambient always empty).

use std::collections::HashSet;

use caps::{CapSet, Capability};

/// Docker's 14 default capabilities (CapEff 00000000a80425fb for root).
pub const DOCKER_DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("unknown capability {0:?}")]
    Unknown(String),
    #[error("{op}: {source}")]
    Apply {
        op: &'static str,
        source: caps::errors::CapsError,
    },
}

/// Parses `NET_ADMIN`, `CAP_NET_ADMIN`, `net_admin` or `ALL`.
fn parse(name: &str) -> Result<Vec<Capability>, CapsError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(caps::all().into_iter().collect());
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    full.parse::<Capability>()
        .map(|c| vec![c])
        .map_err(|_| CapsError::Unknown(name.to_string()))
}

/// The set a container gets: Docker's default (or all with `privileged`), plus adds, minus drops.
pub fn resolve(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<HashSet<Capability>, CapsError> {
    let mut set: HashSet<Capability> = if privileged {
        caps::all().into_iter().collect()
    } else {
        DOCKER_DEFAULT.into_iter().collect()
    };
    for name in add {
        set.extend(parse(name)?);
    }
    for name in drop {
        for cap in parse(name)? {
            set.remove(&cap);
        }
    }
    // Only what this kernel knows and berth itself holds (root may lack some, e.g.
    // CAP_SYS_RESOURCE in some VMs): a process cannot grant more than it has.
    let known = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
    let held = caps::read(None, CapSet::Permitted).unwrap_or_else(|_| caps::all());
    set.retain(|c| known.contains(c) && held.contains(c));
    Ok(set)
}

/// A set from `CAP_*` names (as `names` writes them).
pub fn from_names(names: &[String]) -> Result<HashSet<Capability>, CapsError> {
    let mut set = HashSet::new();
    for name in names {
        set.extend(parse(name)?);
    }
    Ok(set)
}

/// Names as `CAP_*`, for seccomp's cap-gated rules.
pub fn names(set: &HashSet<Capability>) -> Vec<String> {
    let mut names: Vec<String> = set.iter().map(|c| c.to_string()).collect();
    names.sort();
    names
}

/// Drops every capability outside `keep` from the bounding set. Needs CAP_SETPCAP; done
/// before the uid changes.
pub fn limit_bounding(keep: &HashSet<Capability>) -> Result<(), CapsError> {
    let known = caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all());
    for cap in known.iter().filter(|c| !keep.contains(c)) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(|source| CapsError::Apply {
            op: "drop from the bounding set",
            source,
        })?;
    }
    Ok(())
}

/// After the uid change: root gets `keep` as permitted and effective; a non-root user ends
/// with none (the kernel cleared them at setuid). Inheritable and ambient stay empty, as
/// in Docker.
pub fn set_process_caps(keep: &HashSet<Capability>, root: bool) -> Result<(), CapsError> {
    let apply = |set, caps: &HashSet<Capability>, op| {
        caps::set(None, set, caps).map_err(|source| CapsError::Apply { op, source })
    };
    let empty = HashSet::new();
    let target = if root { keep } else { &empty };
    apply(CapSet::Inheritable, &empty, "clear inheritable")?;
    apply(CapSet::Effective, &empty, "clear effective")?;
    apply(CapSet::Permitted, target, "set permitted")?;
    apply(CapSet::Effective, target, "set effective")?;
    caps::clear(None, CapSet::Ambient).map_err(|source| CapsError::Apply {
        op: "clear ambient",
        source,
    })
}

impl CapsError {
    /// What kind of failure this is, for a caller that answers requests.
    pub fn kind(&self) -> berth_common::ErrorKind {
        match self {
            CapsError::Unknown(_) => berth_common::ErrorKind::InvalidInput,
            CapsError::Apply { .. } => berth_common::ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_matches_dockers_mask() {
        let set = resolve(&[], &[], false).unwrap();
        let mask: u64 = set.iter().map(|c| 1u64 << c.index()).sum();
        assert_eq!(mask, 0xa80425fb);
    }

    #[test]
    fn add_and_drop_accept_docker_spellings() {
        let set = resolve(
            &["net_admin".into()],
            &["CAP_CHOWN".into(), "MKNOD".into()],
            false,
        )
        .unwrap();
        assert!(set.contains(&Capability::CAP_NET_ADMIN));
        assert!(!set.contains(&Capability::CAP_CHOWN));
        assert!(!set.contains(&Capability::CAP_MKNOD));
        assert!(resolve(&["NOPE".into()], &[], false).is_err());
        assert!(resolve(&[], &["ALL".into()], false).unwrap().is_empty());
    }
}
