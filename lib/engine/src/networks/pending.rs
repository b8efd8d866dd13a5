//! The networks `docker network connect` added to a container: as dockerd keeps them in
//! the container's config, they are kept with it, `<container dir>/network-connects.json`,
//! and every start joins them (a connect while it does not run is made at the next start;
//! one while it runs is made at once and again at each later start, a restart policy's
//! included); `disconnect` drops it. The start also records a network `connect` event for
//! each network the container is on, as dockerd's does.

use std::net::Ipv4Addr;

use berth_api::BackendError;
use berth_common::{ContainerId, Paths};
use serde::{Deserialize, Serialize};

use super::{emit, etc, net_err};
use crate::Engine;

pub const CONNECTS_FILE: &str = "network-connects.json";

/// One network a container joins at its next start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub network: String,
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
}

fn path(paths: &Paths, id: &ContainerId) -> std::path::PathBuf {
    paths.container_dir(id).join(CONNECTS_FILE)
}

/// The networks container `id` is to join (an unreadable file: none).
pub fn read(paths: &Paths, id: &ContainerId) -> Vec<Pending> {
    berth_common::json_file::read_if_exists(&path(paths, id))
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn write(paths: &Paths, id: &ContainerId, all: &[Pending]) -> Result<(), BackendError> {
    let file = path(paths, id);
    if all.is_empty() {
        return match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(BackendError::internal(format!("{}: {e}", file.display())))
            }
            _ => Ok(()),
        };
    }
    berth_common::json_file::write_atomic(&file, all)
        .map_err(|e| BackendError::internal(e.to_string()))
}

/// Keeps `pending` for container `id`'s next start. Connecting twice to one network is
/// refused as dockerd refuses it, unless `force`, which replaces the first.
pub fn add(
    paths: &Paths,
    id: &ContainerId,
    pending: Pending,
    force: bool,
) -> Result<(), BackendError> {
    let mut all = read(paths, id);
    if let Some(i) = all.iter().position(|p| p.network_id == pending.network_id) {
        if !force {
            return Err(BackendError::new(
                berth_common::ErrorKind::Forbidden,
                format!(
                    "endpoint with name {} already exists in network {}",
                    id.short(),
                    pending.network
                ),
            ));
        }
        all.remove(i);
    }
    all.push(pending);
    write(paths, id, &all)
}

/// Forgets the pending connect of container `id` to network `network_id`; whether there
/// was one.
pub fn remove(paths: &Paths, id: &ContainerId, network_id: &str) -> Result<bool, BackendError> {
    let mut all = read(paths, id);
    let before = all.len();
    all.retain(|p| p.network_id != network_id);
    if all.len() == before {
        return Ok(false);
    }
    write(paths, id, &all)?;
    Ok(true)
}

impl Engine {
    /// After a start of container `id` on `primary` (its network mode): the `connect`
    /// event of that network, then the kept connects, each joined and announced. A
    /// connect that fails is logged, and dropped when its network is gone: the container
    /// runs without it.
    pub(crate) fn networks_at_start(&self, id: &ContainerId, primary: Option<&str>) {
        if let Some(def) = primary.and_then(|p| network::find(&self.paths, p)) {
            emit(&self.paths, "connect", &def.id, &def.name, Some(id));
        }
        let all = read(&self.paths, id);
        if all.is_empty() {
            return;
        }
        let ctx = berth_net::Context {
            paths: &self.paths,
            settings: &self.settings.net,
            dns: berth_net::DnsLauncher::current_exe(),
        };
        let count = all.len();
        let mut kept = Vec::with_capacity(count);
        for p in all {
            let before = berth_net::attach::endpoints_of(&self.paths, id).unwrap_or_default();
            match berth_net::connect(&ctx, id.as_str(), &p.network, &p.aliases, p.ip) {
                Ok(endpoint) => {
                    if let Err(e) = etc::connected(&self.paths, id, &before, &endpoint) {
                        tracing::warn!(container = %id, "{e}");
                    }
                    emit(&self.paths, "connect", &p.network_id, &p.network, Some(id));
                    kept.push(p);
                }
                Err(e) => {
                    let gone = matches!(e, berth_net::NetError::NoSuchNetwork(_));
                    let e = net_err(e);
                    tracing::warn!(container = %id, network = %p.network, "connect at start: {}", e.message);
                    if !gone {
                        kept.push(p);
                    }
                }
            }
        }
        if kept.len() == count {
            return;
        }
        if let Err(e) = write(&self.paths, id, &kept) {
            tracing::warn!(container = %id, "kept connects: {}", e.message);
        }
    }
}

mod network {
    use berth_common::Paths;
    use berth_net::network::NetworkDef;

    /// The user network (or berth's `bridge`) called `name`, if it is defined; the modes
    /// (`none`, `host`, `container:…`) are none.
    pub fn find(paths: &Paths, name: &str) -> Option<NetworkDef> {
        berth_net::network::list(paths)
            .ok()?
            .into_iter()
            .find(|d| d.name == name)
    }
}
