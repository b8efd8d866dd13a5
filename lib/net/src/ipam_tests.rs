//! IPAM against a network directory in a temporary directory: the order addresses are
//! given in, what is never given, `--ip`, exhaustion, release, the lock, and the file.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

use super::*;

fn def_with_gateway(subnet: &str, gateway: Option<Ipv4Addr>) -> NetworkDef {
    let subnet: Ipv4Net = subnet.parse().unwrap();
    NetworkDef {
        name: "ipamnet".into(),
        id: "0".repeat(64),
        driver: "bridge".into(),
        bridge: "b".into(),
        subnet,
        gateway: gateway.unwrap_or_else(|| first_host(&subnet)),
        ip_range: None,
        internal: false,
        mtu: 1500,
        nft_table: "t".into(),
        dns: true,
        created: String::new(),
        options: Default::default(),
        labels: Default::default(),
    }
}

fn def(subnet: &str) -> NetworkDef {
    def_with_gateway(subnet, None)
}

fn ip(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 9, 0, d)
}

/// Allocates for `containers` in turn, without `--ip`.
fn take(def: &NetworkDef, dir: &Path, containers: &[&str]) -> Vec<Ipv4Addr> {
    containers
        .iter()
        .map(|c| allocate(def, dir, c, None).unwrap())
        .collect()
}

#[test]
fn addresses_skip_the_gateway_and_are_never_given_twice() {
    let dir = tempfile::tempdir().unwrap();
    let def = def("10.9.0.0/29");
    let got = take(&def, dir.path(), &["c0", "c1", "c2", "c3", "c4"]);
    assert_eq!(got, [ip(2), ip(3), ip(4), ip(5), ip(6)]);
    assert!(matches!(
        allocate(&def, dir.path(), "c9", None),
        Err(NetError::AddressesExhausted { .. })
    ));
    release(dir.path(), "c1").unwrap();
    assert_eq!(allocate(&def, dir.path(), "c9", None).unwrap(), ip(3));
}

#[test]
fn a_gateway_inside_the_range_is_skipped_and_network_and_broadcast_are_never_given() {
    let dir = tempfile::tempdir().unwrap();
    // The gateway is not the first host: .1 is given, .4 is not.
    let def = def_with_gateway("10.9.0.0/29", Some(ip(4)));
    let got = take(&def, dir.path(), &["a", "b", "c", "d", "e"]);
    assert_eq!(got, [ip(1), ip(2), ip(3), ip(5), ip(6)]);
    let err = allocate(&def, dir.path(), "f", None).unwrap_err();
    assert!(matches!(err, NetError::AddressesExhausted { .. }), "{err}");
    for reserved in [ip(0), ip(4), ip(7)] {
        assert!(!load(dir.path()).unwrap().contains_key(&reserved));
    }
}

#[test]
fn the_search_goes_on_after_the_last_address_given_then_wraps() {
    let dir = tempfile::tempdir().unwrap();
    let def = def("10.9.0.0/29");
    assert_eq!(
        take(&def, dir.path(), &["a", "b", "c"]),
        [ip(2), ip(3), ip(4)]
    );
    // .2 is free again, but the addresses after the last one given come first: a veth
    // of the old owner of .2 may still be on its way out.
    release(dir.path(), "a").unwrap();
    assert_eq!(take(&def, dir.path(), &["d", "e"]), [ip(5), ip(6)]);
    // Past the end, the search wraps to the lowest free address.
    assert_eq!(take(&def, dir.path(), &["f"]), [ip(2)]);
}

#[test]
fn a_last_address_outside_the_subnet_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let def = def("10.9.0.0/29");
    std::fs::write(last_path(dir.path()), "192.168.7.7\n").unwrap();
    assert_eq!(take(&def, dir.path(), &["a"]), [ip(2)]);
    std::fs::write(last_path(dir.path()), "not an address").unwrap();
    assert_eq!(take(&def, dir.path(), &["b"]), [ip(3)]);
}

#[test]
fn requested_addresses_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let def = def("10.9.0.0/24");
    let wanted = ip(50);
    assert_eq!(
        allocate(&def, dir.path(), "a", Some(wanted)).unwrap(),
        wanted
    );
    let err = allocate(&def, dir.path(), "b", Some(wanted)).unwrap_err();
    assert!(matches!(err, NetError::AddressInUse { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "address 10.9.0.50 is already in use on network ipamnet"
    );
    assert_eq!(err.kind(), berth_common::ErrorKind::Conflict);
    // The gateway, the network address, the broadcast address and foreign addresses.
    for refused in [ip(1), ip(0), ip(255), Ipv4Addr::new(10, 10, 0, 5)] {
        let err = allocate(&def, dir.path(), "b", Some(refused)).unwrap_err();
        assert!(
            matches!(err, NetError::AddressOutside { .. }),
            "{refused}: {err}"
        );
        assert_eq!(err.kind(), berth_common::ErrorKind::InvalidInput);
        assert!(
            err.to_string().contains("ipamnet's subnet 10.9.0.0/24"),
            "{err}"
        );
    }
    // Refusals change nothing: only `a` holds an address.
    let held = load(dir.path()).unwrap();
    assert_eq!(
        held.into_iter().collect::<Vec<_>>(),
        [(wanted, "a".to_string())]
    );
}

#[test]
fn the_search_goes_on_after_a_requested_address_too() {
    let dir = tempfile::tempdir().unwrap();
    let def = def("10.9.0.0/24");
    allocate(&def, dir.path(), "fixed", Some(ip(3))).unwrap();
    // The search starts after the last address given (.3), not at .2 again.
    assert_eq!(take(&def, dir.path(), &["a", "b"]), [ip(4), ip(5)]);
    // A request ahead of the search moves it on past the requested address.
    allocate(&def, dir.path(), "fixed2", Some(ip(7))).unwrap();
    assert_eq!(take(&def, dir.path(), &["c"]), [ip(8)]);
}

#[test]
fn exhaustion_names_the_network_and_its_subnet() {
    let dir = tempfile::tempdir().unwrap();
    // A /30 has two hosts, one of them the gateway.
    let def = def("10.9.0.0/30");
    assert_eq!(take(&def, dir.path(), &["a"]), [ip(2)]);
    let err = allocate(&def, dir.path(), "b", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no free address left in network ipamnet (10.9.0.0/30)"
    );
    // The failed allocation recorded nothing.
    assert_eq!(load(dir.path()).unwrap().len(), 1);
}

#[test]
fn release_frees_only_that_containers_addresses_and_they_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let def = def("10.9.0.0/29");
    take(&def, dir.path(), &["a", "b", "c"]);
    // `b` holds a second address, as after a `connect` of the same network elsewhere.
    allocate(&def, dir.path(), "b", Some(ip(6))).unwrap();
    release(dir.path(), "b").unwrap();
    let held = load(dir.path()).unwrap();
    assert_eq!(
        held.iter()
            .map(|(ip, c)| (*ip, c.as_str()))
            .collect::<Vec<_>>(),
        [(ip(2), "a"), (ip(4), "c")]
    );
    // Releasing again, or a container that has nothing, is no error.
    release(dir.path(), "b").unwrap();
    release(dir.path(), "nobody").unwrap();
    // Both of b's addresses are given again once the search comes round to them.
    let got: BTreeSet<Ipv4Addr> = take(&def, dir.path(), &["d", "e", "f"])
        .into_iter()
        .collect();
    assert_eq!(got, BTreeSet::from([ip(3), ip(5), ip(6)]));
}

#[test]
fn retain_releases_the_addresses_of_containers_gone() {
    let dir = tempfile::tempdir().unwrap();
    let def = def("10.9.0.0/29");
    take(&def, dir.path(), &["live", "dead1", "dead2"]);
    let released = retain(dir.path(), |c| c == "live").unwrap();
    assert_eq!(released, [ip(3), ip(4)]);
    assert_eq!(load(dir.path()).unwrap().len(), 1);
    assert!(retain(dir.path(), |c| c == "live").unwrap().is_empty());
}

#[test]
fn allocations_persist_in_ipam_json() {
    let dir = tempfile::tempdir().unwrap();
    let def = def("10.9.0.0/24");
    take(&def, dir.path(), &["a", "b"]);
    let text = std::fs::read_to_string(dir.path().join("ipam.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json, serde_json::json!({"10.9.0.2": "a", "10.9.0.3": "b"}));
    // Another process (here: another call with nothing in memory) sees the same.
    assert_eq!(take(&def, dir.path(), &["c"]), [ip(4)]);
    assert_eq!(load(dir.path()).unwrap().len(), 3);
}

#[test]
fn a_missing_ipam_json_is_an_empty_network() {
    let dir = tempfile::tempdir().unwrap();
    assert!(load(dir.path()).unwrap().is_empty());
    release(dir.path(), "a").unwrap();
    assert!(
        !dir.path().join("ipam.json").exists(),
        "release wrote nothing"
    );
}

#[test]
fn a_corrupt_ipam_json_is_an_error_naming_the_file_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let def = def("10.9.0.0/24");
    let file = dir.path().join("ipam.json");
    for corrupt in ["{\"10.9.0.2\": ", "[1, 2]", "{\"not an ip\": \"a\"}"] {
        std::fs::write(&file, corrupt).unwrap();
        let err = allocate(&def, dir.path(), "a", None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("parsing {}: ", file.display())),
            "{corrupt:?}: {text}"
        );
        for other in [
            release(dir.path(), "a"),
            retain(dir.path(), |_| false).map(drop),
        ] {
            assert!(other.unwrap_err().to_string().starts_with("parsing "));
        }
        // Never overwritten: a corrupt file is for a person to look at, not to lose.
        assert_eq!(std::fs::read_to_string(&file).unwrap(), corrupt);
    }
}

#[test]
fn concurrent_allocations_under_the_networks_lock_never_share_an_address() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = berth_common::Paths::new(tmp.path().join("root"), tmp.path().join("run"));
    let network_dir = tmp.path().join("net");
    std::fs::create_dir(&network_dir).unwrap();
    let def = def("10.9.0.0/26");
    // 61 usable addresses, 8 threads of 8 containers: the last 3 must fail, not share.
    let results: Vec<std::result::Result<Ipv4Addr, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (paths, network_dir, def) = (&paths, &network_dir, &def);
                s.spawn(move || {
                    (0..8)
                        .map(|n| {
                            // Each thread opens the lock file itself, as another process
                            // would: flock excludes other open files, threads included.
                            let _lock = crate::network::lock(paths).unwrap();
                            allocate(def, network_dir, &format!("t{t}c{n}"), None)
                                .map_err(|e| e.to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let given: Vec<Ipv4Addr> = results.iter().filter_map(|r| r.clone().ok()).collect();
    let distinct: BTreeSet<Ipv4Addr> = given.iter().copied().collect();
    assert_eq!(given.len(), 61, "{results:?}");
    assert_eq!(distinct.len(), given.len(), "an address was given twice");
    assert!(!distinct.contains(&def.gateway));
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(failures.len(), 3);
    assert!(failures
        .iter()
        .all(|e| e.contains("no free address left in network ipamnet")));
    // What the file says is what the threads were told.
    let held = load(&network_dir).unwrap();
    assert_eq!(held.keys().copied().collect::<BTreeSet<_>>(), distinct);
}

#[test]
fn an_ip_range_bounds_automatic_addresses_but_not_requested_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut def = def("10.9.0.0/24");
    def.ip_range = Some("10.9.0.8/30".parse().unwrap());
    // A range's network and broadcast addresses are hosts of the subnet: all four are given.
    let got = take(&def, dir.path(), &["a", "b", "c", "d"]);
    assert_eq!(got, [ip(8), ip(9), ip(10), ip(11)]);
    assert!(matches!(
        allocate(&def, dir.path(), "e", None),
        Err(NetError::AddressesExhausted { .. })
    ));
    assert_eq!(
        allocate(&def, dir.path(), "f", Some(ip(100))).unwrap(),
        ip(100)
    );
}
