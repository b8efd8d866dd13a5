//! Whole-network operations (`create`, `rm`, `prune`) and `gc`, which reconciles what a
//! crash left behind (namespaces, links, rules, allocations, endpoints) with the
//! containers that still run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use berth_common::Paths;

use crate::endpoints;
use crate::error::{NetError, Result};
use crate::netlink::Netlink;
use crate::network::{self, CreateRequest, NetworkDef};
use crate::settings::HostSettings;

/// `create`: defines the network and brings its bridge up.
pub fn create(
    paths: &Paths,
    settings: &HostSettings,
    request: &CreateRequest,
) -> Result<NetworkDef> {
    if network::is_predefined(&request.name) {
        return Err(NetError::Predefined(request.name.clone()));
    }
    let _lock = network::lock(paths)?;
    let def = network::define(paths, settings, request)?;
    let made = Netlink::open()
        .map_err(NetError::from)
        .and_then(|mut nl| crate::bridge::ensure(&mut nl, &def));
    if let Err(e) = made {
        let _ = network::forget(paths, &def);
        return Err(e);
    }
    Ok(def)
}

/// `rm`: refused while containers are attached.
pub fn remove(paths: &Paths, reference: &str) -> Result<NetworkDef> {
    let _lock = network::lock(paths)?;
    let def = network::find(paths, reference)?;
    if network::is_predefined(&def.name) {
        return Err(NetError::Predefined(def.name));
    }
    let attached = endpoints::list(&network::network_dir(paths, &def));
    if !attached.is_empty() {
        let containers: Vec<String> = attached
            .iter()
            .map(|e| e.name.clone().unwrap_or_else(|| short_id(&e.container_id)))
            .collect();
        return Err(NetError::NetworkInUse {
            name: def.name,
            containers: containers.join(", "),
        });
    }
    teardown(paths, &def)?;
    Ok(def)
}

/// Removes a network with no endpoints: DNS server, bridge, rules, files.
fn teardown(paths: &Paths, def: &NetworkDef) -> Result<()> {
    crate::dns_serve::stop(paths, def)?;
    crate::bridge::remove(&mut Netlink::open()?, def)?;
    let run = crate::dns_serve::pid_file(paths, def);
    if let Some(dir) = run.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
    network::forget(paths, def)
}

/// `prune`: every user-defined network without containers.
pub fn prune(paths: &Paths) -> Result<Vec<String>> {
    let _lock = network::lock(paths)?;
    let mut removed = Vec::new();
    for def in network::list(paths)? {
        if network::is_predefined(&def.name) {
            continue;
        }
        if endpoints::list(&network::network_dir(paths, &def)).is_empty() {
            teardown(paths, &def)?;
            removed.push(def.name);
        }
    }
    Ok(removed)
}

/// Removes everything of the root, the default network included, and the nftables table
/// when no network of any root uses it any more: for uninstalling, and for tests.
pub fn reset(paths: &Paths, settings: &HostSettings) -> Result<()> {
    let report = gc(paths)?;
    if !report.kept_containers.is_empty() {
        return Err(NetError::NetworkInUse {
            name: "(all)".into(),
            containers: report.kept_containers.join(", "),
        });
    }
    let _lock = network::lock(paths)?;
    let mut tables = BTreeSet::from([settings.nft_table.clone()]);
    for def in network::list(paths)? {
        tables.insert(def.nft_table.clone());
        teardown(paths, &def)?;
    }
    for table in tables {
        if crate::nft::published(&table)?.is_empty() && !table_has_networks(&table)? {
            crate::nft::delete_table(&table)?;
        }
    }
    crate::netns::release_dir(&paths.netns())?;
    // This root's namespace of the run dir; the other roots' stay.
    let run = paths.root_run();
    match std::fs::remove_dir_all(&run) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(crate::error::io_err("removing", run)(e))
        }
        _ => Ok(()),
    }
}

fn table_has_networks(table: &str) -> Result<bool> {
    // Any berth bridge of another root still in the table's set keeps it.
    let links = Netlink::open()?.links()?;
    Ok(links
        .iter()
        .any(|l| l.kind.as_deref() == Some("bridge") && crate::nft::has_bridge(table, &l.name)))
}

/// What `gc` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    /// Containers whose namespace still has processes: left alone.
    pub kept_containers: Vec<String>,
    pub removed_netns: Vec<String>,
    pub released_endpoints: Vec<String>,
    pub removed_links: Vec<String>,
    pub removed_ports: Vec<String>,
    pub released_addresses: Vec<String>,
}

/// Inode numbers of every network namespace some process is in.
fn namespaces_in_use() -> BTreeSet<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut inodes = BTreeSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return inodes;
    };
    for entry in procs.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(meta) = std::fs::metadata(entry.path().join("ns/net")) {
            inodes.insert(meta.ino());
        }
    }
    inodes
}

/// A namespace file whose namespace no process is in any more.
fn netns_dead(path: &Path, in_use: &BTreeSet<u64>) -> bool {
    use std::os::unix::fs::MetadataExt;
    if !crate::netns::is_mounted(path) {
        return true;
    }
    std::fs::metadata(path)
        .map(|m| !in_use.contains(&m.ino()))
        .unwrap_or(true)
}

/// The containers of this root: those with state under it, and those its networks have
/// endpoints or addresses for (a container whose state is gone but whose network was not
/// taken down).
fn containers_of_root(paths: &Paths) -> Result<BTreeSet<String>> {
    let mut ids: BTreeSet<String> = std::fs::read_dir(paths.containers())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for def in network::list(paths)? {
        let dir = network::network_dir(paths, &def);
        ids.extend(endpoints::list(&dir).into_iter().map(|e| e.container_id));
        ids.extend(crate::ipam::load(&dir)?.into_values());
    }
    Ok(ids)
}

/// Reconciles the networks with the containers that still run. A container counts as
/// running while some process is in its network namespace.
pub fn gc(paths: &Paths) -> Result<GcReport> {
    let mut report = GcReport::default();
    let in_use = namespaces_in_use();
    let mut live = BTreeSet::new();
    let netns_dir = paths.netns();
    let ours = containers_of_root(paths)?;
    if let Ok(entries) = std::fs::read_dir(&netns_dir) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            // The netns directory is shared by every root using this run dir.
            if !ours.contains(&id) {
                continue;
            }
            let path: PathBuf = entry.path();
            if netns_dead(&path, &in_use) {
                crate::netns::remove(&path)?;
                report.removed_netns.push(id);
            } else {
                report.kept_containers.push(id.clone());
                live.insert(id);
            }
        }
    }
    let _lock = network::lock(paths)?;
    let mut nl = Netlink::open()?;
    for def in network::list(paths)? {
        let dir = network::network_dir(paths, &def);
        let mut keep_veths = BTreeSet::new();
        for e in endpoints::list(&dir) {
            if live.contains(&e.container_id) {
                keep_veths.insert(e.host_veth.clone());
            } else {
                crate::attach::detach_locked(paths, &def, &e.container_id, false)?;
                report.released_endpoints.push(format!(
                    "{}/{}",
                    def.name,
                    short_id(&e.container_id)
                ));
            }
        }
        for ip in crate::ipam::retain(&dir, |owner| live.contains(owner))? {
            report.released_addresses.push(format!("{}/{ip}", def.name));
        }
        // Read after the endpoints went: what is left on the bridge now belongs to nobody.
        let links = nl.links()?;
        // Links on this network's bridge that no live endpoint owns.
        if let Some(bridge) = links.iter().find(|l| l.name == def.bridge) {
            for link in links.iter().filter(|l| l.master == Some(bridge.index)) {
                // A bridge may carry another root's network too: only this network's
                // veths (named after its id) are this gc's to judge.
                let ours = link.name.starts_with("bv") && link.name.ends_with(&def.id[..4]);
                if ours && !keep_veths.contains(&link.name) {
                    nl.delete_link_by_name(&link.name)?;
                    report.removed_links.push(link.name.clone());
                }
            }
            // Repair the network's rules (a flushed ruleset, a table deleted by hand).
            crate::nft::add_network(&def)?;
        }
    }
    let mut keep_ports = Vec::new();
    let mut tables = BTreeSet::new();
    for def in network::list(paths)? {
        tables.insert(def.nft_table.clone());
        for e in endpoints::list(&network::network_dir(paths, &def)) {
            keep_ports.extend(e.ports);
        }
    }
    for table in tables {
        let stale: Vec<_> = crate::nft::published(&table)?
            .into_iter()
            .filter(|p| {
                !keep_ports.iter().any(|k| {
                    k.proto == p.proto && k.host_port == p.host_port && k.host_ip == p.host_ip
                })
            })
            .collect();
        if !stale.is_empty() && tables_shared_ok(&table, paths, &mut nl) {
            crate::nft::remove_ports(&table, &stale)?;
            report.removed_ports.extend(
                stale
                    .iter()
                    .map(|p| format!("{}:{}/{}", p.host_ip, p.host_port, p.proto)),
            );
        }
    }
    Ok(report)
}

/// Port rules can be reconciled only if no other root shares the table: a table is shared
/// when it holds a bridge that none of this root's networks owns, or one of this root's
/// bridges that carries an address besides this root's gateways (another root's network
/// told to use the same bridge).
fn tables_shared_ok(table: &str, paths: &Paths, nl: &mut Netlink) -> bool {
    let defs: Vec<NetworkDef> = network::list(paths)
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.nft_table == table)
        .collect();
    let only_ours = |bridge: &String| {
        if !defs.iter().any(|d| &d.bridge == bridge) {
            return false;
        }
        let Ok(Some(link)) = nl.link(bridge) else {
            return true;
        };
        nl.addresses(link.index).is_ok_and(|addrs| {
            addrs
                .iter()
                .all(|(ip, _)| defs.iter().any(|d| &d.bridge == bridge && d.gateway == *ip))
        })
    };
    crate::nft::bridges(table)
        .map(|all| all.iter().all(only_ours))
        .unwrap_or(false)
}

/// An endpoint file's container id in its short form; a file naming something that is not
/// an id (written by hand, damaged) is shown as it is rather than sliced.
fn short_id(container_id: &str) -> String {
    berth_common::ContainerId::parse(container_id)
        .map(|id| id.short().to_string())
        .unwrap_or_else(|_| container_id.to_string())
}
