//! Tests against the running kernel (as root): links and namespaces with unique `bt…`
//! names, removed by a guard even when a test panics.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use netlink_packet_core::{NLM_F_ACK_TLVS, NLM_F_CAPPED};

use super::link::IFNAME_MAX;
use super::socket::{ext_ack_message, tlv_message, NLMSGERR_ATTR_MSG};
use super::{Netlink, NetlinkError};
use crate::netns;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique `bt` + 6 hex prefix for this test's objects (interface names stay ≤ 15 bytes
/// with a suffix of up to 7).
fn prefix() -> (String, u32) {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = (std::process::id().wrapping_mul(16) + n) & 0xff_ffff;
    (format!("bt{id:06x}"), id)
}

/// Deletes the host links and removes the namespaces a test made, even when it panics.
struct Guard {
    dir: tempfile::TempDir,
    links: Vec<String>,
    netns: Vec<PathBuf>,
}

impl Guard {
    fn new() -> Guard {
        Guard {
            dir: tempfile::tempdir().expect("tempdir"),
            links: Vec::new(),
            netns: Vec::new(),
        }
    }

    /// Registers host link `name` for deletion and returns it.
    fn link(&mut self, name: String) -> String {
        assert!(name.starts_with("bt") && name.len() <= IFNAME_MAX, "{name}");
        self.links.push(name.clone());
        name
    }

    /// Creates a namespace under the temporary directory, removed on drop.
    fn netns(&mut self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        self.netns.push(path.clone());
        netns::create(&path).expect("create netns");
        path
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut nl) = Netlink::open() {
            for name in &self.links {
                let _ = nl.delete_link_by_name(name);
            }
        }
        for path in &self.netns {
            let _ = netns::remove(path);
        }
        // netns::create made the directory a shared mount of itself, with a lock beside it.
        let _ = netns::release_dir(self.dir.path());
        let _ = std::fs::remove_file(self.dir.path().with_extension("lock"));
    }
}

/// A /24 of 198.18.0.0/15 (benchmarking, RFC 2544) unique to `id` that overlaps no
/// route of the host, as its first three octets.
fn free_subnet(nl: &mut Netlink, id: u32) -> [u8; 3] {
    let routes = nl.routes().expect("routes");
    for step in 0..512u32 {
        let n = (id.wrapping_mul(7) + step * 61) % 512;
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + (n << 8);
        let clash = routes.iter().any(|&(dst, len)| {
            let len = u32::from(len.min(24));
            len > 0 && (u32::from(dst) ^ base) >> (32 - len) == 0
        });
        if !clash {
            let [a, b, c, _] = Ipv4Addr::from(base).octets();
            return [a, b, c];
        }
    }
    panic!("no free /24 in 198.18.0.0/15");
}

#[test]
fn netlink_bridge_address_and_errors() {
    let mut g = Guard::new();
    let (p, id) = prefix();
    let mut nl = Netlink::open().expect("open");
    let name = g.link(format!("{p}br"));
    let index = nl.create_bridge(&name, 1400).expect("bridge");
    let link = nl.link(&name).expect("get").expect("exists");
    assert_eq!(link.index, index);
    assert_eq!(link.kind.as_deref(), Some("bridge"));
    assert_eq!(link.mtu, 1400);
    assert!(!link.up);
    assert_eq!(
        nl.link_by_index(index).expect("by index"),
        Some(link.clone())
    );
    assert!(nl.links().expect("dump").iter().any(|l| l == &link));

    let [a, b, c] = free_subnet(&mut nl, id);
    let ip = Ipv4Addr::new(a, b, c, 1);
    nl.add_address(index, ip, 24).expect("address");
    assert_eq!(nl.addresses(index).expect("addresses"), vec![(ip, 24)]);
    let again = nl.add_address(index, ip, 24).expect_err("twice");
    assert_eq!(again.errno(), Some(libc::EEXIST));
    assert!(
        again
            .to_string()
            .contains(&format!("{ip}/24 on ifindex {index}")),
        "{again}"
    );
    nl.set_up(index).expect("up");
    assert!(nl.link_by_index(index).expect("get").expect("exists").up);
    assert!(nl
        .routes()
        .expect("routes")
        .contains(&(Ipv4Addr::new(a, b, c, 0), 24)));

    let twice = nl.create_bridge(&name, 1400).expect_err("twice");
    assert_eq!(twice.errno(), Some(libc::EEXIST));
    assert!(
        twice
            .to_string()
            .starts_with(&format!("create bridge {name}: ")),
        "{twice}"
    );
    let bad = nl
        .create_bridge("bt-much-too-long-name", 0)
        .expect_err("long");
    assert!(matches!(bad, NetlinkError::InvalidName { .. }), "{bad}");

    let missing = format!("{p}none");
    assert_eq!(nl.link(&missing).expect("get"), None);
    assert_eq!(nl.link("nonexistent").expect("get"), None);
    assert_eq!(nl.link_by_index(0x7fff_fff0).expect("get"), None);
    assert!(!nl.delete_link_by_name(&missing).expect("delete missing"));
    let gone = nl
        .delete_link(0x7fff_fff0)
        .expect_err("delete missing index");
    assert_eq!(gone.errno(), Some(libc::ENODEV));
    assert!(gone.to_string().contains("ifindex 2147483632"), "{gone}");

    assert!(nl.delete_link_by_name(&name).expect("delete"));
    assert_eq!(nl.link(&name).expect("get"), None);
    assert!(!nl
        .routes()
        .expect("routes")
        .contains(&(Ipv4Addr::new(a, b, c, 0), 24)));
}

#[test]
fn netlink_veth_into_netns() {
    let mut g = Guard::new();
    let (p, id) = prefix();
    let mut host = Netlink::open().expect("open");
    let bridge_name = g.link(format!("{p}br"));
    let bridge = host.create_bridge(&bridge_name, 0).expect("bridge");
    let [a, b, c] = free_subnet(&mut host, id);
    let gateway = Ipv4Addr::new(a, b, c, 1);
    let ip = Ipv4Addr::new(a, b, c, 2);
    host.add_address(bridge, gateway, 24)
        .expect("bridge address");
    host.set_up(bridge).expect("bridge up");
    let ns = g.netns(&p);
    let host_name = g.link(format!("{p}h"));
    let mac = [0x02, 0x42, a, b, c, 2];

    let started = Instant::now();
    let fd = netns::open(&ns).expect("open netns");
    let host_index = host
        .create_veth(&host_name, "eth0", fd.as_fd(), 1450, mac, bridge)
        .expect("veth");
    let mut inside = Netlink::open_in(&ns).expect("open inside");
    let eth0 = inside.link("eth0").expect("get").expect("eth0 inside");
    inside
        .add_address(eth0.index, ip, 24)
        .expect("address inside");
    inside.set_up(eth0.index).expect("up inside");
    inside.add_default_route(gateway).expect("default route");
    let elapsed = started.elapsed();
    println!(
        "veth + open_in + address + up + default route: {} µs",
        elapsed.as_micros()
    );

    let host_end = host
        .link_by_index(host_index)
        .expect("get")
        .expect("host end");
    assert_eq!(host_end.name, host_name);
    assert_eq!(host_end.kind.as_deref(), Some("veth"));
    assert_eq!(host_end.master, Some(bridge));
    assert_eq!(host_end.mtu, 1450);
    assert!(host_end.up);
    let on_host = host.link("eth0").expect("get");
    assert!(
        on_host.is_none_or(|l| l.mac != Some(mac)),
        "the peer is not on the host"
    );

    let eth0 = inside.link("eth0").expect("get").expect("eth0");
    assert_eq!(eth0.mac, Some(mac));
    assert_eq!(eth0.mtu, 1450);
    assert_eq!(eth0.kind.as_deref(), Some("veth"));
    assert!(eth0.up);
    assert_eq!(
        inside.addresses(eth0.index).expect("addresses"),
        vec![(ip, 24)]
    );
    let routes = inside.routes().expect("routes inside");
    assert!(routes.contains(&(Ipv4Addr::UNSPECIFIED, 0)), "{routes:?}");
    assert!(
        routes.contains(&(Ipv4Addr::new(a, b, c, 0), 24)),
        "{routes:?}"
    );
    let twice = inside.add_default_route(gateway).expect_err("twice");
    assert_eq!(twice.errno(), Some(libc::EEXIST));
    let names: Vec<String> = inside
        .links()
        .expect("links")
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["lo", "eth0"]);

    // A datagram from inside the namespace reaches a socket bound to the bridge address.
    let listener = UdpSocket::bind((gateway, 0)).expect("bind on the bridge address");
    listener
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let target = listener.local_addr().expect("addr");
    netns::run_in(&ns, move || {
        let s = UdpSocket::bind((ip, 0)).expect("bind inside");
        s.send_to(b"berth", target).expect("send");
    })
    .expect("run_in");
    let mut buf = [0u8; 16];
    let (n, from) = listener
        .recv_from(&mut buf)
        .expect("datagram from the namespace");
    assert_eq!(&buf[..n], b"berth");
    assert_eq!(from.ip(), IpAddr::V4(ip));

    // Deleting the host end takes the peer with it.
    host.delete_link(host_index).expect("delete veth");
    assert_eq!(inside.link("eth0").expect("get"), None);
    assert_eq!(host.link(&host_name).expect("get"), None);
}

#[test]
fn netlink_setup_timing() {
    const CONTAINERS: u32 = 8;
    let mut g = Guard::new();
    let (p, id) = prefix();
    let mut host = Netlink::open().expect("open");
    let bridge_name = g.link(format!("{p}br"));
    let bridge = host.create_bridge(&bridge_name, 0).expect("bridge");
    let [a, b, c] = free_subnet(&mut host, id);
    host.add_address(bridge, Ipv4Addr::new(a, b, c, 1), 24)
        .expect("bridge address");
    host.set_up(bridge).expect("bridge up");
    let (mut t_netns, mut t_veth, mut t_inside) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for i in 0..CONTAINERS {
        let i8 = u8::try_from(i).expect("small");
        let t0 = Instant::now();
        let ns = g.netns(&format!("{p}-{i}"));
        let t1 = Instant::now();
        let fd = netns::open(&ns).expect("open netns");
        let host_name = g.link(format!("{p}h{i}"));
        let mac = [0x02, 0x42, a, b, c, 10 + i8];
        host.create_veth(&host_name, "eth0", fd.as_fd(), 0, mac, bridge)
            .expect("veth");
        let t2 = Instant::now();
        let mut inside = Netlink::open_in(&ns).expect("open inside");
        let eth0 = inside.link("eth0").expect("get").expect("eth0");
        inside
            .add_address(eth0.index, Ipv4Addr::new(a, b, c, 10 + i8), 24)
            .expect("address");
        inside.set_up(eth0.index).expect("up");
        inside
            .add_default_route(Ipv4Addr::new(a, b, c, 1))
            .expect("route");
        let t3 = Instant::now();
        t_netns += t1 - t0;
        t_veth += t2 - t1;
        t_inside += t3 - t2;
    }
    let avg = |d: Duration| d.as_micros() / u128::from(CONTAINERS);
    println!(
        "per container over {CONTAINERS}: netns::create {} µs, create_veth {} µs, \
         open_in+link+address+up+route {} µs, total {} µs",
        avg(t_netns),
        avg(t_veth),
        avg(t_inside),
        avg(t_netns + t_veth + t_inside)
    );
    let links = host.links().expect("links");
    let ours = links.iter().filter(|l| l.master == Some(bridge)).count();
    assert_eq!(ours, CONTAINERS as usize);
}

#[test]
fn netlink_guard_cleans_up_on_panic() {
    let (p, _) = prefix();
    let name = format!("{p}br");
    let made = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let mut g = Guard::new();
        let ns = g.netns(&p);
        let bridge = g.link(name.clone());
        Netlink::open()
            .expect("open")
            .create_bridge(&bridge, 0)
            .expect("bridge");
        *made.lock().expect("lock") = Some(ns);
        panic!("test panic");
    });
    assert!(outcome.is_err());
    let ns = made.lock().expect("lock").take().expect("made");
    let me = procfs::process::Process::myself().expect("own /proc");
    let mounts = me.mountinfo().expect("mountinfo");
    assert!(!mounts.iter().any(|m| m.mount_point == ns), "no mount left");
    assert!(!ns.exists());
    assert_eq!(
        Netlink::open().expect("open").link(&name).expect("get"),
        None
    );
}

#[test]
fn netlink_ext_ack_parsing() {
    // NLMSGERR_ATTR_MSG "bad thing\0" after a capped 16-byte header.
    let mut payload = vec![0u8; 16];
    let text = b"bad thing\0";
    payload.extend_from_slice(&u16::try_from(4 + text.len()).expect("len").to_ne_bytes());
    payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
    payload.extend_from_slice(text);
    payload.extend_from_slice(&[0, 0]);
    let flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
    assert_eq!(
        ext_ack_message(flags, &payload).as_deref(),
        Some("bad thing")
    );
    assert_eq!(ext_ack_message(NLM_F_CAPPED, &payload), None);
    assert_eq!(tlv_message(&[1, 0]), None);
}
