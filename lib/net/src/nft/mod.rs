//! berth's nftables rules, all in one table of its own (family `ip`), so berth never
//! rewrites a rule it does not own and runs beside Docker's and podman's rules.
//!
//! The rules are fixed; what changes is set and map elements: the bridges, the subnets,
//! and one map element per published port. Adding or removing a port or a network's
//! elements is one atomic transaction, and no rule handle has to be looked up.
//!
//! Everything is built as the `nftables` crate's typed schema (`skeleton`, `elements`) and
//! run through libnftables' JSON API (`nft -j -f -`, `exec`); listings are `nft -j list`
//! read into the crate's types. Two things are not: the four DNAT maps are declared in nft
//! text, which the nft of Debian 12 (1.0.6) cannot take as JSON (`skeleton::port_maps`;
//! idempotent, just before the skeleton's transaction). No failure is classified by
//! nft's message (nft exits 1 for every one and names the errno only in English): deletes
//! are made idempotent (an element is added, then deleted), and a refused port is looked
//! up in the table. berth execs `nft` rather
//! than speaking netlink: the libnftnl crates need C libraries, and the pure-Rust ones do
//! not cover maps with concatenations; one exec costs about 2 ms and only happens when a
//! network or a published port changes, never on a plain container start.

mod elements;
mod exec;
mod skeleton;

use std::net::Ipv4Addr;

use berth_common::PortMapping;
use nftables::batch::Batch;
use nftables::schema::{NfCmd, NfListObject, NfObject, Nftables, Table};
use nftables::types::NfFamily;

pub use exec::NftError;

use crate::error::{NetError, Result};
use crate::network::NetworkDef;

/// Makes the table (if needed) and adds the network's bridge and subnet to its sets.
pub fn add_network(def: &NetworkDef) -> Result<()> {
    let table = &def.nft_table;
    exec::apply_text(table, "declare the port maps", &skeleton::port_maps(table))?;
    let mut batch = skeleton::batch(table);
    // `add element` of an element already there is not an error: re-adding repairs.
    for element in elements::network(def) {
        batch.add(element);
    }
    exec::apply(
        table,
        "add the network's rules and elements",
        &batch.to_nftables(),
    )?;
    Ok(())
}

/// Takes the network's elements out of the sets (its rules go with them).
pub fn remove_network(def: &NetworkDef) -> Result<()> {
    delete_each(&def.nft_table, elements::network(def))
}

/// Takes only the network's subnet out of the table (`nets`, `masq`), leaving its bridge's
/// elements to the other network still on that bridge.
pub fn remove_subnet(def: &NetworkDef) -> Result<()> {
    delete_each(&def.nft_table, elements::subnet(def))
}

/// Deletes the elements whether or not they are there, in one transaction: each is added
/// and then deleted, as `add element` of an element already there is no error. So no
/// failure has to be told apart by nft's message (nft exits 1 for every failure and names
/// the kernel's errno only in English): any failure here is a real one.
fn delete_each(table: &str, objects: Vec<NfListObject<'static>>) -> Result<()> {
    if objects.is_empty() || !table_exists(table)? {
        return Ok(());
    }
    let mut batch = Batch::new();
    for object in objects {
        batch.add(object.clone());
        batch.delete(object);
    }
    exec::apply(table, "delete the network's elements", &batch.to_nftables())?;
    Ok(())
}

fn deleting(objects: impl IntoIterator<Item = NfListObject<'static>>) -> Nftables<'static> {
    let mut batch = Batch::new();
    for object in objects {
        batch.delete(object);
    }
    batch.to_nftables()
}

/// Publishes `ports` of the container at `ip`, all or none. A host port that another
/// element of the table already forwards is reported as allocated.
pub fn add_ports(table: &str, ip: Ipv4Addr, ports: &[PortMapping]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::new();
    for m in ports {
        batch.add_cmd(NfCmd::Create(elements::port(table, m, Some(ip))));
    }
    // A `create` refused: whether because a port is taken is read from the table, not
    // from nft's message.
    exec::apply(table, "publish ports", &batch.to_nftables()).map_err(|e| {
        let taken = published(table).unwrap_or_default();
        match ports.iter().find(|m| holds(&taken, m)) {
            Some(m) => NetError::PortAllocated {
                host_ip: m.host_ip.to_string(),
                port: m.host_port,
            },
            None => e.into(),
        }
    })
}

/// Whether `taken` (the table's port keys) has `m`'s key.
fn holds(taken: &[PortMapping], m: &PortMapping) -> bool {
    taken.iter().any(|t| {
        (t.proto.as_str(), t.host_ip, t.host_port) == (m.proto.as_str(), m.host_ip, m.host_port)
    })
}

/// Withdraws published ports; ones already gone (the table lists them no more) are
/// skipped, so a second teardown succeeds.
pub fn remove_ports(table: &str, ports: &[PortMapping]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let taken = published(table)?;
    let keys: Vec<_> = ports
        .iter()
        .filter(|m| holds(&taken, m))
        .map(|m| elements::port(table, m, None))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    exec::apply(table, "withdraw ports", &deleting(keys))?;
    Ok(())
}

/// The table's sets and maps, or `None` when there is no table.
fn listing(table: &str) -> Result<Option<elements::Listing>> {
    if !table_exists(table)? {
        return Ok(None);
    }
    let op = "list the table";
    let text = exec::list(table, op, &["list", "table", "ip", table])?;
    let listing = serde_json::from_str(&text).map_err(|source| NftError::Listing {
        table: table.to_string(),
        op,
        source,
    })?;
    Ok(Some(listing))
}

/// The published ports the table holds, as (proto, host ip, host port) keys; for gc.
pub fn published(table: &str) -> Result<Vec<PortMapping>> {
    Ok(listing(table)?.map(|l| l.published()).unwrap_or_default())
}

/// The bridges in the table's `bridges` set (every root's networks that use the table).
pub fn bridges(table: &str) -> Result<Vec<String>> {
    Ok(listing(table)?.map(|l| l.bridges()).unwrap_or_default())
}

pub fn has_bridge(table: &str, bridge: &str) -> bool {
    bridges(table).is_ok_and(|all| all.iter().any(|b| b == bridge))
}

/// Whether the table is there, from nft's list of `ip` tables (not from its error text).
pub fn table_exists(table: &str) -> Result<bool> {
    let tables = exec::list_typed(table, "list the tables", &["list", "tables", "ip"])?;
    Ok(tables.objects.iter().any(|o| {
        matches!(o, NfObject::ListObject(NfListObject::Table(t)) if t.family == NfFamily::IP && t.name == table)
    }))
}

/// Removes the whole table (the last network of a table is gone, or a test cleans up).
pub fn delete_table(table: &str) -> Result<()> {
    if table_exists(table)? {
        let t = NfListObject::Table(Table {
            family: NfFamily::IP,
            name: table.to_string().into(),
            handle: None,
        });
        exec::apply(table, "delete the table", &deleting([t]))?;
    }
    Ok(())
}
