//! `berth-unpack push`: docker's lines per blob on stderr (`Preparing`, `Layer already
//! exists`, `Pushed`), docker's last line on stdout (`TAG: digest: sha256:… size: N`).

use std::io::Write;

use anyhow::Result;
use berth_distribution::push::{push, PushEvent, PushProgress};
use berth_distribution::{Registry, RegistryOptions, RemoteRef};
use berth_image::{Digest, Store};

struct Lines {
    quiet: bool,
}

impl PushProgress for Lines {
    fn blob(&self, id: &Digest, event: PushEvent<'_>) {
        if self.quiet {
            return;
        }
        let status = match event {
            PushEvent::Preparing => "Preparing",
            PushEvent::AlreadyExists => "Layer already exists",
            PushEvent::Mounted(from) => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{}: Mounted from {from}",
                    &id.hex()[..12]
                );
                return;
            }
            PushEvent::Pushed => "Pushed",
        };
        let _ = writeln!(std::io::stderr().lock(), "{}: {status}", &id.hex()[..12]);
    }
}

pub fn run(store: &Store, reference: &str, insecure: Vec<String>, quiet: bool) -> Result<()> {
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
        },
    )?;
    let pushed = push(store, &registry, &image, &remote, &Lines { quiet })?;
    println!(
        "{}: digest: {} size: {}",
        pushed.tag, pushed.digest, pushed.size
    );
    Ok(())
}
