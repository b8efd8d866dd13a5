//! Choosing a subnet for a new network that collides with nothing: not with a route the
//! host already has (its LAN, a VPN, docker0), nor with another of berth's networks.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::error::{NetError, Result};
use crate::netlink::Netlink;

pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Docker's pools, in order: 172.17-31.0.0/16, then 192.168.0-240.0/20; berth starts at
/// 172.18 to leave Docker's usual 172.17 alone, then tries 10.88-99.0.0/16.
fn candidates() -> impl Iterator<Item = Ipv4Net> {
    let private16 =
        (18..=31u8).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).expect("valid"));
    let ten = (88..=99u8).map(|b| Ipv4Net::new(Ipv4Addr::new(10, b, 0, 0), 16).expect("valid"));
    let c192 =
        (0..16u8).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).expect("valid"));
    private16.chain(ten).chain(c192)
}

/// The first candidate that overlaps neither the host's routes (the default route
/// excepted) nor `taken`.
pub fn choose(taken: &[Ipv4Net]) -> Result<Ipv4Net> {
    let routes: Vec<Ipv4Net> = Netlink::open()?
        .routes()?
        .into_iter()
        .filter(|(_, prefix)| *prefix > 0)
        .filter_map(|(dst, prefix)| Ipv4Net::new(dst, prefix).ok())
        .collect();
    candidates()
        .find(|c| !routes.iter().chain(taken).any(|r| overlaps(r, c)))
        .ok_or(NetError::NoFreeSubnet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_symmetric_and_exact() {
        let a: Ipv4Net = "172.18.0.0/16".parse().unwrap();
        let b: Ipv4Net = "172.18.5.0/24".parse().unwrap();
        let c: Ipv4Net = "172.19.0.0/16".parse().unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a));
        assert!(!overlaps(&a, &c));
    }

    #[test]
    fn candidates_are_private_and_distinct() {
        let all: Vec<Ipv4Net> = candidates().collect();
        for (i, a) in all.iter().enumerate() {
            assert!(a.network().is_private(), "{a}");
            assert!(all[i + 1..].iter().all(|b| !overlaps(a, b)));
        }
    }
}
