//! Attaching containers to networks and taking them off again: the persistent network
//! namespace, the veth pair, the address, the routes, the published ports, the endpoint
//! file that the network's DNS server reads. Each step that fails undoes the ones before.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_common::{
    registry, ContainerId, ContainerRecord, Endpoint, ErrorList, NetworkPart, Paths, PortMapping,
};

use crate::endpoints::{self, EndpointFile};
use crate::error::{io_err, NetError, Result};
use crate::netlink::Netlink;
use crate::network::{self, NetworkDef};
use crate::ports::PortRequest;
use crate::request::{NetMode, NetRequest};
use crate::settings::HostSettings;
use kernel::{HostKernel, Kernel};

mod kernel;
#[cfg(test)]
mod tests;

/// How a process that attaches containers starts a network's DNS server: a program (the
/// calling binary itself) and the hidden subcommand that serves.
#[derive(Debug, Clone)]
pub struct DnsLauncher {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl DnsLauncher {
    /// The running binary, with its `__dns-serve` subcommand.
    pub fn current_exe() -> Option<DnsLauncher> {
        Some(DnsLauncher {
            program: std::env::current_exe().ok()?,
            args: vec![crate::dns_serve::SUBCOMMAND.to_string()],
        })
    }
}

/// Everything attach needs besides the container.
pub struct Context<'a> {
    pub paths: &'a Paths,
    pub settings: &'a HostSettings,
    pub dns: Option<DnsLauncher>,
}

/// The persistent network namespace of a container made by berth-net.
pub fn netns_path(paths: &Paths, container_id: &ContainerId) -> PathBuf {
    paths.netns().join(container_id)
}

/// Sets up the container's networking as `request` says and returns the record's part.
/// Nothing is left behind when it fails.
pub fn setup(ctx: &Context, record: &ContainerRecord, request: &NetRequest) -> Result<NetworkPart> {
    let plan = request.validate(record)?;
    let container = record.container.as_ref().ok_or(NetError::NoContainer)?;
    let mut part = NetworkPart {
        mode: request.mode_name(),
        dns: request.dns.clone(),
        dns_search: request.dns_search.clone(),
        dns_options: request.dns_options.clone(),
        extra_hosts: plan.extra_hosts.clone(),
        ..Default::default()
    };
    match &plan.mode {
        NetMode::None | NetMode::Host => Ok(part),
        NetMode::Container(reference) => {
            let id = registry::resolve(ctx.paths, reference)?;
            let path = netns_path(ctx.paths, &id);
            if !crate::netns::is_mounted(&path) {
                return Err(NetError::NoNetns(reference.to_string()));
            }
            part.mode = format!("container:{id}");
            part.netns = Some(path);
            part.owned = false;
            // Shown to the joiner (its /etc/hosts), owned by the other container.
            part.endpoints = endpoints_of(ctx.paths, &id)?;
            Ok(part)
        }
        NetMode::Network(name) => {
            let path = netns_path(ctx.paths, &container.id);
            // A termination signal waits until the attachment is whole or undone.
            let _setup_first = berth_common::TerminationBlocked::new();
            crate::netns::create(&path)?;
            berth_common::fault::point("net:netns");
            let attached = (|| {
                let _lock = network::lock(ctx.paths)?;
                let def = if name == crate::settings::DEFAULT_NETWORK {
                    network::default_network(ctx.paths, ctx.settings)?
                } else {
                    network::find(ctx.paths, name)?
                };
                let ports = if def.internal && !plan.ports.is_empty() {
                    tracing::warn!(network = %def.name, "published ports are ignored on an internal network");
                    Vec::new()
                } else {
                    plan.ports.clone()
                };
                attach_locked(
                    ctx,
                    &def,
                    &Attachment {
                        netns: &path,
                        container_id: &container.id,
                        name: container.name.as_deref(),
                        ifname: "eth0",
                        aliases: &request.aliases,
                        ip: request.ip,
                        ports: &ports,
                        dns: &plan.dns,
                        default_route: true,
                    },
                )
            })();
            match attached {
                Ok((endpoint, ports)) => {
                    part.netns = Some(path);
                    part.owned = true;
                    part.endpoints = vec![endpoint];
                    part.ports = ports;
                    Ok(part)
                }
                Err(e) => {
                    let _ = crate::netns::remove(&path);
                    Err(e)
                }
            }
        }
    }
}

pub(crate) struct Attachment<'a> {
    pub netns: &'a Path,
    pub container_id: &'a ContainerId,
    pub name: Option<&'a str>,
    pub ifname: &'a str,
    pub aliases: &'a [String],
    pub ip: Option<Ipv4Addr>,
    pub ports: &'a [PortRequest],
    pub dns: &'a [Ipv4Addr],
    pub default_route: bool,
}

/// The host end of a container's veth on a network: berth's prefix, then enough of both
/// IDs to be unique (15 bytes at most).
fn host_veth_name(container_id: &ContainerId, network_id: &str) -> String {
    let network = network_id.get(..4).unwrap_or(network_id);
    format!("bv{}{network}", &container_id.short()[..9])
}

/// Docker's MAC scheme: 02:42 and the IPv4 address, so a reused address keeps its MAC
/// and neighbours' ARP caches stay right.
fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One network attachment; the caller holds the networks lock.
pub(crate) fn attach_locked(
    ctx: &Context,
    def: &NetworkDef,
    a: &Attachment,
) -> Result<(Endpoint, Vec<PortMapping>)> {
    attach_with(&mut HostKernel::default(), ctx, def, a)
}

/// [`attach_locked`] through `kernel`. The steps, in order: bridge, address, endpoint
/// file, veth, address and route inside, published ports, DNS server; a failure undoes
/// the steps before it, last first ([`Undo`]).
fn attach_with(
    kernel: &mut dyn Kernel,
    ctx: &Context,
    def: &NetworkDef,
    a: &Attachment,
) -> Result<(Endpoint, Vec<PortMapping>)> {
    let network_dir = network::network_dir(ctx.paths, def);
    if endpoints::path(&network_dir, a.container_id).exists() {
        return Err(NetError::AlreadyConnected {
            container: a.container_id.to_string(),
            network: def.name.clone(),
        });
    }
    let bridge = kernel.ensure_bridge(def)?;
    let ip = crate::ipam::allocate(def, &network_dir, a.container_id, a.ip)?;
    let host_veth = host_veth_name(a.container_id, &def.id);
    let mut undo = Undo {
        kernel,
        network_dir: &network_dir,
        container_id: a.container_id,
        host_veth: None,
        table: &def.nft_table,
        ports: Vec::new(),
    };
    let taken = if a.ports.is_empty() {
        Vec::new()
    } else {
        host_published(undo.kernel, ctx.paths, &def.nft_table)?
    };
    let ports = crate::ports::assign(a.ports, &taken)?;
    // The endpoint file comes first: it names the veth and the ports, so `down` finds
    // them even after a crash in the middle of the steps below.
    let file = EndpointFile {
        container_id: a.container_id.to_string(),
        name: a.name.map(str::to_string),
        aliases: a.aliases.to_vec(),
        ip,
        host_veth: host_veth.clone(),
        dns: a.dns.to_vec(),
        ports: ports.clone(),
    };
    write_endpoint(&network_dir, &file)?;
    berth_common::fault::point("net:endpoint");
    let mac = mac_for(ip);
    undo.kernel
        .create_veth(&host_veth, a.ifname, a.netns, def.mtu, mac, bridge)?;
    undo.host_veth = Some(host_veth.clone());
    berth_common::fault::point("net:veth");
    // The address and the route live in the container's namespace: they go with the veth.
    let gateway = (!def.internal).then_some(def.gateway);
    undo.kernel.configure(
        a.netns,
        a.ifname,
        ip,
        def.subnet.prefix_len(),
        gateway.filter(|_| a.default_route),
    )?;
    berth_common::fault::point("net:route");
    undo.kernel.add_ports(&def.nft_table, ip, &ports)?;
    undo.ports = ports.clone();
    berth_common::fault::point("net:ports");
    if def.dns {
        if let Some(launcher) = &ctx.dns {
            crate::dns_serve::ensure(ctx.paths, def, launcher)?;
            berth_common::fault::point("net:dns");
        }
    }
    // The caller holds the termination signals: one that came meanwhile undoes the
    // attachment instead of killing the process with half of it in place.
    if let Some(signal) = berth_common::signal_block::take_pending() {
        return Err(NetError::Interrupted { signal });
    }
    undo.disarm();
    Ok((
        Endpoint {
            network: def.name.clone(),
            network_id: def.id.clone(),
            bridge: def.bridge.clone(),
            host_veth,
            ifname: a.ifname.to_string(),
            ip,
            prefix: def.subnet.prefix_len(),
            gateway,
            mac: mac_text(mac),
            aliases: a.aliases.to_vec(),
            dns_server: def.dns.then_some(def.gateway),
        },
        ports,
    ))
}

/// Undoes a half-made attachment when dropped armed, in the reverse order of the steps:
/// ports, veth, endpoint file, address.
struct Undo<'a> {
    kernel: &'a mut dyn Kernel,
    network_dir: &'a Path,
    container_id: &'a str,
    host_veth: Option<String>,
    table: &'a str,
    ports: Vec<PortMapping>,
}

impl Undo<'_> {
    fn disarm(mut self) {
        self.host_veth = None;
        self.ports.clear();
        self.container_id = "";
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if self.container_id.is_empty() {
            return;
        }
        if !self.ports.is_empty() {
            let _ = self.kernel.remove_ports(self.table, &self.ports);
        }
        if let Some(name) = &self.host_veth {
            let _ = self.kernel.delete_link(name);
        }
        let _ = std::fs::remove_file(endpoints::path(self.network_dir, self.container_id));
        let _ = crate::ipam::release(self.network_dir, self.container_id);
    }
}

fn write_endpoint(network_dir: &Path, file: &EndpointFile) -> Result<()> {
    let dir = endpoints::dir(network_dir);
    std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
    let path = endpoints::path(network_dir, &file.container_id);
    Ok(berth_common::json_file::write_atomic(&path, file)?)
}

/// Every host port that is published: host addresses are host-wide, so besides this
/// root's endpoints the table's DNAT maps count, which hold the ports of every root that
/// shares the table (by default every root: the table `berth`).
fn host_published(kernel: &mut dyn Kernel, paths: &Paths, table: &str) -> Result<Vec<PortMapping>> {
    let mut taken = all_published(paths)?;
    taken.extend(kernel.published(table)?);
    Ok(taken)
}

/// Every published port of every container in the root.
fn all_published(paths: &Paths) -> Result<Vec<PortMapping>> {
    let mut out = Vec::new();
    for def in network::list(paths)? {
        for e in endpoints::list(&network::network_dir(paths, &def)) {
            out.extend(e.ports);
        }
    }
    Ok(out)
}

/// The endpoints of a container as the record shows them, rebuilt from the networks'
/// files (for `container:` mode and inspect).
pub fn endpoints_of(paths: &Paths, container_id: &str) -> Result<Vec<Endpoint>> {
    Ok(endpoints_in(paths, &network::list(paths)?, container_id))
}

/// [`endpoints_of`] among networks `defs` read once by the caller: a list of many
/// containers reads the definitions once, and each container's own file in each network
/// (not every endpoint file of every network, once per container).
pub fn endpoints_in(paths: &Paths, defs: &[NetworkDef], container_id: &str) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for def in defs {
        let file = endpoints::path(&network::network_dir(paths, def), container_id);
        let Some(e) = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<EndpointFile>(&bytes).ok())
            .filter(|e| e.container_id == container_id)
        else {
            continue;
        };
        out.push(Endpoint {
            network: def.name.clone(),
            network_id: def.id.clone(),
            bridge: def.bridge.clone(),
            host_veth: e.host_veth.clone(),
            ifname: String::new(),
            ip: e.ip,
            prefix: def.subnet.prefix_len(),
            gateway: (!def.internal).then_some(def.gateway),
            mac: mac_text(mac_for(e.ip)),
            aliases: e.aliases.clone(),
            dns_server: def.dns.then_some(def.gateway),
        });
    }
    out
}

/// Takes one container off one network; the caller holds the lock. Idempotent. With
/// `delete_link` false the veth is left to the kernel, which deletes it with the container's
/// namespace once that is gone (its processes and its bind mount): deleting a veth waits for
/// RCU grace periods, tens of milliseconds the container's teardown need not wait for.
pub(crate) fn detach_locked(
    paths: &Paths,
    def: &NetworkDef,
    container_id: &str,
    delete_link: bool,
) -> Result<()> {
    detach_with(
        &mut HostKernel::default(),
        paths,
        def,
        container_id,
        delete_link,
    )
}

/// [`detach_locked`] through `kernel`: every step runs, the failures come back together.
fn detach_with(
    kernel: &mut dyn Kernel,
    paths: &Paths,
    def: &NetworkDef,
    container_id: &str,
    delete_link: bool,
) -> Result<()> {
    let network_dir = network::network_dir(paths, def);
    let path = endpoints::path(&network_dir, container_id);
    let file: Option<EndpointFile> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let mut errors = ErrorList::new();
    if let Some(file) = &file {
        if !file.ports.is_empty() {
            errors.check(kernel.remove_ports(&def.nft_table, &file.ports));
        }
        if delete_link {
            errors.check(kernel.delete_link(&file.host_veth));
        }
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => errors.push(io_err("removing", path)(e)),
    }
    errors.check(crate::ipam::release(&network_dir, container_id));
    errors.finish(NetError::Many)
}

/// Takes the container off every network and removes its namespace. Works from the
/// networks' files, not the record, so networks joined later by `connect` go too, and
/// it works after a crash at any step of `setup`. Every step runs even when one fails, and
/// the failures come back together; what is gone already is not an error, so it can run
/// again. SIGINT, SIGTERM and SIGHUP wait until it is done.
/// `container_id` must be a full id: it names files.
pub fn down(paths: &Paths, container_id: &str) -> Result<()> {
    down_with(&mut HostKernel::default(), paths, container_id)
}

/// [`down`] through `kernel`.
fn down_with(kernel: &mut dyn Kernel, paths: &Paths, container_id: &str) -> Result<()> {
    let container_id = &ContainerId::parse(container_id)?;
    let _finish_first = berth_common::TerminationBlocked::new();
    let netns = netns_path(paths, container_id);
    // The container's own namespace goes below, and its veths with it.
    let delete_links = !netns.exists();
    let mut errors = ErrorList::new();
    match network::lock(paths) {
        Ok(_lock) => {
            let defs = errors.check(network::list(paths)).unwrap_or_default();
            for def in defs {
                let dir = network::network_dir(paths, &def);
                // An unreadable allocation file counts as attached: detach tries every step.
                let attached = endpoints::path(&dir, container_id).exists()
                    || errors
                        .check(crate::ipam::load(&dir))
                        .is_none_or(|owners| owners.values().any(|owner| container_id == owner));
                if attached {
                    // The container leaves the network as a stop makes it leave (dockerd's
                    // `disconnect` event), recorded once: by the teardown that found it on.
                    let was_on = endpoints::path(&dir, container_id).exists();
                    match detach_with(kernel, paths, &def, container_id, delete_links) {
                        Err(NetError::Many(inner)) => errors.extend(inner),
                        other => {
                            errors.check(other);
                        }
                    }
                    if was_on {
                        let event = berth_common::events::Event::network(
                            "disconnect",
                            &def.id,
                            &def.name,
                            Some(container_id),
                        );
                        berth_common::events::emit(paths, &event);
                    }
                }
            }
        }
        Err(e) => errors.push(e),
    }
    errors.check(crate::netns::remove(&netns));
    errors.finish(NetError::Many)
}

/// `connect`: another network for a running container, as the next `ethN`.
pub fn connect(
    ctx: &Context,
    container: &str,
    network_name: &str,
    aliases: &[String],
    ip: Option<Ipv4Addr>,
) -> Result<Endpoint> {
    let (id, name) = container_identity(ctx.paths, container)?;
    let path = netns_path(ctx.paths, &id);
    if !crate::netns::is_mounted(&path) {
        return Err(NetError::NoNetns(container.to_string()));
    }
    let names: Vec<String> = Netlink::open_in(&path)?
        .links()?
        .into_iter()
        .map(|l| l.name)
        .collect();
    let ifname = (0..)
        .map(|n| format!("eth{n}"))
        .find(|n| !names.contains(n))
        .expect("some ethN is free");
    let _lock = network::lock(ctx.paths)?;
    let def = network::find(ctx.paths, network_name)?;
    let (endpoint, _) = attach_locked(
        ctx,
        &def,
        &Attachment {
            netns: &path,
            container_id: &id,
            name: name.as_deref(),
            ifname: &ifname,
            aliases,
            ip,
            ports: &[],
            dns: &[],
            default_route: true,
        },
    )?;
    Ok(endpoint)
}

/// `disconnect`: takes a container off one network.
pub fn disconnect(paths: &Paths, container: &str, network_name: &str) -> Result<()> {
    let (id, _) = container_identity(paths, container)?;
    let _lock = network::lock(paths)?;
    let def = network::find(paths, network_name)?;
    if !endpoints::path(&network::network_dir(paths, &def), &id).exists() {
        return Err(NetError::NotConnected {
            container: container.to_string(),
            network: def.name,
        });
    }
    detach_locked(paths, &def, &id, true)
}

/// `network disconnect --force` of a container that is gone (docker's
/// `ForceEndpointDelete`): the network's endpoint whose container has that name or ID (or
/// unique ID prefix) is taken down, its veth, ports and address released. The container ID
/// of the endpoint, if there was one.
pub fn force_delete_endpoint(
    paths: &Paths,
    reference: &str,
    network_name: &str,
) -> Result<Option<String>> {
    let _lock = network::lock(paths)?;
    let def = network::find(paths, network_name)?;
    let all = endpoints::list(&network::network_dir(paths, &def));
    let named = |e: &&endpoints::EndpointFile| {
        e.name.as_deref().map(|n| n.trim_start_matches('/'))
            == Some(reference.trim_start_matches('/'))
            || e.container_id == reference
    };
    let found = match all.iter().find(named) {
        Some(e) => Some(e),
        None => {
            let mut prefixed = all.iter().filter(|e| e.container_id.starts_with(reference));
            match (prefixed.next(), prefixed.next()) {
                (Some(one), None) if !reference.is_empty() => Some(one),
                _ => None,
            }
        }
    };
    let Some(endpoint) = found else {
        return Ok(None);
    };
    detach_locked(paths, &def, &endpoint.container_id, true)?;
    Ok(Some(endpoint.container_id.clone()))
}

/// A container's ID and name, from a name, ID or unique ID prefix.
fn container_identity(
    paths: &Paths,
    reference: &str,
) -> Result<(ContainerId, Option<berth_common::ContainerName>)> {
    let id = registry::resolve(paths, reference)?;
    let name = registry::identity(paths, &id)?.and_then(|c| c.name);
    Ok((id, name))
}
