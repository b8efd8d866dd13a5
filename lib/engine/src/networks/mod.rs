//! The network endpoints over berth-net's store: the networks `berth-net create` makes
//! are the ones berthd lists, and the other way round. Every change goes through
//! berth-net's functions under its networks lock.
//!
//! Threads: berthd is multi-threaded, so nothing here may move the calling thread into a
//! container's namespace or fork and run Rust code. berth-net's connect and disconnect
//! already keep to that: a namespace is only ever entered by `berth_net::netns::run_in` on
//! a thread of its own that ends right after (setns affects that thread alone), the veth is
//! moved into the namespace by an fd (`IFLA_NET_NS_FD`) from the caller's thread, and the
//! network's DNS server is started by fork+exec of `berthd __dns-serve` (its `pre_exec`
//! makes only async-signal-safe calls).

mod create;
mod etc;
mod filter;
pub(crate) mod pending;
mod view;

use std::net::Ipv4Addr;

use berth_api::filters::Filters;
use berth_api::{BackendError, NetworksBackend};
use berth_net::network::{self, NetworkDef};
use berth_net::NetError;
use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse,
};
use serde_json::Value;

use crate::Engine;
pub use view::{mac_of, stable_id};
use view::{network_json, Shown, MODES};

/// berthd's first argument that makes it a network's DNS server (berth-net's hidden
/// subcommand, which the attach code launches from the running binary).
pub const DNS_HELPER: &str = berth_net::dns_serve::SUBCOMMAND;

/// The DNS server's life (`berthd __dns-serve CONFIG`); the exit code.
pub fn dns_helper_main(config: &str) -> i32 {
    berth_common::edge::init_logging(0);
    match berth_net::dns::serve_main(config) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berthd {DNS_HELPER}: {e}");
            1
        }
    }
}

/// berth-net's error in docker's words, with the status docker gives it.
fn net_err(error: NetError) -> BackendError {
    let kind = match &error {
        // dockerd refuses an overlapping pool with 403 (errdefs.Forbidden).
        NetError::SubnetOverlap { .. } => berth_common::ErrorKind::Forbidden,
        NetError::NoNetns(_) => berth_common::ErrorKind::Conflict,
        other => other.kind(),
    };
    let message = match &error {
        NetError::NoNetns(container) => format!("container {container} is not running"),
        NetError::SubnetOverlap { .. } => {
            "invalid pool request: Pool overlaps with other one on this address space".into()
        }
        other => other.to_string(),
    };
    BackendError::new(kind, message)
}

impl Engine {
    /// Every network docker shows: berth's default `bridge` (defined here if no container
    /// made it yet), the user's, then `host` and `none`.
    fn shown_networks(&self) -> Result<Vec<Shown>, BackendError> {
        let mut defs = network::list(&self.paths).map_err(net_err)?;
        if !defs
            .iter()
            .any(|d| d.name == berth_net::settings::DEFAULT_NETWORK)
        {
            defs.push(self.default_network()?);
        }
        let mut out: Vec<Shown> = defs.into_iter().map(Shown::Defined).collect();
        out.extend(MODES.iter().map(|(name, _)| Shown::Mode(name)));
        Ok(out)
    }

    fn default_network(&self) -> Result<NetworkDef, BackendError> {
        let _lock = network::lock(&self.paths).map_err(net_err)?;
        network::default_network(&self.paths, &self.settings.net).map_err(net_err)
    }

    /// A network by name, full ID or unique ID prefix, the modes included.
    fn find_shown(&self, reference: &str) -> Result<Shown, BackendError> {
        let not_found = || BackendError::not_found(format!("network {reference} not found"));
        if reference.is_empty() {
            return Err(not_found());
        }
        let all = self.shown_networks()?;
        let paths = &self.paths;
        if let Some(i) = all.iter().position(|s| s.name() == reference) {
            return Ok(all.into_iter().nth(i).expect("found above"));
        }
        let mut by_id: Vec<Shown> = all
            .into_iter()
            .filter(|s| s.id(paths).starts_with(reference))
            .collect();
        match by_id.len() {
            1 => Ok(by_id.remove(0)),
            0 => Err(not_found()),
            n => Err(BackendError::invalid(format!(
                "network {reference} is ambiguous ({n} matches found based on ID prefix)"
            ))),
        }
    }

    /// A network that containers attach to: a definition (not `host` or `none`, which
    /// `refused` words the error for).
    fn find_defined(
        &self,
        reference: &str,
        refused: impl FnOnce(&str) -> String,
    ) -> Result<NetworkDef, BackendError> {
        match self.find_shown(reference)? {
            Shown::Defined(def) => Ok(def),
            Shown::Mode(name) => Err(BackendError::invalid(refused(name))),
        }
    }
}

/// Records a network event as dockerd reports it.
fn emit(
    paths: &berth_common::Paths,
    action: &str,
    id: &str,
    name: &str,
    container: Option<&berth_common::ContainerId>,
) {
    let event = berth_common::events::Event::network(action, id, name, container);
    berth_common::events::emit(paths, &event);
}

impl NetworksBackend for Engine {
    fn create(&self, body: &NetworkCreateRequest) -> Result<NetworkCreateResponse, BackendError> {
        let request = create::translate(body)?;
        let def =
            berth_net::gc::create(&self.paths, &self.settings.net, &request).map_err(net_err)?;
        tracing::info!(network = %def.name, id = %def.id, subnet = %def.subnet, "network created");
        emit(&self.paths, "create", &def.id, &def.name, None);
        Ok(NetworkCreateResponse {
            id: def.id,
            warning: String::new(),
        })
    }

    fn list(&self, filters: &Filters) -> Result<Vec<Value>, BackendError> {
        let mut out = Vec::new();
        for shown in self.shown_networks()? {
            if filter::list_matches(&self.paths, &shown, filters)? {
                out.push(network_json(&self.paths, &shown));
            }
        }
        Ok(out)
    }

    fn inspect(&self, reference: &str) -> Result<Value, BackendError> {
        Ok(network_json(&self.paths, &self.find_shown(reference)?))
    }

    fn remove(&self, reference: &str) -> Result<(), BackendError> {
        let def = self.find_defined(reference, |name| {
            format!("{name} is a pre-defined network and cannot be removed")
        })?;
        berth_net::gc::remove(&self.paths, &def.id).map_err(net_err)?;
        tracing::info!(network = %def.name, "network removed");
        emit(&self.paths, "destroy", &def.id, &def.name, None);
        Ok(())
    }

    fn prune(&self, filters: &Filters) -> Result<NetworkPruneResponse, BackendError> {
        let mut deleted = Vec::new();
        for shown in self.shown_networks()? {
            if shown.builtin() || !filter::prune_matches(&shown, filters)? {
                continue;
            }
            let Shown::Defined(def) = &shown else {
                continue;
            };
            if shown.endpoint_count(&self.paths) > 0 {
                continue;
            }
            // Removal checks the endpoints again under the lock: a container that came
            // meanwhile keeps its network.
            match berth_net::gc::remove(&self.paths, &def.id) {
                Ok(_) => {
                    emit(&self.paths, "destroy", &def.id, &def.name, None);
                    deleted.push(def.name.clone());
                }
                Err(NetError::NetworkInUse { .. }) | Err(NetError::NoSuchNetwork(_)) => {}
                Err(e) => return Err(net_err(e)),
            }
        }
        Ok(NetworkPruneResponse {
            networks_deleted: Some(deleted),
        })
    }

    fn connect(
        &self,
        reference: &str,
        request: &NetworkConnectRequest,
    ) -> Result<(), BackendError> {
        let def = self.find_defined(reference, |name| {
            format!("container cannot be connected to the {name} network")
        })?;
        let config = request.endpoint_config.as_ref();
        let aliases = config.and_then(|c| c.aliases.clone()).unwrap_or_default();
        let ip = match config
            .and_then(|c| c.ipam_config.as_ref())
            .and_then(|c| c.ipv4_address.as_deref())
            .filter(|a| !a.is_empty())
        {
            Some(text) => Some(
                text.parse::<Ipv4Addr>()
                    .map_err(|_| BackendError::invalid(format!("invalid IPv4 address {text:?}")))?,
            ),
            None => None,
        };
        let ctx = berth_net::Context {
            paths: &self.paths,
            settings: &self.settings.net,
            dns: berth_net::DnsLauncher::current_exe(),
        };
        let id = berth_common::registry::resolve(&self.paths, &request.container)
            .map_err(|e| BackendError::new(e.kind(), e.to_string()))?;
        if crate::containers::running_container(&self.paths, id.as_str()).is_err() {
            // Not running: joined at its next start, as dockerd does.
            let wanted = pending::Pending {
                network: def.name.clone(),
                network_id: def.id.clone(),
                aliases,
                ip,
            };
            pending::add(&self.paths, &id, wanted, false)?;
            tracing::info!(network = %def.name, container = %id, "connect at the next start");
            return Ok(());
        }
        let before = berth_net::attach::endpoints_of(&self.paths, &id).map_err(net_err)?;
        let endpoint =
            berth_net::connect(&ctx, id.as_str(), &def.name, &aliases, ip).map_err(net_err)?;
        if let Err(e) = etc::connected(&self.paths, &id, &before, &endpoint) {
            tracing::warn!(container = %id, "cannot update /etc/hosts or resolv.conf after connect: {e}");
        }
        // Kept with the container, so its next start (by hand or by its restart policy)
        // joins the network again, as dockerd keeps a connect in the container's config.
        let kept = pending::Pending {
            network: def.name.clone(),
            network_id: def.id.clone(),
            aliases,
            ip,
        };
        if let Err(e) = pending::add(&self.paths, &id, kept, true) {
            tracing::warn!(container = %id, "keeping the connect for the next start: {}", e.message);
        }
        tracing::info!(network = %def.name, container = %id, ip = %endpoint.ip, "connected");
        emit(&self.paths, "connect", &def.id, &def.name, Some(&id));
        Ok(())
    }

    fn disconnect(
        &self,
        reference: &str,
        request: &NetworkDisconnectRequest,
    ) -> Result<(), BackendError> {
        let def = self.find_defined(reference, |name| {
            format!("container cannot be disconnected from the {name} network")
        })?;
        let id = match berth_common::registry::resolve(&self.paths, &request.container) {
            Ok(id) => id,
            // `--force`: the endpoint of a container that is gone is taken down all the same.
            Err(berth_common::registry::RegistryError::NotFound(e))
                if request.force == Some(true) =>
            {
                let Some(stale) =
                    berth_net::force_delete_endpoint(&self.paths, &request.container, &def.name)
                        .map_err(net_err)?
                else {
                    return Err(BackendError::not_found(format!("No such container: {e}")));
                };
                tracing::info!(network = %def.name, container = %stale, "stale endpoint removed");
                let id = berth_common::ContainerId::parse(&stale).ok();
                emit(&self.paths, "disconnect", &def.id, &def.name, id.as_ref());
                return Ok(());
            }
            Err(e) => return Err(BackendError::new(e.kind(), e.to_string())),
        };
        let kept = pending::remove(&self.paths, &id, &def.id)?;
        if kept && crate::containers::running_container(&self.paths, id.as_str()).is_err() {
            tracing::info!(network = %def.name, container = %id, "pending connect dropped");
            return Ok(());
        }
        let (gone, left): (Vec<_>, Vec<_>) = berth_net::attach::endpoints_of(&self.paths, &id)
            .map_err(net_err)?
            .into_iter()
            .partition(|e| e.network_id == def.id);
        berth_net::disconnect(&self.paths, id.as_str(), &def.name).map_err(net_err)?;
        if let Some(gone) = gone.first() {
            if let Err(e) = etc::disconnected(&self.paths, &id, gone, &left) {
                tracing::warn!(container = %id, "cannot update /etc/hosts or resolv.conf after disconnect: {e}");
            }
        }
        tracing::info!(network = %def.name, container = %id, "disconnected");
        emit(&self.paths, "disconnect", &def.id, &def.name, Some(&id));
        Ok(())
    }
}
