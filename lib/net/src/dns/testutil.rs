//! Test helpers: a network directory with endpoint files, servers on a thread, fake
//! upstreams and a client. Everything listens on 127.0.0.0/8 only, on ports the kernel
//! picked, and nothing is ever sent elsewhere.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record};
use rustix::pipe::{pipe_with, PipeFlags};

use super::server::{serve_with, Options};
use super::{DnsError, ServerConfig};
use crate::endpoints::{self, EndpointFile};

pub(crate) use super::answer::tests::{a_records, query};
pub(crate) use super::names::tests::endpoint;

/// A port free for both UDP and TCP on `ip`.
pub(crate) fn free_port(ip: Ipv4Addr) -> u16 {
    loop {
        let tcp = TcpListener::bind((ip, 0)).unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
}

/// A network directory in a temp dir, and a server config for it on 127.0.0.1.
pub(crate) struct TestNet {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: ServerConfig,
}

impl TestNet {
    pub(crate) fn new(upstreams: Option<Vec<SocketAddr>>) -> TestNet {
        let dir = tempfile::tempdir().unwrap();
        let listen = Ipv4Addr::LOCALHOST;
        let config = ServerConfig {
            network: "testnet".into(),
            listen,
            port: free_port(listen),
            network_dir: dir.path().join("networks/testnet"),
            lock_file: dir.path().join("locks/networks.lock"),
            pid_file: dir.path().join("run/testnet/dns.pid"),
            upstreams,
            idle_exit_ms: 100,
        };
        std::fs::create_dir_all(endpoints::dir(&config.network_dir)).unwrap();
        TestNet { dir, config }
    }

    pub(crate) fn add(&self, endpoint: &EndpointFile) {
        let path = endpoints::path(&self.config.network_dir, &endpoint.container_id);
        std::fs::write(path, serde_json::to_vec(endpoint).unwrap()).unwrap();
    }

    pub(crate) fn remove_all(&self) {
        for entry in std::fs::read_dir(endpoints::dir(&self.config.network_dir)).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }

    pub(crate) fn server_addr(&self) -> SocketAddr {
        (self.config.listen, self.config.port).into()
    }

    pub(crate) fn pid_file(&self) -> &Path {
        &self.config.pid_file
    }
}

/// `serve_with` on a thread; returns once the server said it is ready.
pub(crate) fn start_server(
    config: &ServerConfig,
    options: Options,
) -> JoinHandle<Result<(), DnsError>> {
    let (handle, line) = start_server_reporting(config, options);
    assert_eq!(line, "ok", "the server did not start");
    handle
}

/// `serve_with` on a thread, and what it wrote on its ready pipe.
pub(crate) fn start_server_reporting(
    config: &ServerConfig,
    options: Options,
) -> (JoinHandle<Result<(), DnsError>>, String) {
    let (read, write) = pipe_with(PipeFlags::CLOEXEC).unwrap();
    let config = config.clone();
    let handle = std::thread::spawn(move || serve_with(&config, Some(write), &options));
    (handle, read_all(read))
}

pub(crate) fn read_all(fd: OwnedFd) -> String {
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text).unwrap();
    text.trim().to_string()
}

/// Waits for a server thread to return (it must, within `within`).
pub(crate) fn join_within(
    handle: JoinHandle<Result<(), DnsError>>,
    within: Duration,
) -> Result<(), DnsError> {
    let deadline = Instant::now() + within;
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the server did not return within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    handle.join().unwrap()
}

/// Ends a server started with `start_server` on `net`: no endpoint left, so it exits idle.
pub(crate) fn finish(net: &TestNet, handle: JoinHandle<Result<(), DnsError>>) {
    net.remove_all();
    join_within(handle, Duration::from_secs(5)).unwrap();
}

/// Sends `query` over UDP from `from` (port 0) to `to`, and waits for the reply.
pub(crate) fn ask_udp(from: Ipv4Addr, to: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((from, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(6)))
        .unwrap();
    socket.send_to(query, to).unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, source) = socket.recv_from(&mut buf).ok()?;
    assert_eq!(source, to);
    buf.truncate(n);
    Some(buf)
}

pub(crate) fn parse(reply: &[u8]) -> Message {
    Message::from_vec(reply).unwrap()
}

/// A fake upstream resolver on 127.0.0.1: it answers every query with one A record,
/// `marker`, keeping the query's ID and question (or never answers if `marker` is None),
/// and records the queries it got byte for byte.
pub(crate) struct FakeUpstream {
    pub(crate) addr: SocketAddr,
    pub(crate) received: Arc<Mutex<Vec<Vec<u8>>>>,
    pub(crate) count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeUpstream {
    pub(crate) fn start(marker: Option<Ipv4Addr>) -> FakeUpstream {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, c, s) = (received.clone(), count.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65535];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let query = buf[..n].to_vec();
                r.lock().unwrap().push(query.clone());
                c.fetch_add(1, Ordering::Relaxed);
                if let Some(ip) = marker {
                    let request = Message::from_vec(&query).unwrap();
                    let mut reply = Message::new();
                    reply
                        .set_id(request.id())
                        .set_message_type(MessageType::Response)
                        .set_recursion_available(true)
                        .set_response_code(ResponseCode::NoError);
                    reply.add_queries(request.queries().iter().cloned());
                    let name = request.queries()[0].name().clone();
                    reply.add_answer(Record::from_rdata(name, 42, RData::A(A(ip))));
                    socket.send_to(&reply.to_vec().unwrap(), from).unwrap();
                }
            }
        });
        FakeUpstream {
            addr,
            received,
            count,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
