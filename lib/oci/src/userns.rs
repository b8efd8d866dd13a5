//! A user namespace from `linux.uidMappings`/`gidMappings` (with `user` in
//! `linux.namespaces`): berth-process's, the init born in it with its maps written before it
//! goes on. The rootfs is used as it is: its owners must be the mapped ids (as with runc).

use berth_common::{IdRange, UserNamespace};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::OciError;

fn ranges(list: &Option<Vec<LinuxIdMapping>>) -> Vec<IdRange> {
    list.iter()
        .flatten()
        .map(|m| IdRange {
            container: m.container_id(),
            host: m.host_id(),
            size: m.size(),
        })
        .collect()
}

pub fn from_spec(spec: &Spec) -> Result<Option<UserNamespace>, OciError> {
    let Some(linux) = spec.linux() else {
        return Ok(None);
    };
    let listed = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User);
    let uid_map = ranges(linux.uid_mappings());
    let gid_map = ranges(linux.gid_mappings());
    match (listed, uid_map.is_empty(), gid_map.is_empty()) {
        (false, true, true) => Ok(None),
        (false, _, _) => Err(OciError::unsupported(
            "linux.uidMappings",
            "mappings without a user namespace in linux.namespaces",
        )),
        (true, false, false) => Ok(Some(UserNamespace {
            uid_map,
            gid_map,
            source: "config.json".into(),
        })),
        (true, _, _) => Err(OciError::unsupported(
            "linux.uidMappings",
            "a user namespace needs both uid and gid mappings",
        )),
    }
}
