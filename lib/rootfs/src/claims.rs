//! Named volumes a container will mount but has not yet: a container made by berthd
//! (`docker create -v data:/d`) holds no rootfs state until its first start, yet its
//! volumes are in use from the create on, for `berth-mount volume rm` as for the API.
//! `<root>/containers/<id>/volume-claims.json`, a JSON array of volume names, goes with
//! the container's directory.

use berth_common::{ContainerId, Paths};

use crate::error::{io_err, Result};

pub const CLAIMS_FILE: &str = "volume-claims.json";

/// Records that container `id` will mount the named volumes `names`.
pub fn claim(paths: &Paths, id: &ContainerId, names: &[String]) -> Result<()> {
    let path = paths.container_dir(id).join(CLAIMS_FILE);
    berth_common::json_file::write_atomic(&path, names)
        .map_err(|e| io_err("writing", e.path)(e.source))
}

/// The named volumes container `id` claims (none without a claims file; an unreadable
/// one claims nothing, as it cannot say what).
pub fn claimed(paths: &Paths, id: &ContainerId) -> Vec<String> {
    let path = paths.container_dir(id).join(CLAIMS_FILE);
    berth_common::json_file::read_if_exists::<Vec<String>>(&path)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// The first container that claims volume `name`.
pub fn claimant(paths: &Paths, name: &str) -> Result<Option<ContainerId>> {
    for id in berth_common::registry::ids(paths)? {
        if claimed(paths, &id).iter().any(|n| n == name) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}
