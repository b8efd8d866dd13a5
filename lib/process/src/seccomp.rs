//! Which seccomp filter a container gets: Docker's default (with the rules its
//! capabilities open), a Docker-format profile file, or none (`unconfined`,
//! `--privileged`). Compiled before fork; installed in the child by `spawn`.

use crate::options::{ProcessOptions, SeccompChoice};
use crate::spawn::ContainerSpec;

#[derive(Debug, thiserror::Error)]
pub enum SeccompSetupError {
    #[error("cannot read seccomp profile {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("seccomp profile {path}: {source}")]
    Profile {
        path: String,
        source: berth_seccomp::Error,
    },
}

pub type Installer = Box<dyn Fn() -> Result<(), String>>;

/// The filter installer for `spec`, or None when unconfined.
pub fn filter_for(
    options: &ProcessOptions,
    spec: &ContainerSpec,
) -> Result<Option<Installer>, SeccompSetupError> {
    let caps = crate::caps::names(&spec.caps);
    let filter = match options.seccomp() {
        SeccompChoice::Unconfined => return Ok(None),
        SeccompChoice::Default => {
            berth_seccomp::docker_default(&caps).map_err(|source| SeccompSetupError::Profile {
                path: "(docker default)".into(),
                source,
            })?
        }
        SeccompChoice::Profile(path) => {
            let json = std::fs::read(&path).map_err(|source| SeccompSetupError::Read {
                path: path.clone(),
                source,
            })?;
            berth_seccomp::from_profile_json(&json, &caps).map_err(|source| {
                SeccompSetupError::Profile {
                    path: path.display().to_string(),
                    source,
                }
            })?
        }
    };
    Ok(Some(Box::new(move || {
        filter.apply().map_err(|e| e.to_string())
    })))
}
