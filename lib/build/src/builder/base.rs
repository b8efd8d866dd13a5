//! A stage's base image: the store's, or pulled through lib/distribution when the store
//! does not have it (always, with `--pull`); either way checked against the platform the
//! stage is for (`FROM --platform`, else `--platform`, else the host's).

use berth_distribution::{pull, Platform, PullOptions, Registry, RegistryOptions, RemoteRef};

use super::*;

type BaseResult<T> = std::result::Result<T, (String, ErrorKind)>;

impl Build<'_> {
    /// The image `base` names, for `platform`; the error's reason and kind for the FROM
    /// step's error.
    pub(super) fn base_image(&self, base: &str, platform: Option<&str>) -> BaseResult<ImageInfo> {
        let wanted = match platform.or(self.opts.platform.as_deref()) {
            Some(p) => Platform::parse(p).map_err(|e| (e.to_string(), e.kind()))?,
            None => Platform::host(),
        };
        let local = if self.opts.pull {
            None
        } else {
            match self.store.resolve(base) {
                Ok(image) => Some(image),
                Err(berth_image::ImageError::NotFound(_)) => None,
                Err(e) => return Err((e.to_string(), e.kind())),
            }
        };
        let image = match local {
            Some(image) => image,
            None => self.pull_base(base, &wanted)?,
        };
        let (_, config) = self
            .store
            .config_of(&image)
            .map_err(|e| (e.to_string(), e.kind()))?;
        let os = config.typed.os().to_string();
        let arch = config.typed.architecture().to_string();
        let variant = config.typed.variant().clone();
        // A config that names no platform (some hand-made images) cannot be checked.
        if !arch.is_empty() && !wanted.matches(&os, &arch, variant.as_deref()) {
            let shown = match &variant {
                Some(v) => format!("{os}/{arch}/{v}"),
                None => format!("{os}/{arch}"),
            };
            return Err((
                format!("{base}: the image is for {shown}, not the platform {wanted} this stage is built for"),
                ErrorKind::InvalidInput,
            ));
        }
        Ok(image)
    }

    fn pull_base(&self, base: &str, platform: &Platform) -> BaseResult<ImageInfo> {
        let failed =
            |e: berth_distribution::DistributionError| (format!("pulling {base}: {e}"), e.kind());
        let reference = RemoteRef::parse(base).map_err(failed)?;
        let options = RegistryOptions {
            insecure: self.opts.insecure_registries.clone(),
            credentials: None,
            docker_config: self.opts.docker_config,
            identity_token: None,
        };
        let registry = Registry::connect(&reference.registry, reference.api_host(), &options)
            .map_err(failed)?;
        let pull_options = PullOptions {
            platform: Some(platform.clone()),
            ..PullOptions::default()
        };
        tracing::info!(image = base, "pulling the base image");
        Ok(pull(self.store, &registry, &reference, &pull_options)
            .map_err(failed)?
            .image)
    }
}
