//! Asking upstream resolvers: the query goes as it is (same ID) over UDP, to each upstream
//! in turn until one answers; a TCP client whose answer came back truncated gets it again
//! over TCP.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use super::answer::{id_of, is_truncated, TCP_MAX};

/// How long one upstream has to answer.
pub(crate) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The reply of the first upstream that answers `query`, with the upstream; None if none
/// does within `timeout` each.
pub(crate) fn udp(
    query: &[u8],
    upstreams: &[SocketAddr],
    timeout: Duration,
) -> Option<(Vec<u8>, SocketAddr)> {
    let id = id_of(query)?;
    upstreams
        .iter()
        .find_map(|upstream| match udp_one(query, id, *upstream, timeout) {
            Ok(Some(reply)) => Some((reply, *upstream)),
            Ok(None) => {
                tracing::debug!(%upstream, "upstream did not answer in time");
                None
            }
            Err(e) => {
                tracing::debug!(%upstream, error = %e, "cannot ask upstream");
                None
            }
        })
}

fn udp_one(
    query: &[u8],
    id: [u8; 2],
    upstream: SocketAddr,
    timeout: Duration,
) -> std::io::Result<Option<Vec<u8>>> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    // connected: only datagrams from the upstream are received
    socket.connect(upstream)?;
    socket.send(query)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; TCP_MAX];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(&mut buf) {
            // a late answer to an earlier query, or junk: keep waiting
            Ok(n) if n < 12 || id_of(&buf[..n]) != Some(id) || buf[2] & 0x80 == 0 => continue,
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // ICMP port unreachable and the like: this upstream is out
            Err(e) => return Err(e),
        }
    }
}

/// Asks `upstream` over TCP (for a reply that was truncated over UDP).
pub(crate) fn tcp(
    query: &[u8],
    upstream: SocketAddr,
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&upstream, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write_framed(&mut stream, query)?;
    let reply = read_framed(&mut stream)?;
    if id_of(&reply) != id_of(query) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "reply with another ID",
        ));
    }
    Ok(reply)
}

/// The reply for a TCP client: over UDP, then over TCP from the same upstream if the UDP
/// reply was truncated (the truncated one if that fails).
pub(crate) fn for_tcp_client(
    query: &[u8],
    upstreams: &[SocketAddr],
    timeout: Duration,
) -> Option<Vec<u8>> {
    let (reply, upstream) = udp(query, upstreams, timeout)?;
    if !is_truncated(&reply) {
        return Some(reply);
    }
    match tcp(query, upstream, timeout) {
        Ok(full) => Some(full),
        Err(e) => {
            tracing::debug!(%upstream, error = %e, "cannot ask upstream over TCP");
            Some(reply)
        }
    }
}

/// Reads one DNS message with its 2-byte length prefix.
pub(crate) fn read_framed(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut message)?;
    Ok(message)
}

/// Writes one DNS message with its 2-byte length prefix.
pub(crate) fn write_framed(stream: &mut impl Write, message: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(message.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "message longer than 65535 bytes",
        )
    })?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed)
}

/// The host's resolvers: the `nameserver` lines of `resolv_conf`, on `port` (53).
/// Unreadable: none (every forwarded query then gets SERVFAIL).
pub(crate) fn host_resolvers(resolv_conf: &Path, port: u16) -> Vec<SocketAddr> {
    match std::fs::read_to_string(resolv_conf) {
        Ok(text) => parse_resolv_conf(&text, port),
        Err(e) => {
            tracing::warn!(path = %resolv_conf.display(), error = %e, "cannot read the host's resolvers");
            Vec::new()
        }
    }
}

fn parse_resolv_conf(text: &str, port: u16) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            // an IPv6 address with a zone (fe80::1%eth0) cannot be asked from here
            words.next()?.parse::<IpAddr>().ok()
        })
        .map(|ip| SocketAddr::new(ip, port))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers() {
        let text = "# comment\nsearch example.com\nnameserver 10.0.0.1\nnameserver  ::1\n\
                    nameserver fe80::1%eth0\nnameserver\noptions ndots:2\n nameserver 127.0.0.53\n";
        let got = parse_resolv_conf(text, 53);
        let want: Vec<SocketAddr> = vec![
            "10.0.0.1:53".parse().unwrap(),
            "[::1]:53".parse().unwrap(),
            "127.0.0.53:53".parse().unwrap(),
        ];
        assert_eq!(got, want);
        assert!(host_resolvers(Path::new("/nonexistent/resolv.conf"), 53).is_empty());
    }

    #[test]
    fn framing_round_trips() {
        let mut buf = Vec::new();
        write_framed(&mut buf, b"hello").unwrap();
        assert_eq!(&buf[..2], &[0, 5]);
        assert_eq!(read_framed(&mut &buf[..]).unwrap(), b"hello");
        assert!(read_framed(&mut &buf[..4]).is_err());
    }
}
