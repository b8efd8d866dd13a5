//! Tables and JSON as `docker network` prints them.

use std::collections::BTreeMap;

use anyhow::Result;
use berth_common::Paths;
use berth_net::gc::GcReport;
use berth_net::NetworkDef;
use serde_json::{json, Value};

pub fn print_ls(defs: &[NetworkDef], quiet: bool, as_json: bool) -> Result<()> {
    if quiet {
        for d in defs {
            println!("{}", &d.id[..12]);
        }
        return Ok(());
    }
    if as_json {
        for d in defs {
            println!(
                "{}",
                json!({"ID": &d.id[..12], "Name": d.name, "Driver": d.driver, "Scope": "local",
                       "Subnet": d.subnet.to_string(), "Bridge": d.bridge, "Internal": d.internal})
            );
        }
        return Ok(());
    }
    let rows: Vec<Vec<&str>> = defs
        .iter()
        .map(|d| vec![&d.id[..12], d.name.as_str(), d.driver.as_str(), "local"])
        .collect();
    print!(
        "{}",
        berth_common::table::render(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &rows)
    );
    Ok(())
}

/// `docker network inspect`'s shape, for the fields berth has.
pub fn inspect(paths: &Paths, def: &NetworkDef) -> Value {
    let dir = berth_net::network::network_dir(paths, def);
    let containers: BTreeMap<String, Value> = berth_net::endpoints::list(&dir)
        .into_iter()
        .map(|e| {
            let o = e.ip.octets();
            (
                e.container_id.clone(),
                json!({
                    "Name": e.name.clone().unwrap_or_default(),
                    "MacAddress": format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]),
                    "IPv4Address": format!("{}/{}", e.ip, def.subnet.prefix_len()),
                    "IPv6Address": "",
                    "Aliases": e.aliases,
                    "Ports": e.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    let mut options = def.options.clone();
    options.insert(
        berth_net::network::BRIDGE_NAME_OPTION.into(),
        def.bridge.clone(),
    );
    options.insert("com.docker.network.driver.mtu".into(), def.mtu.to_string());
    json!({
        "Name": def.name,
        "Id": def.id,
        "Created": def.created,
        "Scope": "local",
        "Driver": def.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": def.subnet.to_string(), "Gateway": def.gateway.to_string()}]},
        "Internal": def.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": def.labels,
    })
}

pub fn print_gc(report: &GcReport) {
    let lines = [
        ("removed namespace", &report.removed_netns),
        ("released endpoint", &report.released_endpoints),
        ("removed link", &report.removed_links),
        ("removed port rule", &report.removed_ports),
        ("released address", &report.released_addresses),
    ];
    for (what, items) in lines {
        for item in items {
            println!("{what} {item}");
        }
    }
    if !report.kept_containers.is_empty() {
        println!("kept {} running container(s)", report.kept_containers.len());
    }
}
