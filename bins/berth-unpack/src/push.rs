//! `berth-unpack push`: docker's messages per blob on stderr (`Preparing`, `Layer already
//! exists`, `Mounted from`, `Pushed`) through berth-distribution's renderer, docker's last
//! line on stdout (`TAG: digest: sha256:… size: N`).

use anyhow::Result;
use berth_distribution::push::push;
use berth_distribution::{Registry, RegistryOptions, RemoteRef};
use berth_image::Store;

use crate::progress::Shown;

pub fn run(store: &Store, reference: &str, insecure: Vec<String>, shown: Shown) -> Result<()> {
    let image = store.resolve(reference)?;
    let remote = RemoteRef::parse(reference)?;
    if remote.digest.is_some() {
        anyhow::bail!("cannot push by digest ({reference}): give a name with a tag");
    }
    let registry = Registry::connect(
        &remote.registry,
        remote.api_host(),
        &RegistryOptions {
            insecure,
            credentials: None,
            docker_config: true,
            identity_token: None,
        },
    )?;
    let pushed = push(store, &registry, &image, &remote, &shown.stream())?;
    println!(
        "{}: digest: {} size: {}",
        pushed.tag, pushed.digest, pushed.size
    );
    Ok(())
}
