//! `docker pull` for berthd: berth-distribution's pull into the root's store, its progress
//! written as dockerd writes it (`Pulling fs layer`, `Downloading` with a bar,
//! `Pull complete`, `Digest:`, `Status:`) so the CLI draws its usual bars; an image `pull`
//! event when done.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use berth_api::distribution::{PullRequest, RegistryAuth};
use berth_api::{BackendError, DistributionBackend};
use berth_distribution::auth::Credentials;
use berth_distribution::{
    pull, DistributionError, LayerEvent, Platform, PullOptions, PullProgress, Registry,
    RegistryOptions, RemoteRef,
};
use berth_image::Digest;
use serde_json::{json, Value};

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
        };
        let registry = Registry::connect(&reference.registry, reference.api_host(), &options)
            .map_err(backend_error)?;
        let store = self.0.store()?;
        let lines = DockerLines {
            sink: Mutex::new(progress),
            last: Mutex::default(),
        };
        let opts = PullOptions {
            platform,
            progress: &lines,
            ..PullOptions::default()
        };
        let pulled = pull(&store, &registry, &reference, &opts).map_err(backend_error)?;
        lines.send(json!({ "status": format!("Digest: {}", pulled.digest) }));
        let status = if pulled.downloaded {
            format!("Status: Downloaded newer image for {reference}")
        } else {
            format!("Status: Image is up to date for {reference}")
        };
        lines.send(json!({ "status": status }));
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

    fn login(&self, auth: &RegistryAuth) -> Result<(), BackendError> {
        let registry = berth_distribution::login::registry_of(auth.serveraddress.as_deref());
        let credentials = credentials_of(auth).ok_or_else(|| {
            BackendError::new(
                berth_common::ErrorKind::InvalidInput,
                "no credentials given",
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
        };
        let registry = Registry::connect(&reference.registry, reference.api_host(), &options)
            .map_err(backend_error)?;
        let lines = DockerLines {
            sink: Mutex::new(progress),
            last: Mutex::default(),
        };
        lines.send(json!({
            "status": format!("The push refers to repository [{}]", reference.familiar_name())
        }));
        let pushed = berth_distribution::push::push(&store, &registry, &image, &reference, &lines)
            .map_err(backend_error)?;
        let status = format!(
            "{}: digest: {} size: {}",
            pushed.tag, pushed.digest, pushed.size
        );
        lines.send(json!({ "status": status }));
        lines.send(json!({
            "progressDetail": {},
            "aux": { "Tag": pushed.tag, "Digest": pushed.digest.to_string(), "Size": pushed.size },
        }));
        self.0
            .image_event("push", &asked, &reference.familiar_name());
        Ok(())
    }
}

impl berth_distribution::push::PushProgress for DockerLines<'_> {
    fn blob(&self, id: &Digest, event: berth_distribution::push::PushEvent<'_>) {
        use berth_distribution::push::PushEvent;
        let status = match event {
            PushEvent::Preparing => "Preparing",
            PushEvent::AlreadyExists => "Layer already exists",
            PushEvent::Mounted(from) => {
                let status = format!("Mounted from {from}");
                self.send(json!({ "status": status, "progressDetail": {}, "id": short(id) }));
                return;
            }
            PushEvent::Pushed => "Pushed",
        };
        self.send(json!({ "status": status, "progressDetail": {}, "id": short(id) }));
    }
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

/// Bytes between two `Downloading` lines of one layer: enough to move the bar, few
/// enough lines.
const LINE_EVERY: u64 = 512 << 10;

struct DockerLines<'a> {
    sink: Mutex<&'a mut (dyn FnMut(Value) -> bool + Send)>,
    /// The bytes at each layer's last `Downloading` line.
    last: Mutex<std::collections::HashMap<Digest, u64>>,
}

impl DockerLines<'_> {
    fn send(&self, line: Value) {
        let mut sink = self.sink.lock().expect("progress sink");
        // A client that went away stops getting lines; the pull itself finishes.
        let _ = (*sink)(line);
    }
}

fn short(id: &Digest) -> String {
    id.hex()[..12].to_string()
}

impl PullProgress for DockerLines<'_> {
    fn resolved(&self, reference: &RemoteRef, digest: &Digest) {
        let id = reference.tag.clone().unwrap_or_else(|| digest.to_string());
        self.send(json!({ "status": format!("Pulling from {}", reference.repository), "id": id }));
    }

    fn layer(&self, id: &Digest, event: LayerEvent) {
        let short = short(id);
        let line = |status: &str| json!({ "status": status, "progressDetail": {}, "id": short });
        match event {
            LayerEvent::Waiting => self.send(line("Pulling fs layer")),
            LayerEvent::AlreadyExists => self.send(line("Already exists")),
            LayerEvent::Downloading { done, total } => {
                {
                    let mut last = self.last.lock().expect("progress state");
                    let at = last.entry(id.clone()).or_insert(0);
                    if done < total && done < *at + LINE_EVERY {
                        return;
                    }
                    *at = done;
                }
                self.send(json!({
                    "status": "Downloading",
                    "progressDetail": { "current": done, "total": total },
                    "progress": bar(done, total),
                    "id": short,
                }));
            }
            LayerEvent::Complete => {
                self.send(line("Download complete"));
                self.send(line("Pull complete"));
            }
        }
    }
}

/// dockerd's bar: 50 columns of `=` up to a `>`, then the sizes.
fn bar(done: u64, total: u64) -> String {
    let width = 50u64;
    let filled = (done.min(total) * width)
        .checked_div(total)
        .unwrap_or(width);
    let mut text = String::from("[");
    for i in 0..width {
        text.push(match i.cmp(&filled) {
            std::cmp::Ordering::Less => '=',
            std::cmp::Ordering::Equal => '>',
            std::cmp::Ordering::Greater => ' ',
        });
    }
    format!("{text}] {}/{}", size(done), size(total))
}

fn size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.3}{}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_credentials() {
        assert!(bar(0, 100).starts_with("[>"));
        assert!(bar(100, 100).starts_with(&format!("[{}]", "=".repeat(50))));
        assert!(bar(50, 100).ends_with("] 50B/100B"));
        let auth = RegistryAuth {
            auth: Some(base64::engine::general_purpose::STANDARD.encode("u:p")),
            ..RegistryAuth::default()
        };
        let c = credentials_of(&auth).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert!(credentials_of(&RegistryAuth::default()).is_none());
    }
}
