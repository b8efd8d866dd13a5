//! berth's nftables table on this host's real nft: the typed batches make the rule set the
//! text scripts made (`nft_table.txt`), and elements come and go as the networks and ports
//! do. Each test uses a table of its own, `berth_test_nftlib_<pid>_<n>`, deleted whatever
//! happens; no other table is touched.

use std::net::Ipv4Addr;
use std::process::Command;

use berth_common::PortMapping;
use berth_net::{nft, NetError, NetworkDef};

/// The test's table, deleted on drop by nft itself (not by the code under test).
struct TestTable(String);

impl TestTable {
    fn new(n: u32) -> Option<TestTable> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        if !Command::new("nft")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            eprintln!("skipped: no nft");
            return None;
        }
        Some(TestTable(format!(
            "berth_test_nftlib_{}_{n}",
            std::process::id()
        )))
    }

    fn listed(&self) -> String {
        let out = Command::new("nft")
            .args(["list", "table", "ip", &self.0])
            .output()
            .expect("run nft");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

impl Drop for TestTable {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.0])
            .output();
    }
}

fn network(table: &str, n: u8, internal: bool) -> NetworkDef {
    NetworkDef {
        name: format!("net{n}"),
        id: format!("{n:064x}"),
        driver: "bridge".into(),
        bridge: format!("brtest{n}"),
        subnet: format!("10.250.{n}.0/24").parse().unwrap(),
        gateway: Ipv4Addr::new(10, 250, n, 1),
        ip_range: None,
        internal,
        mtu: 1500,
        nft_table: table.to_string(),
        dns: false,
        created: String::new(),
        options: Default::default(),
        labels: Default::default(),
    }
}

fn port(host_ip: Ipv4Addr, host_port: u16, container_port: u16, proto: &str) -> PortMapping {
    PortMapping {
        host_ip,
        host_port,
        container_port,
        proto: proto.into(),
    }
}

/// The listing's top-level blocks (sets, maps, chains with their rules), sorted: the order
/// nft lists declarations in is the order they were made, which means nothing to the rules.
fn blocks(listing: &str) -> Vec<String> {
    let lines: Vec<&str> = listing.lines().filter(|l| !l.starts_with('#')).collect();
    // Inside `table ip NAME {` … `}`.
    let body = &lines[1..lines.len() - 1];
    let mut out: Vec<String> = body
        .split(|l| l.trim().is_empty())
        .map(|block| block.join("\n"))
        .collect();
    out.sort();
    out
}

#[test]
fn typed_batches_make_the_rule_set_the_text_scripts_made() {
    let Some(t) = TestTable::new(1) else { return };
    let (a, b) = (network(&t.0, 0, false), network(&t.0, 1, true));
    // Twice: the skeleton is re-made without losing or doubling anything.
    for _ in 0..2 {
        nft::add_network(&a).unwrap();
        nft::add_network(&b).unwrap();
    }
    let c0 = Ipv4Addr::new(10, 250, 0, 2);
    nft::add_ports(
        &t.0,
        c0,
        &[
            port(Ipv4Addr::UNSPECIFIED, 8080, 80, "tcp"),
            port(Ipv4Addr::LOCALHOST, 9090, 90, "tcp"),
        ],
    )
    .unwrap();
    let c1 = Ipv4Addr::new(10, 250, 1, 2);
    nft::add_ports(&t.0, c1, &[port(Ipv4Addr::UNSPECIFIED, 5353, 53, "udp")]).unwrap();

    let expected = include_str!("nft_table.txt").replace("TABLE", &t.0);
    assert_eq!(blocks(&t.listed()), blocks(&expected), "{}", t.listed());
}

#[test]
fn elements_come_and_go_with_networks_and_ports() {
    let Some(t) = TestTable::new(2) else { return };
    assert!(!nft::table_exists(&t.0).unwrap());
    assert!(nft::published(&t.0).unwrap().is_empty());
    // Nothing to remove from a table that is not there.
    let a = network(&t.0, 0, false);
    nft::remove_network(&a).unwrap();

    nft::add_network(&a).unwrap();
    assert!(nft::table_exists(&t.0).unwrap());
    assert_eq!(nft::bridges(&t.0).unwrap(), ["brtest0"]);
    let ports = [
        port(Ipv4Addr::UNSPECIFIED, 8080, 80, "tcp"),
        port(Ipv4Addr::LOCALHOST, 9090, 90, "udp"),
    ];
    let c = Ipv4Addr::new(10, 250, 0, 2);
    nft::add_ports(&t.0, c, &ports).unwrap();
    let mut keys: Vec<_> = nft::published(&t.0)
        .unwrap()
        .into_iter()
        .map(|m| (m.proto, m.host_ip, m.host_port))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("tcp".to_string(), Ipv4Addr::UNSPECIFIED, 8080),
            ("udp".to_string(), Ipv4Addr::LOCALHOST, 9090)
        ]
    );

    // A second publisher of 127.0.0.1:9090/udp is refused by name, and publishes nothing.
    let again = [
        port(Ipv4Addr::UNSPECIFIED, 7070, 70, "tcp"),
        ports[1].clone(),
    ];
    match nft::add_ports(&t.0, c, &again) {
        Err(NetError::PortAllocated { host_ip, port }) => {
            assert_eq!((host_ip.as_str(), port), ("127.0.0.1", 9090));
        }
        other => panic!("expected PortAllocated, got {other:?}"),
    }
    assert_eq!(nft::published(&t.0).unwrap().len(), 2);

    // Withdrawing ports is idempotent, also when some are gone already.
    nft::remove_ports(&t.0, &ports[..1]).unwrap();
    nft::remove_ports(&t.0, &ports).unwrap();
    assert!(nft::published(&t.0).unwrap().is_empty());

    nft::remove_subnet(&a).unwrap();
    assert!(!t.listed().contains("10.250.0.0/24"), "{}", t.listed());
    assert_eq!(nft::bridges(&t.0).unwrap(), ["brtest0"]);
    nft::remove_network(&a).unwrap();
    nft::remove_network(&a).unwrap();
    assert!(nft::bridges(&t.0).unwrap().is_empty());
    assert!(!t.listed().contains("brtest0"), "{}", t.listed());

    nft::delete_table(&t.0).unwrap();
    assert!(!nft::table_exists(&t.0).unwrap());
    nft::delete_table(&t.0).unwrap();
}

#[test]
fn a_failure_names_the_table_and_keeps_nfts_reason() {
    let Some(t) = TestTable::new(3) else { return };
    nft::add_network(&network(&t.0, 0, false)).unwrap();
    // An element for a port map that is not there: nft refuses, berth says where and why.
    let bad = port(Ipv4Addr::UNSPECIFIED, 8080, 80, "sctp");
    let err = nft::add_ports(&t.0, Ipv4Addr::new(10, 250, 0, 2), &[bad]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("table ip {}", t.0)), "{text}");
    assert!(text.contains("publish ports"), "{text}");
    match err {
        NetError::Nft(nft::NftError::Failed { message, .. }) => {
            assert!(!message.is_empty(), "nft's reason is kept")
        }
        other => panic!("expected an nft failure, got {other:?}"),
    }
}
