//! `pull`: resolve the reference to one image manifest (through a manifest list for the
//! wanted platform), fetch and verify the config, then bring every layer in through the
//! store's one-pass pipeline, several at once; the image is committed only when all are
//! verified. A layer the store holds (unpacked, with its blob) is never fetched.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use berth_image::remote::Ingest;
use berth_image::spec::ImageConfigFile;
use berth_image::store::{ImageInfo, LayerInput};
use berth_image::unpack::UnpackOptions;
use berth_image::{formats::LayerSource, Digest, Store};
use ureq::http::Method;

use crate::blob::BlobStream;
use crate::client::{message_of, read_limited, Registry, MAX_MANIFEST};
use crate::error::{DistributionError, Result};
use crate::manifest::{self, BlobRef, ImageManifest, Parsed};
use crate::platform::Platform;
use crate::progress::{no_progress, Event, Progress, Step};
use crate::reference::RemoteRef;

/// docker's default `max-concurrent-downloads`.
pub const DEFAULT_CONCURRENCY: usize = 3;

pub struct PullOptions<'a> {
    pub platform: Option<Platform>,
    pub unpack: UnpackOptions,
    pub max_layer_size: u64,
    pub concurrency: usize,
    pub progress: &'a dyn Progress,
}

impl Default for PullOptions<'_> {
    fn default() -> Self {
        PullOptions {
            platform: None,
            unpack: UnpackOptions::default(),
            max_layer_size: berth_image::import::DEFAULT_MAX_LAYER_SIZE,
            concurrency: DEFAULT_CONCURRENCY,
            progress: no_progress(),
        }
    }
}

#[derive(Debug)]
pub struct Pulled {
    pub image: ImageInfo,
    /// The digest the reference resolved to (the manifest list's, when it is one), as
    /// docker prints it.
    pub digest: Digest,
    pub name: Option<String>,
    /// False when the store had the image already, whole.
    pub downloaded: bool,
}

pub fn pull(
    store: &Store,
    registry: &Registry,
    reference: &RemoteRef,
    opts: &PullOptions<'_>,
) -> Result<Pulled> {
    let shown = reference.to_string();
    let (top_digest, image_digest, manifest_bytes, parsed) = resolve(registry, reference, opts)?;
    let from_list = top_digest != image_digest;
    opts.progress.event(Event::PullingFrom(reference));
    let config = fetch_small_blob(registry, reference, &parsed.config, "config")?;
    let config_doc =
        ImageConfigFile::parse(&config).map_err(|e| DistributionError::BadManifest {
            reference: shown.clone(),
            digest: parsed.config.digest.to_string(),
            reason: format!("the config is not a valid image config (JSON): {e}"),
        })?;
    if let (Some(wanted), false) = (&opts.platform, from_list) {
        check_platform(&shown, wanted, &config_doc)?;
    }
    let diff_ids = config_doc
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if diff_ids.len() != parsed.layers.len() {
        return Err(DistributionError::BadManifest {
            reference: shown,
            digest: image_digest.to_string(),
            reason: format!(
                "the manifest lists {} layers but the config {} diff IDs",
                parsed.layers.len(),
                diff_ids.len()
            ),
        });
    }
    let ingest = Ingest::begin(store)?;
    let mut chains = Vec::with_capacity(diff_ids.len());
    let mut parent: Option<Digest> = None;
    for diff_id in &diff_ids {
        chains.push(parent.clone());
        parent = Some(Digest::chain(parent.as_ref(), diff_id));
    }
    let work: Vec<LayerWork<'_>> = parsed
        .layers
        .iter()
        .zip(&diff_ids)
        .zip(chains)
        .map(|((blob, diff_id), parent)| LayerWork {
            blob,
            diff_id,
            parent,
        })
        .collect();
    let downloaded = fetch_layers(&ingest, registry, reference, &shown, &work, opts)?;
    if opts.progress.cancelled() {
        return Err(cancelled(reference));
    }
    let names = reference.store_name().into_iter().collect::<Vec<_>>();
    let image = ingest.commit(&config, &manifest_bytes, &names)?;
    opts.progress.event(Event::Pulled {
        reference,
        digest: &top_digest,
        downloaded,
    });
    Ok(Pulled {
        image,
        digest: top_digest,
        name: names.into_iter().next(),
        downloaded,
    })
}

/// A single-platform image asked for with `--platform` must be of that platform, as
/// docker checks.
fn check_platform(shown: &str, wanted: &Platform, config: &ImageConfigFile) -> Result<()> {
    let os = config.typed.os().to_string();
    let architecture = config.typed.architecture().to_string();
    let variant = config.typed.variant().clone();
    if wanted.matches(&os, &architecture, variant.as_deref()) {
        return Ok(());
    }
    let actual = Platform {
        os,
        architecture,
        variant,
    };
    Err(DistributionError::WrongPlatform {
        reference: shown.to_string(),
        wanted: wanted.to_string(),
        actual: actual.to_string(),
    })
}

struct LayerWork<'a> {
    blob: &'a BlobRef,
    diff_id: &'a Digest,
    parent: Option<Digest>,
}

/// The manifest list or manifest the reference names, then the image manifest for the
/// platform: (digest asked, image manifest digest, its bytes, parsed).
fn resolve(
    registry: &Registry,
    reference: &RemoteRef,
    opts: &PullOptions<'_>,
) -> Result<(Digest, Digest, Vec<u8>, ImageManifest)> {
    let (bytes, digest, parsed) = fetch_manifest(
        registry,
        reference,
        &reference.manifest_reference(),
        reference.digest.as_ref(),
    )?;
    let top = digest.clone();
    match parsed {
        Parsed::Image(image) => Ok((top, digest, bytes, image)),
        Parsed::Index(entries) => {
            let platform = opts.platform.clone().unwrap_or_else(Platform::host);
            let entry = manifest::select(&entries, &platform).ok_or_else(|| {
                DistributionError::NoPlatform {
                    reference: reference.to_string(),
                    platform: platform.to_string(),
                }
            })?;
            let pin = &entry.manifest.digest;
            let (bytes, digest, parsed) =
                fetch_manifest(registry, reference, pin.as_str(), Some(pin))?;
            match parsed {
                Parsed::Image(image) => Ok((top, digest, bytes, image)),
                Parsed::Index(_) => Err(DistributionError::BadManifest {
                    reference: reference.to_string(),
                    digest: digest.to_string(),
                    reason: "a manifest list entry is itself a manifest list".into(),
                }),
            }
        }
    }
}

/// The manifest `wanted` (a tag or digest); with `pin`, its body must have that digest.
fn fetch_manifest(
    registry: &Registry,
    reference: &RemoteRef,
    wanted: &str,
    pin: Option<&Digest>,
) -> Result<(Vec<u8>, Digest, Parsed)> {
    let response = registry.request(
        Method::GET,
        &format!("{}/manifests/{wanted}", reference.repository),
        &scope(reference),
        &[("Accept", manifest::ACCEPT)],
    )?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(not_found_or_status(registry, reference, status, response));
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let bytes =
        read_limited(response, MAX_MANIFEST).map_err(|reason| DistributionError::BadManifest {
            reference: reference.to_string(),
            digest: wanted.to_string(),
            reason,
        })?;
    let digest = Digest::of_bytes(&bytes);
    if let Some(pin) = pin.filter(|pin| **pin != digest) {
        return Err(DistributionError::ManifestMismatch {
            reference: reference.to_string(),
            pinned: pin.to_string(),
            actual: digest.to_string(),
        });
    }
    let parsed = manifest::parse(
        &reference.to_string(),
        &digest,
        &bytes,
        content_type.as_deref(),
    )?;
    Ok((bytes, digest, parsed))
}

fn not_found_or_status(
    registry: &Registry,
    reference: &RemoteRef,
    status: u16,
    response: ureq::http::Response<ureq::Body>,
) -> DistributionError {
    if status != 404 && status != 403 {
        return registry.status_error(&format!("manifest for {reference}"), status, response);
    }
    let said = message_of(response);
    match (status, said.code.as_str()) {
        (404, "NAME_UNKNOWN") => DistributionError::RepositoryNotFound {
            registry: registry.name().to_string(),
            repository: reference.repository.clone(),
            message: said.message,
        },
        (404, _) => DistributionError::ManifestNotFound {
            reference: reference.to_string(),
            message: said.message,
        },
        _ => DistributionError::Denied {
            registry: registry.name().to_string(),
            repository: reference.repository.clone(),
            message: said.message,
        },
    }
}

fn scope(reference: &RemoteRef) -> String {
    format!("repository:{}:pull", reference.repository)
}

/// A config: small, read whole, verified against its digest and size.
fn fetch_small_blob(
    registry: &Registry,
    reference: &RemoteRef,
    blob: &BlobRef,
    what: &'static str,
) -> Result<Vec<u8>> {
    let mut stream = BlobStream::open(registry, &reference.repository, &blob.digest, blob.size)?;
    let mut data = Vec::with_capacity(usize::try_from(blob.size).unwrap_or(0));
    std::io::Read::read_to_end(&mut stream, &mut data)
        .map_err(|e| registry.protocol(&format!("{what} {}", blob.digest), e.to_string()))?;
    let actual = Digest::of_bytes(&data);
    if actual != blob.digest || data.len() as u64 != blob.size {
        return Err(DistributionError::DigestMismatch {
            reference: reference.to_string(),
            what,
            digest: blob.digest.to_string(),
            actual: actual.to_string(),
            expected_size: blob.size,
            actual_size: data.len() as u64,
        });
    }
    Ok(data)
}

/// Every layer, `opts.concurrency` at a time; the first failure stops new downloads and
/// is returned. True when anything was downloaded.
fn fetch_layers(
    ingest: &Ingest<'_>,
    registry: &Registry,
    reference: &RemoteRef,
    shown: &str,
    work: &[LayerWork<'_>],
    opts: &PullOptions<'_>,
) -> Result<bool> {
    for layer in work {
        let chain = Digest::chain(layer.parent.as_ref(), layer.diff_id);
        let step = if ingest.has_layer(&chain, &layer.blob.digest) {
            Step::AlreadyExists
        } else {
            Step::PullingFsLayer
        };
        opts.progress.event(Event::Blob(&layer.blob.digest, step));
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let downloaded = AtomicBool::new(false);
    let first_error: Mutex<Option<DistributionError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..opts.concurrency.clamp(1, work.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= work.len() || failed.load(Ordering::SeqCst) || opts.progress.cancelled() {
                    return;
                }
                let result = fetch_layer(
                    ingest,
                    registry,
                    reference,
                    shown,
                    &work[i],
                    opts,
                    &downloaded,
                );
                if let Err(e) = result {
                    failed.store(true, Ordering::SeqCst);
                    first_error.lock().expect("error slot").get_or_insert(e);
                }
            });
        }
    });
    match first_error.into_inner().expect("error slot") {
        Some(e) => Err(e),
        None => Ok(downloaded.load(Ordering::SeqCst)),
    }
}

fn fetch_layer(
    ingest: &Ingest<'_>,
    registry: &Registry,
    reference: &RemoteRef,
    shown: &str,
    layer: &LayerWork<'_>,
    opts: &PullOptions<'_>,
    downloaded: &AtomicBool,
) -> Result<()> {
    let id = &layer.blob.digest;
    let total = layer.blob.size;
    let cancel = Arc::new(AtomicBool::new(false));
    let all_in = AtomicBool::new(false);
    let report = |done: u64| {
        let progress = opts.progress;
        progress.event(Event::Blob(
            id,
            Step::Downloading {
                current: done,
                total,
            },
        ));
        if done >= total && !all_in.swap(true, Ordering::SeqCst) {
            progress.event(Event::Blob(id, Step::VerifyingChecksum));
            progress.event(Event::Blob(id, Step::DownloadComplete));
        }
        if progress.cancelled() {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let input = LayerInput {
        image: shown,
        diff_id: layer.diff_id.clone(),
        parent_chain: layer.parent.clone(),
        expected_blob: Some((id.clone(), total)),
        limit: opts.max_layer_size,
        unpack: &opts.unpack,
        progress: &report,
    };
    let mut open_error = None;
    let mut fetched = false;
    let broke_off = Arc::new(AtomicBool::new(false));
    let result = ingest.layer_resumable(&input, &mut |offset| {
        fetched = true;
        downloaded.store(true, Ordering::SeqCst);
        let blob = (id, total);
        match BlobStream::open_at(
            registry,
            &reference.repository,
            blob,
            offset,
            broke_off.clone(),
        ) {
            Ok(stream) => Ok(LayerSource::stream(Box::new(Cancellable {
                inner: stream,
                cancel: cancel.clone(),
            }))),
            Err(e) => {
                let shown = e.to_string();
                open_error = Some(e);
                Err(berth_image::ImageError::NotFound(shown))
            }
        }
    });
    // What arrived before the registry went away is kept for the next attempt; content
    // that proved wrong is not.
    if result.is_err() && !broke_off.load(Ordering::SeqCst) {
        ingest.discard_partial(id);
    }
    match (result, open_error) {
        (Ok(_), _) => {
            if fetched {
                let done = Step::Extracting {
                    current: total,
                    total,
                };
                opts.progress.event(Event::Blob(id, done));
                opts.progress.event(Event::Blob(id, Step::PullComplete));
            }
            Ok(())
        }
        (Err(_), _) if cancel.load(Ordering::SeqCst) => Err(cancelled(reference)),
        // The registry's own error reads better than the store's wrapping of it.
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(e.into()),
    }
}

fn cancelled(reference: &RemoteRef) -> DistributionError {
    DistributionError::Cancelled {
        what: format!("pull of {reference}"),
    }
}

/// A blob's body that stops with an error once the pull is cancelled, so the store's
/// pipeline gives up on the layer and tidies it away.
struct Cancellable {
    inner: BlobStream,
    cancel: Arc<AtomicBool>,
}

impl std::io::Read for Cancellable {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the pull was cancelled"));
        }
        self.inner.read(buf)
    }
}
