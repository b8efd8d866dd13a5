//! Published ports: parsing `-p [ip:][hostPort[-end]:]containerPort[-end][/proto]` and
//! `-P`, and choosing host ports so that none is given twice in a berth root.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use berth_common::PortMapping;

use crate::error::{flag_err, NetError, Result};

/// One `-p`, expanded to single ports; `host_port` 0 means "any free port".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    /// A host port range to pick from (`-p 8000-8010:80`).
    pub host_range: Option<(u16, u16)>,
    pub container_port: u16,
    pub proto: String,
}

fn parse_range(flag: &'static str, spec: &str, text: &str) -> Result<(u16, u16)> {
    let number = |t: &str| {
        t.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| flag_err(flag, spec, format!("{t:?} is not a port (1-65535)")))
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            if a > b {
                return Err(flag_err(flag, spec, "the range ends before it starts"));
            }
            Ok((a, b))
        }
        None => {
            let p = number(text)?;
            Ok((p, p))
        }
    }
}

/// Parses one `-p`/`--publish` value into single-port requests.
pub fn parse_publish(spec: &str) -> Result<Vec<PortRequest>> {
    const FLAG: &str = "--publish";
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((rest, proto)) => (rest, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if proto != "tcp" && proto != "udp" {
        return Err(flag_err(
            FLAG,
            spec,
            format!("protocol {proto:?}: tcp or udp"),
        ));
    }
    if rest.starts_with('[') {
        return Err(flag_err(
            FLAG,
            spec,
            "IPv6 host addresses are not supported yet",
        ));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => (None, None, *c),
        [h, c] => (None, Some(*h), *c),
        [ip, h, c] => (Some(*ip), Some(*h).filter(|h| !h.is_empty()), *c),
        _ => {
            return Err(flag_err(
                FLAG,
                spec,
                "expected [ip:][hostPort:]containerPort[/proto]",
            ))
        }
    };
    let host_ip = match ip {
        None | Some("") => Ipv4Addr::UNSPECIFIED,
        Some(ip) => ip
            .parse()
            .map_err(|_| flag_err(FLAG, spec, format!("{ip:?} is not an IPv4 address")))?,
    };
    let (c_start, c_end) = parse_range(FLAG, spec, container)?;
    let host = host.map(|h| parse_range(FLAG, spec, h)).transpose()?;
    let count = c_end - c_start;
    let mut out = Vec::new();
    for offset in 0..=count {
        let container_port = c_start + offset;
        let (host_port, host_range) = match host {
            None => (0, None),
            Some((h_start, h_end)) if h_end - h_start == count => (h_start + offset, None),
            // A host range for one container port: any free port of the range.
            Some((h_start, h_end)) if count == 0 => (0, Some((h_start, h_end))),
            Some(_) => {
                return Err(flag_err(
                    FLAG,
                    spec,
                    "the host and container ranges differ in length",
                ))
            }
        };
        out.push(PortRequest {
            host_ip,
            host_port,
            host_range,
            container_port,
            proto: proto.clone(),
        });
    }
    Ok(out)
}

/// `-P`: every port the image exposes (`80/tcp`), on a random host port.
pub fn publish_all(exposed: &[String]) -> Result<Vec<PortRequest>> {
    let mut out = Vec::new();
    for port in exposed {
        out.extend(parse_publish(port)?);
    }
    Ok(out)
}

/// Two mappings clash when they share protocol and host port and their addresses meet.
pub fn clash(a: &PortMapping, b: &PortMapping) -> bool {
    a.proto == b.proto
        && a.host_port == b.host_port
        && (a.host_ip == b.host_ip || a.host_ip.is_unspecified() || b.host_ip.is_unspecified())
}

/// The kernel's ephemeral range, where docker picks random host ports.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut it = text.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// Whether a host process already listens there (berth's own ports are DNAT rules, not
/// sockets, so they are checked separately against `taken`).
fn bindable(ip: Ipv4Addr, port: u16, proto: &str) -> bool {
    match proto {
        "udp" => UdpSocket::bind((ip, port)).is_ok(),
        _ => TcpListener::bind((ip, port)).is_ok(),
    }
}

/// Gives each request a host port: the one asked for, unless another container of the
/// root has it (`taken`), or a free one of its range or of the ephemeral range.
pub fn assign(requests: &[PortRequest], taken: &[PortMapping]) -> Result<Vec<PortMapping>> {
    let mut assigned: Vec<PortMapping> = Vec::new();
    let is_free = |m: &PortMapping, assigned: &[PortMapping]| {
        !taken.iter().chain(assigned).any(|t| clash(t, m))
    };
    let mut seen = BTreeSet::new();
    for request in requests {
        let mut mapping = PortMapping {
            host_ip: request.host_ip,
            host_port: request.host_port,
            container_port: request.container_port,
            proto: request.proto.clone(),
        };
        if !seen.insert((
            request.host_ip,
            request.host_port,
            request.container_port,
            request.proto.clone(),
        )) && request.host_port != 0
        {
            continue;
        }
        if request.host_port != 0 {
            if !is_free(&mapping, &assigned) {
                return Err(NetError::PortAllocated {
                    host_ip: request.host_ip.to_string(),
                    port: request.host_port,
                });
            }
            // A host process listening there would lose its traffic to the DNAT rule;
            // Docker's userland proxy refuses such a port too.
            if !bindable(request.host_ip, request.host_port, &request.proto) {
                return Err(NetError::PortInUse {
                    host_ip: request.host_ip.to_string(),
                    port: request.host_port,
                    proto: request.proto.clone(),
                });
            }
        } else {
            let (low, high) = request.host_range.unwrap_or_else(ephemeral_range);
            let span = u32::from(high - low) + 1;
            let start =
                u32::from_str_radix(&berth_common::units::random_id()[..8], 16).unwrap_or(0) % span;
            let port = (0..span)
                .map(|i| low + ((start + i) % span) as u16)
                .find(|&port| {
                    mapping.host_port = port;
                    is_free(&mapping, &assigned) && bindable(request.host_ip, port, &request.proto)
                })
                .ok_or_else(|| {
                    NetError::NoFreePort(format!("{}/{}", request.container_port, request.proto))
                })?;
            mapping.host_port = port;
        }
        assigned.push(mapping);
    }
    Ok(assigned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortRequest {
        let mut v = parse_publish(spec).unwrap();
        assert_eq!(v.len(), 1, "{spec}");
        v.remove(0)
    }

    #[test]
    fn docker_forms_parse() {
        let r = one("8080:80");
        assert_eq!(
            (r.host_ip, r.host_port, r.container_port, r.proto.as_str()),
            (Ipv4Addr::UNSPECIFIED, 8080, 80, "tcp")
        );
        let r = one("127.0.0.1:8080:80/udp");
        assert_eq!(
            (r.host_ip, r.host_port, r.proto.as_str()),
            (Ipv4Addr::LOCALHOST, 8080, "udp")
        );
        let r = one("127.0.0.1::80");
        assert_eq!((r.host_ip, r.host_port), (Ipv4Addr::LOCALHOST, 0));
        assert_eq!(one("80").host_port, 0);
        let r = one("8000-8010:80");
        assert_eq!((r.host_port, r.host_range), (0, Some((8000, 8010))));
        let v = parse_publish("9000-9002:90-92").unwrap();
        assert_eq!(
            v.iter()
                .map(|r| (r.host_port, r.container_port))
                .collect::<Vec<_>>(),
            [(9000, 90), (9001, 91), (9002, 92)]
        );
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        for bad in [
            "",
            "0:80",
            "80:70000",
            "1-3:1-2",
            "x:80",
            "1.2.3:80:80",
            "80/sctp",
            "[::1]:80:80",
            "a:b:c:d",
        ] {
            let err = parse_publish(bad).unwrap_err().to_string();
            assert!(err.contains("--publish"), "{bad}: {err}");
        }
    }

    #[test]
    fn ports_are_never_given_twice() {
        let taken = vec![PortMapping {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_port: 80,
            proto: "tcp".into(),
        }];
        let err = assign(&parse_publish("127.0.0.1:8080:80").unwrap(), &taken).unwrap_err();
        assert!(
            err.to_string().contains("port is already allocated"),
            "{err}"
        );
        // Same port, other protocol: fine.
        assign(&parse_publish("8080:80/udp").unwrap(), &taken).unwrap();
        // A port a host process listens on is refused.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let busy = listener.local_addr().unwrap().port();
        let err = assign(
            &parse_publish(&format!("127.0.0.1:{busy}:80")).unwrap(),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("address already in use"), "{err}");
        let random = assign(&parse_publish("80").unwrap(), &taken).unwrap();
        assert_ne!(random[0].host_port, 0);
        let range = assign(&parse_publish("40000-40001:80").unwrap(), &taken).unwrap();
        assert!((40000..=40001).contains(&range[0].host_port));
    }
}
