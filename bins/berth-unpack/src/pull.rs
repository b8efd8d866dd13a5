//! `berth-unpack pull`: progress on stderr through berth-distribution's one renderer of
//! docker's messages (bars on a terminal, docker's lines otherwise, JSON lines with
//! `--json`), so stdout keeps only the record.

use anyhow::Result;
use berth_distribution::{pull, Platform, PullOptions, Registry, RegistryOptions, RemoteRef};
use berth_image::import::ImportOptions;
use berth_image::store::ImageInfo;
use berth_image::Store;

use crate::progress::Shown;

pub struct Request<'a> {
    pub reference: &'a str,
    pub insecure_registries: Vec<String>,
    pub platform: Option<&'a str>,
    pub concurrency: usize,
    pub shown: Shown,
}

pub fn run(store: &Store, request: &Request<'_>, import: ImportOptions<'_>) -> Result<ImageInfo> {
    let reference = RemoteRef::parse(request.reference)?;
    let platform = request.platform.map(Platform::parse).transpose()?;
    let registry = Registry::connect(
        &reference.registry,
        reference.api_host(),
        &RegistryOptions {
            insecure: request.insecure_registries.clone(),
            credentials: None,
            docker_config: true,
            identity_token: None,
        },
    )?;
    let display = request.shown.stream();
    let opts = PullOptions {
        platform,
        unpack: import.unpack,
        max_layer_size: import.max_layer_size,
        concurrency: request.concurrency,
        progress: &display,
    };
    let pulled = pull(store, &registry, &reference, &opts)?;
    Ok(pulled.image)
}
