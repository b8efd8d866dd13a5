//! berth's nftables rules, all in one table of its own (family `ip`), so berth never
//! rewrites a rule it does not own and runs beside Docker's and podman's rules.
//!
//! The rules are fixed; what changes is set and map elements: the bridges, the subnets,
//! and one map element per published port. Adding a network or a port is one atomic
//! `nft -f -` transaction, removing it another, and no rule handle has to be looked up.
//! berth drives the `nft` program (text syntax) rather than a netlink library: the
//! libnftnl-based crates need C libraries, and the pure-Rust ones do not yet cover
//! maps with concatenations; one exec costs about 2 ms and only happens when a network
//! or a published port changes, never on a plain container start.

use std::io::Write;
use std::process::{Command, Stdio};

use berth_common::PortMapping;

use crate::error::{NetError, Result};
use crate::network::NetworkDef;

/// The table's skeleton: idempotent `add`s, then the fixed rules re-made atomically
/// (flushing a chain keeps the sets' elements).
fn skeleton(table: &str) -> String {
    let t = format!("ip {table}");
    let mut s = String::new();
    s += &format!("add table {t}\n");
    s += &format!("add set {t} bridges {{ type ifname; }}\n");
    s += &format!("add set {t} same {{ type ifname . ifname; }}\n");
    s += &format!("add set {t} internal {{ type ifname; }}\n");
    s += &format!("add set {t} nets {{ type ipv4_addr; flags interval; }}\n");
    s += &format!("add set {t} masq {{ type ipv4_addr; flags interval; }}\n");
    for proto in ["tcp", "udp"] {
        s += &format!(
            "add map {t} {proto}_any {{ type inet_service : ipv4_addr . inet_service; }}\n"
        );
        s += &format!("add map {t} {proto}_ip {{ type ipv4_addr . inet_service : ipv4_addr . inet_service; }}\n");
    }
    s += &format!(
        "add chain {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n"
    );
    s +=
        &format!("add chain {t} output {{ type nat hook output priority -100; policy accept; }}\n");
    s += &format!("add chain {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n");
    s += &format!(
        "add chain {t} forward {{ type filter hook forward priority filter; policy accept; }}\n"
    );
    s += &format!("add chain {t} ports\n");
    for chain in ["prerouting", "output", "postrouting", "forward", "ports"] {
        s += &format!("flush chain {t} {chain}\n");
    }
    // Published ports: traffic to any local address, from outside or from the host.
    s += &format!("add rule {t} prerouting fib daddr type local jump ports\n");
    s += &format!("add rule {t} output fib daddr type local jump ports\n");
    for proto in ["tcp", "udp"] {
        s += &format!("add rule {t} ports dnat ip to ip daddr . {proto} dport map @{proto}_ip\n");
        s += &format!("add rule {t} ports dnat ip to {proto} dport map @{proto}_any\n");
    }
    // Outbound NAT for non-internal networks.
    s += &format!("add rule {t} postrouting ip saddr @masq oifname != @bridges masquerade\n");
    // Hairpin: a container reaching a published port of its own network, and the host
    // reaching one over 127.0.0.1, must see replies come from where it sent to.
    s += &format!(
        "add rule {t} postrouting oifname @bridges ct status dnat ip saddr @nets masquerade\n"
    );
    s += &format!("add rule {t} postrouting oifname @bridges ip saddr 127.0.0.0/8 masquerade\n");
    // Isolation: nothing crosses from one berth network to another; internal networks
    // talk to nothing but themselves.
    s += &format!(
        "add rule {t} forward iifname @bridges oifname @bridges iifname . oifname != @same drop\n"
    );
    s += &format!("add rule {t} forward iifname @internal iifname . oifname != @same drop\n");
    s += &format!("add rule {t} forward oifname @internal iifname . oifname != @same drop\n");
    s
}

fn network_elements(def: &NetworkDef, verb: &str) -> String {
    let t = format!("ip {}", def.nft_table);
    let br = &def.bridge;
    let mut s = format!("{verb} element {t} bridges {{ \"{br}\" }}\n");
    s += &format!("{verb} element {t} same {{ \"{br}\" . \"{br}\" }}\n");
    s += &format!("{verb} element {t} nets {{ {} }}\n", def.subnet);
    if def.internal {
        s += &format!("{verb} element {t} internal {{ \"{br}\" }}\n");
    } else {
        s += &format!("{verb} element {t} masq {{ {} }}\n", def.subnet);
    }
    s
}

/// Makes the table (if needed) and adds the network's bridge and subnet to its sets.
pub fn add_network(def: &NetworkDef) -> Result<()> {
    let mut script = skeleton(&def.nft_table);
    // `add element` of an element already there is not an error: re-adding repairs.
    script += &network_elements(def, "add");
    run(&script)
}

/// Takes the network's elements out of the sets (its rules go with them).
pub fn remove_network(def: &NetworkDef) -> Result<()> {
    if !table_exists(&def.nft_table)? {
        return Ok(());
    }
    let script = network_elements(def, "delete");
    // Each element separately: one already gone must not keep the others in place.
    for line in script.lines() {
        if let Err(e) = run(line) {
            if !is_missing(&e) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Takes only the network's subnet out of the table (`nets`, `masq`), leaving its bridge's
/// elements to the other network still on that bridge.
pub fn remove_subnet(def: &NetworkDef) -> Result<()> {
    if !table_exists(&def.nft_table)? {
        return Ok(());
    }
    let t = format!("ip {}", def.nft_table);
    for set in ["nets", "masq"] {
        if let Err(e) = run(&format!("delete element {t} {set} {{ {} }}\n", def.subnet)) {
            if !is_missing(&e) {
                return Err(e);
            }
        }
    }
    Ok(())
}

fn port_element(
    table: &str,
    m: &PortMapping,
    target: Option<std::net::Ipv4Addr>,
    verb: &str,
) -> String {
    let t = format!("ip {table}");
    let key = if m.host_ip.is_unspecified() {
        format!("{}", m.host_port)
    } else {
        format!("{} . {}", m.host_ip, m.host_port)
    };
    let map = if m.host_ip.is_unspecified() {
        "any"
    } else {
        "ip"
    };
    match target {
        Some(ip) => format!(
            "{verb} element {t} {}_{map} {{ {key} : {ip} . {} }}\n",
            m.proto, m.container_port
        ),
        None => format!("{verb} element {t} {}_{map} {{ {key} }}\n", m.proto),
    }
}

/// Publishes `ports` of the container at `ip`, all or none. A host port that another
/// rule of the table already forwards is reported as allocated.
pub fn add_ports(table: &str, ip: std::net::Ipv4Addr, ports: &[PortMapping]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let script: String = ports
        .iter()
        .map(|m| port_element(table, m, Some(ip), "create"))
        .collect();
    run(&script).map_err(|e| match e {
        NetError::Nft(e) if e.is_exists() => NetError::PortAllocated {
            host_ip: ports[0].host_ip.to_string(),
            port: ports[0].host_port,
        },
        other => other,
    })
}

/// Withdraws published ports; ones already gone are skipped.
pub fn remove_ports(table: &str, ports: &[PortMapping]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let script: String = ports
        .iter()
        .map(|m| port_element(table, m, None, "delete"))
        .collect();
    match run(&script) {
        Ok(()) => Ok(()),
        Err(_) => {
            for line in script.lines() {
                if let Err(e) = run(line) {
                    if !is_missing(&e) {
                        return Err(e);
                    }
                }
            }
            Ok(())
        }
    }
}

/// The published ports the table holds, as (proto, host ip, host port) keys; for gc.
pub fn published(table: &str) -> Result<Vec<PortMapping>> {
    if !table_exists(table)? {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for proto in ["tcp", "udp"] {
        for kind in ["any", "ip"] {
            let text = capture(&["-j", "list", "map", "ip", table, &format!("{proto}_{kind}")])?;
            out.extend(parse_map_keys(&text, proto));
        }
    }
    Ok(out)
}

/// Keys of a map from `nft -j list map`: a port, or a concatenation [ip, port].
fn parse_map_keys(json: &str, proto: &str) -> Vec<PortMapping> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let items = value["nftables"].as_array().cloned().unwrap_or_default();
    for item in items {
        let Some(elems) = item["map"]["elem"].as_array() else {
            continue;
        };
        for elem in elems {
            let key = &elem[0];
            let (host_ip, host_port) = if let Some(port) = key.as_u64() {
                (std::net::Ipv4Addr::UNSPECIFIED, port)
            } else if let Some(concat) = key["concat"].as_array() {
                let ip = concat
                    .first()
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse().ok());
                let port = concat.get(1).and_then(|v| v.as_u64());
                match (ip, port) {
                    (Some(ip), Some(port)) => (ip, port),
                    _ => continue,
                }
            } else {
                continue;
            };
            out.push(PortMapping {
                host_ip,
                host_port: host_port as u16,
                container_port: 0,
                proto: proto.to_string(),
            });
        }
    }
    out
}

/// The bridges in the table's `bridges` set (every root's networks that use the table).
pub fn bridges(table: &str) -> Result<Vec<String>> {
    if !table_exists(table)? {
        return Ok(Vec::new());
    }
    let text = capture(&["-j", "list", "set", "ip", table, "bridges"])?;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut out = Vec::new();
    for item in value["nftables"].as_array().cloned().unwrap_or_default() {
        for elem in item["set"]["elem"].as_array().cloned().unwrap_or_default() {
            if let Some(name) = elem.as_str() {
                out.push(name.to_string());
            }
        }
    }
    Ok(out)
}

pub fn has_bridge(table: &str, bridge: &str) -> bool {
    bridges(table).is_ok_and(|all| all.iter().any(|b| b == bridge))
}

pub fn table_exists(table: &str) -> Result<bool> {
    match capture(&["list", "table", "ip", table]) {
        Ok(_) => Ok(true),
        Err(NetError::Nft(e)) if e.is_missing() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes the whole table (the last network of a table is gone, or a test cleans up).
pub fn delete_table(table: &str) -> Result<()> {
    if table_exists(table)? {
        run(&format!("delete table ip {table}\n"))?;
    }
    Ok(())
}

fn is_missing(e: &NetError) -> bool {
    matches!(e, NetError::Nft(e) if e.is_missing())
}

/// How running `nft` failed.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("cannot run nft: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("{op} nft: {source}")]
    Pipe {
        op: &'static str,
        source: std::io::Error,
    },
    /// nft refused the commands; its message as it printed it.
    #[error("{message}")]
    Refused { message: String },
}

impl NftError {
    fn refused(stderr: &[u8]) -> NftError {
        NftError::Refused {
            message: String::from_utf8_lossy(stderr).trim().to_string(),
        }
    }

    /// nft tells its errors by the kernel's strerror text only, so the errno is read from
    /// that: EEXIST (an element another rule has).
    pub fn is_exists(&self) -> bool {
        self.refused_with("File exists")
    }

    /// ENOENT: the table, set or element is not there.
    pub fn is_missing(&self) -> bool {
        self.refused_with("No such file")
    }

    fn refused_with(&self, text: &str) -> bool {
        matches!(self, NftError::Refused { message } if message.contains(text))
    }
}

fn nft() -> Command {
    Command::new("nft")
}

fn not_installed(e: std::io::Error) -> NetError {
    if e.kind() == std::io::ErrorKind::NotFound {
        NetError::Unsupported(
            "the nft program (nftables) is not installed: berth needs it for NAT and published ports (apt-get install nftables)".into(),
        )
    } else {
        NftError::Spawn(e).into()
    }
}

/// Runs one atomic transaction.
fn run(script: &str) -> Result<()> {
    tracing::debug!(script, "nft");
    let mut child = nft()
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(not_installed)?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .map_err(|source| NftError::Pipe {
            op: "writing to",
            source,
        })?;
    let out = child.wait_with_output().map_err(|source| NftError::Pipe {
        op: "waiting for",
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NftError::refused(&out.stderr).into())
    }
}

fn capture(args: &[&str]) -> Result<String> {
    let out = nft().args(args).output().map_err(not_installed)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NftError::refused(&out.stderr).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_refusals_are_told_apart() {
        let exists = NftError::refused(
            b"Error: Could not process rule: File exists\ncreate element ip t tcp_any { 80 }\n",
        );
        assert!(exists.is_exists() && !exists.is_missing());
        let missing = NftError::refused(b"Error: No such file or directory; did you mean table?");
        assert!(missing.is_missing() && !missing.is_exists());
        assert!(is_missing(&NetError::from(missing)));
        let spawn = NftError::Spawn(std::io::ErrorKind::PermissionDenied.into());
        assert!(!spawn.is_exists() && !spawn.is_missing());
        let error = NetError::from(spawn);
        assert_eq!(error.kind(), berth_common::ErrorKind::Internal);
        assert!(
            error.to_string().starts_with("nftables: cannot run nft: "),
            "{error}"
        );
    }

    #[test]
    fn map_keys_parse_from_nft_json() {
        let any = r#"{"nftables":[{"metainfo":{}},{"map":{"family":"ip","name":"tcp_any","table":"t","type":"inet_service","map":["ipv4_addr","inet_service"],"elem":[[8080,{"concat":["10.1.0.2",80]}]]}}]}"#;
        let got = parse_map_keys(any, "tcp");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].host_port, 8080);
        assert!(got[0].host_ip.is_unspecified());
        let ip = r#"{"nftables":[{"map":{"elem":[[{"concat":["127.0.0.1",9090]},{"concat":["10.1.0.2",80]}]]}}]}"#;
        let got = parse_map_keys(ip, "udp");
        assert_eq!(
            (got[0].host_ip, got[0].host_port, got[0].proto.as_str()),
            (std::net::Ipv4Addr::LOCALHOST, 9090, "udp")
        );
    }

    #[test]
    fn port_elements_name_the_right_map() {
        let m = PortMapping {
            host_ip: std::net::Ipv4Addr::LOCALHOST,
            host_port: 8080,
            container_port: 80,
            proto: "udp".into(),
        };
        let line = port_element("t", &m, Some("10.0.0.2".parse().unwrap()), "create");
        assert_eq!(
            line,
            "create element ip t udp_ip { 127.0.0.1 . 8080 : 10.0.0.2 . 80 }\n"
        );
        let m = PortMapping {
            host_ip: std::net::Ipv4Addr::UNSPECIFIED,
            ..m
        };
        assert_eq!(
            port_element("t", &m, None, "delete"),
            "delete element ip t udp_any { 8080 }\n"
        );
    }
}
