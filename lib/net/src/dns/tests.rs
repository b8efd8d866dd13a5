//! The server end to end, on a thread of the test process: real sockets on 127.0.0.1 (and
//! 127.0.0.2 for a second asker), fake upstreams on 127.0.0.1.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use berth_common::{FileLock, LockMode};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use super::server::Options;
use super::testutil::*;
use super::{forward, is_running, DnsError};

const WEB: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const DB: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const CLIENT: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn with_two_containers(net: &TestNet) {
    net.add(&endpoint(
        "0123456789abcdef0123",
        "web",
        &["front", "shared"],
        [10, 0, 0, 2],
        &[],
    ));
    net.add(&endpoint(
        "fedcba9876543210fedc",
        "db",
        &["shared"],
        [10, 0, 0, 3],
        &[],
    ));
}

fn ask(net: &TestNet, id: u16, name: &str, qtype: RecordType) -> Message {
    let reply = ask_udp(CLIENT, net.server_addr(), &query(id, name, qtype)).expect("no reply");
    let reply = parse(&reply);
    assert_eq!(reply.id(), id);
    reply
}

#[test]
fn names_aliases_and_short_ids_resolve_over_udp() {
    let net = TestNet::new(Some(vec![]));
    with_two_containers(&net);
    let server = start_server(&net.config, Options::default());

    let r = ask(&net, 1, "web", RecordType::A);
    assert_eq!(r.response_code(), ResponseCode::NoError);
    assert_eq!(a_records(&r), [WEB]);
    assert!(!r.authoritative());
    assert!(r.recursion_available());
    assert_eq!(r.answers()[0].ttl(), 600);

    assert_eq!(a_records(&ask(&net, 2, "front.", RecordType::A)), [WEB]);
    let mut shared = a_records(&ask(&net, 3, "shared", RecordType::A));
    shared.sort();
    assert_eq!(shared, [WEB, DB], "two containers share the alias");
    assert_eq!(
        a_records(&ask(&net, 4, "fedcba987654", RecordType::A)),
        [DB]
    );
    assert_eq!(a_records(&ask(&net, 5, "WEB", RecordType::A)), [WEB]);
    assert_eq!(
        a_records(&ask(&net, 6, "FedCBA987654.", RecordType::A)),
        [DB]
    );

    let aaaa = ask(&net, 7, "web", RecordType::AAAA);
    assert_eq!(aaaa.response_code(), ResponseCode::NoError);
    assert!(aaaa.answers().is_empty());
    let mx = ask(&net, 8, "db", RecordType::MX);
    assert_eq!(mx.response_code(), ResponseCode::NoError);
    assert!(mx.answers().is_empty());

    // a container attached after the start resolves at once
    net.add(&endpoint(
        "aaaaaaaaaaaabbbbbbbb",
        "late",
        &[],
        [10, 0, 0, 9],
        &[],
    ));
    assert_eq!(
        a_records(&ask(&net, 9, "late", RecordType::A)),
        [Ipv4Addr::new(10, 0, 0, 9)]
    );

    finish(&net, server);
}

#[test]
fn unknown_names_are_forwarded_verbatim_and_the_reply_relayed() {
    let upstream = FakeUpstream::start(Some(Ipv4Addr::new(192, 0, 2, 1)));
    let net = TestNet::new(Some(vec![upstream.addr]));
    with_two_containers(&net);
    let server = start_server(&net.config, Options::default());

    let q = query(0xbeef, "somewhere.example", RecordType::A);
    let r = parse(&ask_udp(CLIENT, net.server_addr(), &q).unwrap());
    assert_eq!(r.id(), 0xbeef);
    assert_eq!(r.response_code(), ResponseCode::NoError);
    assert_eq!(a_records(&r), [Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(r.answers()[0].ttl(), 42, "the upstream's reply, as it is");
    assert_eq!(
        upstream.received.lock().unwrap().as_slice(),
        [q],
        "the query, byte for byte"
    );

    // a known name never goes upstream
    ask(&net, 2, "web", RecordType::A);
    assert_eq!(upstream.count.load(std::sync::atomic::Ordering::Relaxed), 1);

    finish(&net, server);
}

#[test]
fn upstreams_are_tried_in_order() {
    let silent = FakeUpstream::start(None);
    let answering = FakeUpstream::start(Some(Ipv4Addr::new(192, 0, 2, 7)));
    let net = TestNet::new(Some(vec![silent.addr, answering.addr]));
    with_two_containers(&net);
    let options = Options {
        upstream_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let server = start_server(&net.config, options);
    let r = ask(&net, 3, "elsewhere.example", RecordType::A);
    assert_eq!(a_records(&r), [Ipv4Addr::new(192, 0, 2, 7)]);
    assert_eq!(silent.count.load(std::sync::atomic::Ordering::Relaxed), 1);
    finish(&net, server);
}

#[test]
fn a_containers_dns_servers_are_asked_for_it() {
    let container_dns = FakeUpstream::start(Some(Ipv4Addr::new(192, 0, 2, 2)));
    let host_dns = FakeUpstream::start(Some(Ipv4Addr::new(192, 0, 2, 3)));
    let net = TestNet::new(Some(vec![host_dns.addr]));
    // the asker on 127.0.0.2 is a container with --dns 127.0.0.1
    net.add(&endpoint(
        "cccccccccccccccccccc",
        "asker",
        &[],
        [127, 0, 0, 2],
        &[[127, 0, 0, 1]],
    ));
    let options = Options {
        dns_port: container_dns.addr.port(),
        ..Options::default()
    };
    let server = start_server(&net.config, options);

    let q = query(11, "outside.example", RecordType::A);
    let from_container =
        parse(&ask_udp(Ipv4Addr::new(127, 0, 0, 2), net.server_addr(), &q).unwrap());
    assert_eq!(a_records(&from_container), [Ipv4Addr::new(192, 0, 2, 2)]);
    let from_elsewhere = parse(&ask_udp(CLIENT, net.server_addr(), &q).unwrap());
    assert_eq!(a_records(&from_elsewhere), [Ipv4Addr::new(192, 0, 2, 3)]);
    assert_eq!(
        container_dns
            .count
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(host_dns.count.load(std::sync::atomic::Ordering::Relaxed), 1);

    finish(&net, server);
}

#[test]
fn servfail_when_no_upstream_answers() {
    let silent = FakeUpstream::start(None);
    let net = TestNet::new(Some(vec![silent.addr]));
    with_two_containers(&net);
    let server = start_server(&net.config, Options::default());

    let started = Instant::now();
    // a slow forward does not hold up the names of the network
    let client = UdpSocket::bind((CLIENT, 0)).unwrap();
    client
        .send_to(
            &query(21, "nowhere.example", RecordType::A),
            net.server_addr(),
        )
        .unwrap();
    let known = ask(&net, 22, "web", RecordType::A);
    assert_eq!(a_records(&known), [WEB]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered while a forward waits"
    );

    client
        .set_read_timeout(Some(Duration::from_secs(6)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = client.recv(&mut buf).unwrap();
    let r = parse(&buf[..n]);
    assert_eq!(r.id(), 21);
    assert_eq!(r.response_code(), ResponseCode::ServFail);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );

    finish(&net, server);
}

#[test]
fn servfail_at_once_without_upstreams() {
    let net = TestNet::new(Some(vec![]));
    with_two_containers(&net);
    let server = start_server(&net.config, Options::default());
    let started = Instant::now();
    let r = ask(&net, 31, "nowhere.example", RecordType::A);
    assert_eq!(r.response_code(), ResponseCode::ServFail);
    assert!(started.elapsed() < Duration::from_secs(1));
    finish(&net, server);
}

#[test]
fn host_resolvers_come_from_resolv_conf_when_not_given() {
    let upstream = FakeUpstream::start(Some(Ipv4Addr::new(192, 0, 2, 4)));
    let net = TestNet::new(None);
    with_two_containers(&net);
    let resolv = net.dir.path().join("resolv.conf");
    std::fs::write(&resolv, "search example.com\nnameserver 127.0.0.1\n").unwrap();
    let options = Options {
        resolv_conf: resolv,
        // resolvers named by address only are asked on this port (53 in production)
        dns_port: upstream.addr.port(),
        ..Options::default()
    };
    let server = start_server(&net.config, options);
    let r = ask(&net, 41, "outside.example", RecordType::A);
    assert_eq!(a_records(&r), [Ipv4Addr::new(192, 0, 2, 4)]);
    finish(&net, server);

    // a resolv.conf without nameservers: SERVFAIL
    let net = TestNet::new(None);
    with_two_containers(&net);
    let resolv = net.dir.path().join("resolv.conf");
    std::fs::write(&resolv, "# nothing\n").unwrap();
    let server = start_server(
        &net.config,
        Options {
            resolv_conf: resolv,
            ..Options::default()
        },
    );
    assert_eq!(
        ask(&net, 42, "outside.example", RecordType::A).response_code(),
        ResponseCode::ServFail
    );
    finish(&net, server);
}

#[test]
fn malformed_packets_do_not_kill_the_server() {
    let net = TestNet::new(Some(vec![]));
    with_two_containers(&net);
    let server = start_server(&net.config, Options::default());
    let junk = UdpSocket::bind((CLIENT, 0)).unwrap();
    let reply_to_web = {
        let mut r = ask_udp(CLIENT, net.server_addr(), &query(51, "web", RecordType::A)).unwrap();
        r[0] = 0x99; // a response packet, sent back to the server
        r
    };
    for packet in [
        &b""[..],
        b"\x00",
        b"\x12\x34\x01\x00\x00\x01",
        &[0xffu8; 300][..],
        &reply_to_web[..],
    ] {
        junk.send_to(packet, net.server_addr()).unwrap();
    }
    // a TCP client sending junk only loses its connection
    let mut tcp = TcpStream::connect(net.server_addr()).unwrap();
    tcp.write_all(&[0, 4, 1, 2, 3, 4]).unwrap();
    drop(tcp);
    junk.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(junk.recv(&mut [0u8; 512]).is_err(), "no reply to junk");
    assert_eq!(a_records(&ask(&net, 52, "web", RecordType::A)), [WEB]);
    finish(&net, server);
}

#[test]
fn queries_over_tcp() {
    let upstream = FakeUpstream::start(Some(Ipv4Addr::new(192, 0, 2, 5)));
    let net = TestNet::new(Some(vec![upstream.addr]));
    with_two_containers(&net);
    let server = start_server(&net.config, Options::default());

    let mut stream = TcpStream::connect(net.server_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    forward::write_framed(&mut stream, &query(61, "shared", RecordType::A)).unwrap();
    let r = parse(&forward::read_framed(&mut stream).unwrap());
    assert_eq!(r.id(), 61);
    assert_eq!(a_records(&r).len(), 2);
    // a second query on the same connection, forwarded
    forward::write_framed(&mut stream, &query(62, "outside.example", RecordType::A)).unwrap();
    let r = parse(&forward::read_framed(&mut stream).unwrap());
    assert_eq!(r.id(), 62);
    assert_eq!(a_records(&r), [Ipv4Addr::new(192, 0, 2, 5)]);
    drop(stream);

    finish(&net, server);
}

#[test]
fn idle_exit_removes_the_pid_file_closes_the_sockets_and_returns() {
    let net = TestNet::new(Some(vec![]));
    with_two_containers(&net);
    let server = start_server(&net.config, Options::default());
    assert!(is_running(net.pid_file()));
    assert_eq!(
        std::fs::read_to_string(net.pid_file()).unwrap().trim(),
        std::process::id().to_string()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(!server.is_finished(), "containers are attached: it stays");

    net.remove_all();
    join_within(server, Duration::from_secs(3)).unwrap();
    assert!(!net.pid_file().exists());
    assert!(!is_running(net.pid_file()));
    // both sockets are closed: binding them again succeeds (std's UDP bind has no
    // SO_REUSEADDR; a TCP bind fails while anything listens)
    TcpListener::bind(net.server_addr()).unwrap();
    UdpSocket::bind(net.server_addr()).unwrap();
}

#[test]
fn idle_exit_waits_for_the_networks_lock() {
    let net = TestNet::new(Some(vec![]));
    with_two_containers(&net);
    let server = start_server(&net.config, Options::default());
    // an attach in progress: holds the lock; the network looks empty meanwhile
    let lock = FileLock::acquire(&net.config.lock_file, LockMode::Exclusive).unwrap();
    net.remove_all();
    std::thread::sleep(Duration::from_millis(400));
    assert!(!server.is_finished(), "the idle check waits for the lock");
    assert!(is_running(net.pid_file()));
    // the attach writes its endpoint and lets go: the server stays
    net.add(&endpoint(
        "dddddddddddddddddddd",
        "new",
        &[],
        [10, 0, 0, 5],
        &[],
    ));
    drop(lock);
    std::thread::sleep(Duration::from_millis(400));
    assert!(!server.is_finished());
    assert_eq!(
        a_records(&ask(&net, 71, "new", RecordType::A)),
        [Ipv4Addr::new(10, 0, 0, 5)]
    );
    finish(&net, server);
}

#[test]
fn a_second_server_on_the_same_pid_file_fails_clearly() {
    let net = TestNet::new(Some(vec![]));
    with_two_containers(&net);
    let first = start_server(&net.config, Options::default());
    let mut other = net.config.clone();
    other.port = free_port(other.listen);
    let (second, line) = start_server_reporting(&other, Options::default());
    let err = second.join().unwrap().unwrap_err();
    assert!(matches!(err, DnsError::AlreadyRunning { .. }), "{err}");
    assert!(
        line.contains("already runs") && line.contains("testnet"),
        "{line}"
    );
    assert!(
        line.contains(&std::process::id().to_string()),
        "names the pid: {line}"
    );
    // the first one is untouched
    assert!(net.pid_file().exists());
    assert_eq!(a_records(&ask(&net, 81, "web", RecordType::A)), [WEB]);
    finish(&net, first);
}

#[test]
fn a_port_in_use_is_reported_on_the_ready_pipe() {
    let net = TestNet::new(Some(vec![]));
    with_two_containers(&net);
    let squatter = TcpListener::bind(net.server_addr()).unwrap();
    let (server, line) = start_server_reporting(&net.config, Options::default());
    let err = server.join().unwrap().unwrap_err();
    assert!(matches!(err, DnsError::Bind { .. }), "{err}");
    assert!(
        line.contains("cannot listen on 127.0.0.1") && line.contains("tcp"),
        "{line}"
    );
    assert!(!is_running(net.pid_file()));
    assert!(
        !net.pid_file().exists(),
        "a server that could not start leaves no pid file"
    );
    drop(squatter);
}

#[test]
fn a_server_never_forwards_to_itself() {
    let net = TestNet::new(None);
    let own: SocketAddr = net.server_addr();
    let mut config = net.config.clone();
    config.upstreams = Some(vec![own]);
    with_two_containers(&net);
    let server = start_server(&config, Options::default());
    let started = Instant::now();
    let r = ask(&net, 91, "loop.example", RecordType::A);
    assert_eq!(r.response_code(), ResponseCode::ServFail);
    assert!(started.elapsed() < Duration::from_secs(1));
    finish(&net, server);
}
