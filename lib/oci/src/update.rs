//! `update --resources FILE|-`: new limits (a runtime spec `linux.resources`) on a
//! container's cgroups, through berth-cgroups' limit writers.

use std::io::Read;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::state::{Container, Status};
use crate::{cgroups, OciError};

/// `source`: a path, or `-` for stdin.
pub fn update(root: &Path, id: &str, source: &str) -> Result<(), OciError> {
    let container = Container::load(root, id)?;
    if container.status() == Status::Stopped {
        return Err(OciError::Status {
            id: id.to_string(),
            reason: "container not running".into(),
        });
    }
    let mut text = Vec::new();
    if source == "-" {
        std::io::stdin()
            .read_to_end(&mut text)
            .map_err(OciError::io("read", "stdin"))?;
    } else {
        text = std::fs::read(source).map_err(OciError::io("read", source))?;
    }
    let resources: LinuxResources =
        serde_json::from_slice(&text).map_err(|e| OciError::Config {
            path: source.into(),
            reason: e.to_string(),
        })?;
    let limits = berth_cgroups::limits::effective(&cgroups::limits(Some(&resources))?)?;
    let part = container.cgroup()?;
    let root = Path::new(berth_cgroups::DEFAULT_ROOT);
    if part.mode == "v2" {
        if let Some(dir) = part.paths.get("unified") {
            berth_cgroups::limits::apply_v2(dir, &limits)?;
        }
    } else {
        berth_cgroups::limits::apply_v1(&part.paths, &limits, root)?;
    }
    Ok(())
}
