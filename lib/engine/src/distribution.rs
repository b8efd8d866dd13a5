//! `docker pull` and `docker push` for berthd: berth-distribution's pull into the root's
//! store and push from it, their progress written by berth-distribution's one renderer of
//! dockerd's messages (`DockerStream`) so the CLI draws its usual bars; a client that goes
//! away cancels the pull. An image `pull` or `push` event when done.

use std::sync::Arc;

use base64::Engine as _;
use berth_api::distribution::{PullRequest, RegistryAuth};
use berth_api::{BackendError, DistributionBackend};
use berth_distribution::auth::Credentials;
use berth_distribution::{
    pull, DistributionError, DockerStream, Platform, PullOptions, Registry, RegistryOptions,
    RemoteRef,
};
use serde_json::Value;

use crate::images::image_error;
use crate::Engine;

pub(crate) struct Distribution(pub Arc<Engine>);

fn backend_error(e: DistributionError) -> BackendError {
    BackendError::new(e.kind(), e.to_string())
}

impl DistributionBackend for Distribution {
    fn pull(
        &self,
        request: &PullRequest,
        progress: &mut (dyn FnMut(Value) -> bool + Send),
    ) -> Result<(), BackendError> {
        let reference = RemoteRef::parse(&request.reference).map_err(backend_error)?;
        let platform = request
            .platform
            .as_deref()
            .map(Platform::parse)
            .transpose()
            .map_err(backend_error)?;
        let options = RegistryOptions {
            insecure: self.0.settings().insecure_registries.clone(),
            credentials: request.auth.as_ref().and_then(credentials_of),
            docker_config: false,
            identity_token: request.auth.as_ref().and_then(identity_token),
        };
        let registry = Registry::connect(&reference.registry, reference.api_host(), &options)
            .map_err(backend_error)?;
        let store = self.0.store()?;
        let lines = docker_stream(progress);
        let opts = PullOptions {
            platform,
            progress: &lines,
            ..PullOptions::default()
        };
        pull(&store, &registry, &reference, &opts).map_err(backend_error)?;
        self.0
            .image_event("pull", &reference.to_string(), &reference.familiar_name());
        Ok(())
    }

    fn import(
        &self,
        path: &std::path::Path,
        name: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<String, BackendError> {
        let mut config = berth_image::spec::RunConfig::default();
        for change in changes {
            berth_image::changes::apply_change(&mut config, change).map_err(image_error)?;
        }
        let store = self.0.store()?;
        let source = berth_image::formats::LayerSource::file(path).map_err(image_error)?;
        let image = berth_image::import::import_rootfs(
            &store,
            source,
            "the uploaded tarball",
            name,
            config,
            message,
            &berth_image::import::ImportOptions::default(),
        )
        .map_err(image_error)?;
        let shown = image.names.first().map_or("", String::as_str);
        self.0.image_event("import", image.id.as_str(), shown);
        Ok(image.id.to_string())
    }

    fn fetch(&self, url: &str, path: &std::path::Path) -> Result<(), BackendError> {
        berth_distribution::fetch::download(url, path)
            .map(drop)
            .map_err(backend_error)
    }

    fn login(&self, auth: &RegistryAuth) -> Result<(), BackendError> {
        let registry = berth_distribution::login::registry_of(auth.serveraddress.as_deref());
        let credentials = credentials_of(auth).ok_or_else(|| {
            BackendError::new(
                berth_common::ErrorKind::InvalidInput,
                format!("login to {registry}: no credentials given (a username and password)"),
            )
        })?;
        let insecure = &self.0.settings().insecure_registries;
        berth_distribution::login::verify(&registry, &credentials, insecure).map_err(backend_error)
    }

    fn push(
        &self,
        name: &str,
        tag: &str,
        auth: Option<RegistryAuth>,
        progress: &mut (dyn FnMut(Value) -> bool + Send),
    ) -> Result<(), BackendError> {
        let asked = format!("{name}:{tag}");
        let store = self.0.store()?;
        let image = store.resolve(&asked).map_err(|e| match e {
            berth_image::ImageError::NotFound(_) => BackendError::not_found(format!(
                "An image does not exist locally with the tag: {name}"
            )),
            e => image_error(e),
        })?;
        let reference = RemoteRef::parse(&asked).map_err(backend_error)?;
        let options = RegistryOptions {
            insecure: self.0.settings().insecure_registries.clone(),
            credentials: auth.as_ref().and_then(credentials_of),
            docker_config: false,
            identity_token: auth.as_ref().and_then(identity_token),
        };
        let registry = Registry::connect(&reference.registry, reference.api_host(), &options)
            .map_err(backend_error)?;
        let lines = docker_stream(progress);
        berth_distribution::push::push(&store, &registry, &image, &reference, &lines)
            .map_err(backend_error)?;
        self.0
            .image_event("push", &asked, &reference.familiar_name());
        Ok(())
    }
}

/// The API's sink for dockerd's messages.
fn docker_stream<'a>(progress: &'a mut (dyn FnMut(Value) -> bool + Send)) -> DockerStream<'a> {
    DockerStream::new(move |message| {
        progress(serde_json::to_value(&message).expect("a message serialises"))
    })
}

/// The OAuth refresh token the client sent, if any.
fn identity_token(auth: &RegistryAuth) -> Option<String> {
    auth.identitytoken.clone().filter(|t| !t.is_empty())
}

/// What the client sent: a user and password, or config.json's base64 `auth`.
fn credentials_of(auth: &RegistryAuth) -> Option<Credentials> {
    if let (Some(username), Some(password)) = (&auth.username, &auth.password) {
        if !username.is_empty() {
            return Some(Credentials {
                username: username.clone(),
                password: password.clone(),
            });
        }
    }
    let pair = base64::engine::general_purpose::STANDARD
        .decode(auth.auth.as_deref()?.trim())
        .ok()?;
    let (username, password) = std::str::from_utf8(&pair).ok()?.split_once(':')?;
    Some(Credentials {
        username: username.into(),
        password: password.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials() {
        let auth = RegistryAuth {
            auth: Some(base64::engine::general_purpose::STANDARD.encode("u:p")),
            ..RegistryAuth::default()
        };
        let c = credentials_of(&auth).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert!(credentials_of(&RegistryAuth::default()).is_none());
    }
}
