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

/// The filter installer for `spec`, or None when unconfined. `cache` (under the run dir)
/// keeps compiled programs between starts.
pub fn filter_for(
    options: &ProcessOptions,
    spec: &ContainerSpec,
    cache: Option<&std::path::Path>,
) -> Result<Option<Installer>, SeccompSetupError> {
    let caps = crate::caps::names(&spec.caps);
    let (shown, profile) = match options.seccomp() {
        SeccompChoice::Unconfined => return Ok(None),
        SeccompChoice::Default => (
            "(docker default)".to_string(),
            berth_seccomp::DOCKER_DEFAULT_JSON.as_bytes().to_vec(),
        ),
        SeccompChoice::Profile(path) => {
            let json = std::fs::read(&path).map_err(|source| SeccompSetupError::Read {
                path: path.clone(),
                source,
            })?;
            (path.display().to_string(), json)
        }
    };
    let program = berth_seccomp::cache::compiled(cache, &profile, &caps).map_err(|source| {
        SeccompSetupError::Profile {
            path: shown,
            source,
        }
    })?;
    Ok(Some(Box::new(move || {
        program.install().map_err(|e| e.to_string())
    })))
}

impl SeccompSetupError {
    /// A profile the request named that cannot be read or used: the request's fault.
    pub fn kind(&self) -> berth_common::ErrorKind {
        match self {
            SeccompSetupError::Read { .. } | SeccompSetupError::Profile { .. } => {
                berth_common::ErrorKind::InvalidInput
            }
        }
    }
}
