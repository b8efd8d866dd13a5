//! `push`: an image of the store to a registry, as stored: the manifest byte for byte (so
//! its digest, and the config's `diff_ids`, stay those of the local image), its layer
//! blobs and config as the store keeps them. A blob the registry has (HEAD) is not sent;
//! one another repository of the same registry has (another name of the store's images
//! there lists it) is mounted from there; the others are uploaded (`upload.rs`: one PUT, or
//! chunks for a large blob), the manifest last.

use berth_image::store::ImageInfo;
use berth_image::{Digest, Store};
use ureq::http::Method;

use crate::client::{message_of, Payload, Registry};
use crate::error::{DistributionError, Result};
use crate::progress::{Event, Progress, Step};
use crate::reference::RemoteRef;

#[derive(Debug)]
pub struct Pushed {
    pub digest: Digest,
    pub size: u64,
    pub tag: String,
}

#[derive(serde::Deserialize)]
struct StoredManifest {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    config: StoredBlob,
    layers: Vec<StoredBlob>,
}

#[derive(serde::Deserialize)]
struct StoredBlob {
    digest: String,
}

pub fn push(
    store: &Store,
    registry: &Registry,
    image: &ImageInfo,
    reference: &RemoteRef,
    progress: &dyn Progress,
) -> Result<Pushed> {
    progress.event(Event::PushingTo(reference));
    let manifest = store.read_blob(&image.manifest_digest)?;
    let parsed: StoredManifest =
        serde_json::from_slice(&manifest).map_err(|e| DistributionError::BadManifest {
            reference: reference.to_string(),
            digest: image.manifest_digest.to_string(),
            reason: format!("the stored manifest is not valid: {e}"),
        })?;
    let mut blobs = Vec::with_capacity(parsed.layers.len() + 1);
    for blob in parsed.layers.iter().chain([&parsed.config]) {
        blobs.push(Digest::parse(&blob.digest)?);
    }
    for blob in &blobs {
        progress.event(Event::Blob(blob, Step::Preparing));
    }
    let sources = mount_sources(store, reference)?;
    let send = |blob: &Digest| -> Result<()> {
        if has_blob(registry, reference, blob)? {
            progress.event(Event::Blob(blob, Step::LayerAlreadyExists));
            return Ok(());
        }
        let from = sources
            .iter()
            .find(|(_, blobs)| blobs.contains(blob.as_str()))
            .map(|(repo, _)| repo.as_str());
        match upload(store, registry, reference, blob, from, progress)? {
            Some(from) => progress.event(Event::Blob(blob, Step::MountedFrom(from))),
            None => progress.event(Event::Blob(blob, Step::Pushed)),
        }
        Ok(())
    };
    in_parallel(&blobs, UPLOADS_AT_ONCE, &send)?;
    let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
    let media_type = parsed
        .media_type
        .unwrap_or_else(|| crate::manifest::OCI_MANIFEST.into());
    let url = registry.resolve(&format!("v2/{}/manifests/{tag}", reference.repository));
    let response = registry.request_to(
        Method::PUT,
        &url,
        &scope(reference),
        &[("Content-Type", &media_type)],
        &Payload::Bytes(&manifest),
    )?;
    let status = response.status().as_u16();
    if status != 201 && status != 200 {
        return Err(failure(
            registry,
            reference,
            "manifest PUT",
            status,
            response,
        ));
    }
    let pushed = Pushed {
        digest: Digest::of_bytes(&manifest),
        size: manifest.len() as u64,
        tag,
    };
    progress.event(Event::Pushed {
        tag: &pushed.tag,
        digest: &pushed.digest,
        size: pushed.size,
    });
    Ok(pushed)
}

/// Blobs sent at once (docker's `max-concurrent-uploads` is 5; the loopback needs fewer).
const UPLOADS_AT_ONCE: usize = 3;

/// `work` on every item, `limit` at a time; the first failure stops new items and is
/// returned.
fn in_parallel(
    items: &[Digest],
    limit: usize,
    work: &(dyn Fn(&Digest) -> Result<()> + Sync),
) -> Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed: std::sync::Mutex<Option<DistributionError>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..limit.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let stop = failed.lock().expect("error slot").is_some();
                if i >= items.len() || stop {
                    return;
                }
                if let Err(e) = work(&items[i]) {
                    failed.lock().expect("error slot").get_or_insert(e);
                }
            });
        }
    });
    match failed.into_inner().expect("error slot") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn scope(reference: &RemoteRef) -> String {
    format!("repository:{}:pull,push", reference.repository)
}

fn has_blob(registry: &Registry, reference: &RemoteRef, blob: &Digest) -> Result<bool> {
    let response = registry.request(
        Method::HEAD,
        &format!("{}/blobs/{blob}", reference.repository),
        &scope(reference),
        &[],
    )?;
    match response.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        status => Err(failure(
            registry,
            reference,
            &format!("HEAD blob {blob}"),
            status,
            response,
        )),
    }
}

/// Other repositories of the registry, with the blobs the store's images named there list:
/// where a blob may be mounted from.
fn mount_sources(
    store: &Store,
    reference: &RemoteRef,
) -> Result<Vec<(String, std::collections::HashSet<String>)>> {
    let mut sources: Vec<(String, std::collections::HashSet<String>)> = Vec::new();
    for image in store.images()? {
        let blobs: std::collections::HashSet<String> = image
            .manifest
            .layers()
            .iter()
            .map(|l| l.digest().to_string())
            .chain([image.id.to_string()])
            .collect();
        for name in &image.names {
            let Ok(other) = RemoteRef::parse(name) else {
                continue;
            };
            if other.registry == reference.registry && other.repository != reference.repository {
                sources.push((other.repository, blobs.clone()));
            }
        }
    }
    Ok(sources)
}

/// Mounts the blob from `from` when the registry will (returns `from`), else POSTs for an
/// upload location and sends the blob there (`upload.rs`: whole, or in chunks).
fn upload<'a>(
    store: &Store,
    registry: &Registry,
    reference: &RemoteRef,
    blob: &Digest,
    from: Option<&'a str>,
    progress: &dyn Progress,
) -> Result<Option<&'a str>> {
    let mut start = registry.resolve(&format!("v2/{}/blobs/uploads/", reference.repository));
    let mut scope = scope(reference);
    if let Some(from) = from {
        start.push_str(&format!("?mount={blob}&from={from}"));
        scope.push_str(&format!(" repository:{from}:pull"));
    }
    let response = registry.request_to(Method::POST, &start, &scope, &[], &Payload::Bytes(&[]))?;
    let status = response.status().as_u16();
    if status == 201 && from.is_some() {
        return Ok(from);
    }
    if status != 202 {
        return Err(failure(
            registry,
            reference,
            "blob upload",
            status,
            response,
        ));
    }
    let location = crate::upload::location_of(&response)
        .ok_or_else(|| registry.protocol("blob upload", "the answer has no Location".into()))?;
    let upload = crate::upload::Upload {
        registry,
        scope: &scope,
        blob,
        path: &store.blob_path(blob),
        progress,
    };
    upload.send(&response, &location)?;
    Ok(None)
}

fn failure(
    registry: &Registry,
    reference: &RemoteRef,
    what: &str,
    status: u16,
    response: ureq::http::Response<ureq::Body>,
) -> DistributionError {
    if status == 403 {
        return DistributionError::Denied {
            registry: registry.name().to_string(),
            repository: reference.repository.clone(),
            message: message_of(response).message,
        };
    }
    registry.status_error(what, status, response)
}
