//! `serve`: the server itself. One thread polls the UDP socket, the TCP listener and a stop
//! pipe; names of the network are answered at once on that thread, forwarded queries get a
//! thread each (bounded), TCP connections too. The calling thread checks for idleness.

use std::fs::File;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::{Duration, Instant};

use berth_common::{FileLock, LockMode};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::pipe::{pipe_with, PipeFlags};

use super::answer::{self, Outcome, Transport};
use super::names::NameTable;
use super::pidfile::PidLock;
use super::{forward, DnsError, ServerConfig};

/// Forwarded UDP queries in flight at once; beyond, SERVFAIL at once.
const MAX_FORWARDS: usize = 256;
/// TCP connections at once; beyond, new ones are closed.
const MAX_TCP_CONNECTIONS: usize = 64;
/// A TCP connection with no query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Worker threads do little: a small stack (only touched pages count anyway).
const WORKER_STACK: usize = 256 * 1024;
/// How long a starting server waits for a previous one (going idle) to close the port.
const BIND_RETRY: Duration = Duration::from_secs(1);

/// What tests change; production uses the defaults.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The port of resolvers named by address only: a container's `--dns` servers and the
    /// host's resolv.conf.
    pub(crate) dns_port: u16,
    pub(crate) upstream_timeout: Duration,
    /// Read when the config has no upstreams.
    pub(crate) resolv_conf: PathBuf,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            dns_port: 53,
            upstream_timeout: forward::UPSTREAM_TIMEOUT,
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
        }
    }
}

/// Runs the server in the calling process until it goes idle (or forever). Takes an
/// exclusive non-blocking flock on `pid_file` first (an error if another server holds it)
/// and writes its pid there, then binds UDP and TCP on `listen:port` (SO_REUSEADDR) and
/// reports on `ready`: "ok\n", or the error on one line; then closes it.
///
/// Idle exit: every `idle_exit_ms` (0: never), if the network has no endpoint file, it
/// takes the network's lock, checks again, removes the pid file, closes its sockets and
/// returns Ok, releasing the network's lock last. Attach writes an endpoint under that lock
/// and then starts a server if none runs, so no attached container is left without one.
pub fn serve(config: &ServerConfig, ready: Option<OwnedFd>) -> Result<(), DnsError> {
    serve_with(config, ready, &Options::default())
}

pub(crate) fn serve_with(
    config: &ServerConfig,
    ready: Option<OwnedFd>,
    options: &Options,
) -> Result<(), DnsError> {
    let started = Started::start(config, options);
    if let Some(ready) = ready {
        let line = match &started {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string().replace('\n', " "),
        };
        // the starter may have given up waiting: nothing to do about it
        let _ = File::from(ready).write_all(format!("{line}\n").as_bytes());
    }
    started?.run(config)
}

struct Started {
    pid: PidLock,
    udp: UdpSocket,
    tcp: TcpListener,
    context: Arc<Context>,
}

/// What the threads share.
struct Context {
    network: String,
    network_dir: PathBuf,
    host_upstreams: Vec<SocketAddr>,
    /// Our own address, never an upstream (a loop).
    own: SocketAddr,
    dns_port: u16,
    upstream_timeout: Duration,
    forwards: AtomicUsize,
    tcp_connections: AtomicUsize,
}

impl Started {
    fn start(config: &ServerConfig, options: &Options) -> Result<Started, DnsError> {
        let pid = PidLock::acquire(&config.pid_file, &config.network)?;
        let addr = SocketAddrV4::new(config.listen, config.port);
        let bind_err = |proto| {
            move |source| DnsError::Bind {
                network: config.network.clone(),
                addr: addr.into(),
                proto,
                source,
            }
        };
        // TCP first: unlike UDP with SO_REUSEADDR, it fails while a previous server listens
        let sockets = bind_retrying(addr, SocketType::STREAM)
            .map_err(bind_err("tcp"))
            .and_then(|tcp| {
                Ok((
                    tcp,
                    bind_retrying(addr, SocketType::DGRAM).map_err(bind_err("udp"))?,
                ))
            });
        let (tcp, udp) = match sockets {
            Ok(s) => s,
            Err(e) => {
                pid.remove();
                return Err(e);
            }
        };
        let host_upstreams = match &config.upstreams {
            Some(upstreams) => upstreams.clone(),
            None => forward::host_resolvers(&options.resolv_conf, options.dns_port),
        };
        tracing::info!(network = %config.network, %addr, upstreams = ?host_upstreams, "DNS server listening");
        Ok(Started {
            pid,
            udp: UdpSocket::from(udp),
            tcp: TcpListener::from(tcp),
            context: Arc::new(Context {
                network: config.network.clone(),
                network_dir: config.network_dir.clone(),
                host_upstreams,
                own: addr.into(),
                dns_port: options.dns_port,
                upstream_timeout: options.upstream_timeout,
                forwards: AtomicUsize::new(0),
                tcp_connections: AtomicUsize::new(0),
            }),
        })
    }

    fn run(self, config: &ServerConfig) -> Result<(), DnsError> {
        let io_err = |op| {
            let network = config.network.clone();
            move |source| DnsError::Io {
                network,
                op,
                source,
            }
        };
        let (stop_read, stop_write) =
            pipe_with(PipeFlags::CLOEXEC).map_err(|e| io_err("creating a pipe")(e.into()))?;
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let Started {
            pid,
            udp,
            tcp,
            context,
        } = self;
        let event_loop = std::thread::Builder::new()
            .name("dns-loop".into())
            .spawn(move || {
                let result = event_loop(udp, tcp, stop_read, context);
                let _ = done_tx.send(());
                result
            })
            .map_err(io_err("starting the event loop"))?;
        let join = |handle: std::thread::JoinHandle<Result<(), DnsError>>| {
            handle.join().unwrap_or_else(|_| {
                Err(io_err("event loop")(std::io::Error::other(
                    "the event loop panicked",
                )))
            })
        };
        if config.idle_exit_ms == 0 {
            return join(event_loop);
        }
        let every = Duration::from_millis(config.idle_exit_ms);
        loop {
            match done_rx.recv_timeout(every) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return join(event_loop),
            }
            // cheap check first; the network's lock only when it looks idle
            if !NameTable::load(&config.network_dir).is_empty() {
                continue;
            }
            let network_lock = match FileLock::acquire(&config.lock_file, LockMode::Exclusive) {
                Ok(lock) => lock,
                Err(e) => {
                    tracing::warn!(network = %config.network, error = %e, "idle check: cannot take the network's lock");
                    continue;
                }
            };
            if !NameTable::load(&config.network_dir).is_empty() {
                continue;
            }
            tracing::info!(network = %config.network, "no container left on the network: the DNS server exits");
            pid.remove();
            // the loop closes the sockets when it returns; written or not, stop_write
            // closing also wakes it
            let _ = rustix::io::write(&stop_write, b"x");
            drop(stop_write);
            let result = join(event_loop);
            drop(network_lock);
            return result;
        }
    }
}

/// Binds `addr` with SO_REUSEADDR (and listens, for TCP), non-blocking, retrying for a
/// while if the address is in use.
fn bind_retrying(addr: SocketAddrV4, kind: SocketType) -> std::io::Result<OwnedFd> {
    let deadline = Instant::now() + BIND_RETRY;
    loop {
        match bind_once(addr, kind) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn bind_once(addr: SocketAddrV4, kind: SocketType) -> std::io::Result<OwnedFd> {
    let fd = rustix::net::socket_with(
        AddressFamily::INET,
        kind,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    if kind == SocketType::STREAM {
        rustix::net::listen(&fd, 128)?;
    }
    Ok(fd)
}

fn event_loop(
    udp: UdpSocket,
    tcp: TcpListener,
    stop: OwnedFd,
    context: Arc<Context>,
) -> Result<(), DnsError> {
    // forwarding threads reply through a Weak: once the loop lets go, nothing keeps the
    // socket open
    let udp = Arc::new(udp);
    let mut buf = vec![0u8; answer::TCP_MAX];
    let result = loop {
        let mut fds = [
            PollFd::new(&*udp, PollFlags::IN),
            PollFd::new(&tcp, PollFlags::IN),
            PollFd::new(&stop, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(e) => {
                break Err(DnsError::Io {
                    network: context.network.clone(),
                    op: "poll",
                    source: e.into(),
                })
            }
        }
        let (udp_ready, tcp_ready, stopped) =
            (fds[0].revents(), fds[1].revents(), fds[2].revents());
        if !stopped.is_empty() {
            break Ok(());
        }
        if !udp_ready.is_empty() {
            drain_udp(&udp, &mut buf, &context);
        }
        if !tcp_ready.is_empty() {
            accept_all(&tcp, &context);
        }
    };
    close_last(udp);
    drop(tcp);
    result
}

/// Drops the last strong reference of the socket, waiting for a forwarding thread that is
/// sending through it right now.
fn close_last(mut udp: Arc<UdpSocket>) {
    loop {
        match Arc::try_unwrap(udp) {
            Ok(socket) => return drop(socket),
            Err(shared) => {
                udp = shared;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn drain_udp(udp: &Arc<UdpSocket>, buf: &mut [u8], context: &Arc<Context>) {
    // at most a batch, then poll again (the TCP listener gets its turn)
    for _ in 0..64 {
        match udp.recv_from(buf) {
            Ok((n, source)) => handle_udp(&buf[..n], source, udp, context),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!(network = %context.network, error = %e, "UDP receive");
                return;
            }
        }
    }
}

fn handle_udp(query: &[u8], source: SocketAddr, udp: &Arc<UdpSocket>, context: &Arc<Context>) {
    let table = NameTable::load_for(&context.network_dir, source.ip());
    match answer::answer(query, Transport::Udp, |name| table.lookup(name)) {
        Outcome::Reply(reply) => send_udp(udp, &reply, source, &context.network),
        Outcome::Drop(why) => {
            tracing::debug!(network = %context.network, %source, "dropped a UDP packet: {why}")
        }
        Outcome::Forward => {
            let upstreams = context.upstreams_for(&table, source.ip());
            let Some(slot) = ForwardSlot::take(context) else {
                tracing::warn!(network = %context.network, "too many queries in flight: SERVFAIL");
                return servfail_udp(udp, query, source, &context.network);
            };
            let query_owned = query.to_vec();
            let weak = Arc::downgrade(udp);
            let spawned = std::thread::Builder::new()
                .name("dns-forward".into())
                .stack_size(WORKER_STACK)
                .spawn(move || forward_udp(query_owned, source, upstreams, weak, slot));
            if let Err(e) = spawned {
                tracing::warn!(network = %context.network, error = %e, "cannot start a forwarding thread: SERVFAIL");
                servfail_udp(udp, query, source, &context.network);
            }
        }
    }
}

fn forward_udp(
    query: Vec<u8>,
    source: SocketAddr,
    upstreams: Vec<SocketAddr>,
    udp: Weak<UdpSocket>,
    slot: ForwardSlot,
) {
    let context = &slot.0;
    let reply = forward::udp(&query, &upstreams, context.upstream_timeout).map(|(reply, _)| reply);
    let reply = reply.or_else(|| {
        tracing::debug!(network = %context.network, %source, ?upstreams, "no upstream answered: SERVFAIL");
        answer::servfail(&query)
    });
    if let (Some(reply), Some(udp)) = (reply, udp.upgrade()) {
        send_udp(&udp, &reply, source, &context.network);
    }
}

fn servfail_udp(udp: &UdpSocket, query: &[u8], source: SocketAddr, network: &str) {
    if let Some(reply) = answer::servfail(query) {
        send_udp(udp, &reply, source, network);
    }
}

fn send_udp(udp: &UdpSocket, reply: &[u8], to: SocketAddr, network: &str) {
    if let Err(e) = udp.send_to(reply, to) {
        tracing::debug!(network, %to, error = %e, "cannot send a UDP reply");
    }
}

/// A forwarding thread's place among the `MAX_FORWARDS`; freed when dropped.
struct ForwardSlot(Arc<Context>);

impl ForwardSlot {
    fn take(context: &Arc<Context>) -> Option<ForwardSlot> {
        take_slot(&context.forwards, MAX_FORWARDS).then(|| ForwardSlot(context.clone()))
    }
}

impl Drop for ForwardSlot {
    fn drop(&mut self) {
        self.0.forwards.fetch_sub(1, Ordering::Relaxed);
    }
}

fn take_slot(counter: &AtomicUsize, max: usize) -> bool {
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

fn accept_all(tcp: &TcpListener, context: &Arc<Context>) {
    loop {
        match tcp.accept() {
            Ok((stream, peer)) => {
                if !take_slot(&context.tcp_connections, MAX_TCP_CONNECTIONS) {
                    tracing::warn!(network = %context.network, %peer, "too many TCP connections: closing");
                    continue;
                }
                let ctx = context.clone();
                let spawned = std::thread::Builder::new()
                    .name("dns-tcp".into())
                    .stack_size(WORKER_STACK)
                    .spawn(move || {
                        serve_tcp(stream, peer, &ctx);
                        ctx.tcp_connections.fetch_sub(1, Ordering::Relaxed);
                    });
                if let Err(e) = spawned {
                    context.tcp_connections.fetch_sub(1, Ordering::Relaxed);
                    tracing::warn!(network = %context.network, error = %e, "cannot start a TCP thread");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => {
                // out of fds and the like: back off instead of spinning on a ready listener
                tracing::warn!(network = %context.network, error = %e, "TCP accept");
                std::thread::sleep(Duration::from_millis(50));
                return;
            }
        }
    }
}

/// Queries of one TCP connection, each with its 2-byte length prefix, until the client
/// closes, goes quiet or sends junk.
fn serve_tcp(mut stream: TcpStream, peer: SocketAddr, context: &Context) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(TCP_IDLE)))
        .and_then(|()| stream.set_write_timeout(Some(TCP_IDLE)));
    if let Err(e) = setup {
        return tracing::debug!(network = %context.network, %peer, error = %e, "TCP connection setup");
    }
    while let Ok(query) = forward::read_framed(&mut stream) {
        let table = NameTable::load_for(&context.network_dir, peer.ip());
        let reply = match answer::answer(&query, Transport::Tcp, |name| table.lookup(name)) {
            Outcome::Reply(reply) => Some(reply),
            Outcome::Drop(why) => {
                return tracing::debug!(network = %context.network, %peer, "dropped a TCP connection: {why}");
            }
            Outcome::Forward => {
                let upstreams = context.upstreams_for(&table, peer.ip());
                forward::for_tcp_client(&query, &upstreams, context.upstream_timeout)
                    .or_else(|| answer::servfail(&query))
            }
        };
        let Some(reply) = reply else { return };
        if forward::write_framed(&mut stream, &reply).is_err() {
            return;
        }
    }
}

impl Context {
    /// The asking container's `--dns` servers, or the host's; never ourselves.
    fn upstreams_for(&self, table: &NameTable, asker: IpAddr) -> Vec<SocketAddr> {
        let mut upstreams = table
            .upstreams_of(asker, self.dns_port)
            .unwrap_or_else(|| self.host_upstreams.clone());
        upstreams.retain(|u| *u != self.own);
        upstreams
    }
}
