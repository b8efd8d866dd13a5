//! `POST /networks/create`'s body as berth-net's create request: what berth has (the bridge
//! driver, one IPv4 subnet with its gateway and range, internal, labels, options) passes;
//! what it lacks (other drivers, IPv6, several pools) is refused with a 400 that says so.

use std::collections::BTreeMap;

use berth_api::BackendError;
use berth_net::CreateRequest;
use bollard_stubs::models::NetworkCreateRequest;
use ipnet::Ipv4Net;

pub fn translate(body: &NetworkCreateRequest) -> Result<CreateRequest, BackendError> {
    if berth_api::networks::BUILTIN.contains(&body.name.as_str()) {
        return Err(BackendError::conflict(format!(
            "network with name {} already exists",
            body.name
        )));
    }
    match body.driver.as_deref() {
        None | Some("") | Some("bridge") => {}
        Some(other) => {
            return Err(BackendError::invalid(format!(
                "network driver {other:?} is not supported: berth has the bridge driver only"
            )))
        }
    }
    if body.enable_ipv6 == Some(true) {
        return Err(BackendError::invalid(
            "IPv6 networks are not supported: berth gives containers IPv4 addresses only (EnableIPv6)",
        ));
    }
    if body.enable_ipv4 == Some(false) {
        return Err(BackendError::invalid(
            "a network without IPv4 is not supported (EnableIPv4 false)",
        ));
    }
    let mut request = CreateRequest {
        name: body.name.clone(),
        internal: body.internal.unwrap_or(false),
        options: sorted(body.options.as_ref()),
        labels: sorted(body.labels.as_ref()),
        ..Default::default()
    };
    let Some(ipam) = &body.ipam else {
        return Ok(request);
    };
    match ipam.driver.as_deref() {
        None | Some("") | Some("default") => {}
        Some(other) => {
            return Err(BackendError::invalid(format!(
                "IPAM driver {other:?} is not supported: berth has the default one only"
            )))
        }
    }
    let configs = ipam.config.as_deref().unwrap_or_default();
    if configs.len() > 1 {
        return Err(BackendError::invalid(
            "a berth network has one IPAM config (one IPv4 subnet)",
        ));
    }
    if let Some(config) = configs.first() {
        let subnet = config.subnet.as_deref().filter(|s| !s.is_empty());
        let Some(subnet) = subnet else {
            if config.gateway.is_some() || config.ip_range.is_some() {
                return Err(BackendError::invalid(
                    "a gateway or an IP range needs a subnet",
                ));
            }
            return Ok(request);
        };
        request.subnet = Some(cidr("subnet", subnet)?);
        if let Some(range) = config.ip_range.as_deref().filter(|s| !s.is_empty()) {
            request.ip_range = Some(cidr("IP range", range)?);
        }
        if let Some(gateway) = config.gateway.as_deref().filter(|s| !s.is_empty()) {
            request.gateway = Some(gateway.parse().map_err(|_| {
                BackendError::invalid(format!("invalid gateway {gateway:?}: not an IPv4 address"))
            })?);
        }
        if config
            .auxiliary_addresses
            .as_ref()
            .is_some_and(|a| !a.is_empty())
        {
            return Err(BackendError::invalid(
                "auxiliary addresses are not supported",
            ));
        }
    }
    Ok(request)
}

fn cidr(what: &str, text: &str) -> Result<Ipv4Net, BackendError> {
    if text.contains(':') {
        return Err(BackendError::invalid(format!(
            "invalid {what} {text:?}: IPv6 is not supported"
        )));
    }
    text.parse().map_err(|e| {
        BackendError::invalid(format!("invalid {what} {text:?}: {e} (expected A.B.C.D/N)"))
    })
}

fn sorted(map: Option<&std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_common::ErrorKind;
    use bollard_stubs::models::{Ipam, IpamConfig};

    fn body(name: &str, config: Option<IpamConfig>) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: name.into(),
            ipam: config.map(|c| Ipam {
                config: Some(vec![c]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_full_config_passes() {
        let r = translate(&body(
            "n",
            Some(IpamConfig {
                subnet: Some("10.9.0.0/16".into()),
                gateway: Some("10.9.0.254".into()),
                ip_range: Some("10.9.1.0/24".into()),
                ..Default::default()
            }),
        ))
        .unwrap();
        assert_eq!(r.subnet.unwrap().to_string(), "10.9.0.0/16");
        assert_eq!(r.gateway.unwrap().to_string(), "10.9.0.254");
        assert_eq!(r.ip_range.unwrap().to_string(), "10.9.1.0/24");
    }

    #[test]
    fn what_berth_lacks_is_a_clear_400_and_builtins_a_409() {
        let bad = |b: NetworkCreateRequest| translate(&b).unwrap_err();
        let e = bad(body(
            "n",
            Some(IpamConfig {
                subnet: Some("10.9.0.0/33".into()),
                ..Default::default()
            }),
        ));
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(e.message.contains("10.9.0.0/33"), "{}", e.message);
        let e = bad(body(
            "n",
            Some(IpamConfig {
                subnet: Some("fd00::/64".into()),
                ..Default::default()
            }),
        ));
        assert!(e.message.contains("IPv6"), "{}", e.message);
        let e = bad(NetworkCreateRequest {
            name: "n".into(),
            driver: Some("macvlan".into()),
            ..Default::default()
        });
        assert!(e.message.contains("macvlan"), "{}", e.message);
        let e = bad(NetworkCreateRequest {
            name: "n".into(),
            enable_ipv6: Some(true),
            ..Default::default()
        });
        assert!(e.message.contains("EnableIPv6"), "{}", e.message);
        let e = bad(body("host", None));
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert_eq!(e.message, "network with name host already exists");
    }
}
