//! `volume` and `network`: create, ls (every daemon, merged), inspect, rm, prune.

use berth_client::http::{indented, query};
use berth_client::multi::Clients;
use berth_client::template::Format;
use berth_client::views::{headers_for, network_row, volume_row, NETWORKS_TABLE, VOLUMES_TABLE};
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::cli::ObjectCommand;
use crate::exit::{Failure, Outcome};

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Volume,
    Network,
}

impl Kind {
    fn base(self) -> &'static str {
        match self {
            Kind::Volume => "/volumes",
            Kind::Network => "/networks",
        }
    }
}

pub async fn run(clients: &Clients, kind: Kind, command: ObjectCommand) -> Outcome {
    match command {
        ObjectCommand::Create {
            driver,
            labels,
            subnet,
            name,
        } => create(clients, kind, driver, &labels, subnet, name).await,
        ObjectCommand::Ls {
            quiet,
            filters,
            format,
        } => ls(clients, kind, quiet, &filters, format.as_deref()).await,
        ObjectCommand::Inspect { format, names } => {
            inspect(clients, kind, format.as_deref(), &names).await
        }
        ObjectCommand::Rm { force, names } => rm(clients, kind, force, &names).await,
        ObjectCommand::Prune { .. } => prune(clients, kind).await,
        ObjectCommand::Connect { .. } | ObjectCommand::Disconnect { .. }
            if kind == Kind::Volume =>
        {
            Err(Failure::new(
                125,
                "connect and disconnect are network commands",
            ))
        }
        ObjectCommand::Connect {
            aliases,
            ip,
            network,
            container,
        } => {
            let mut endpoint = json!({"Aliases": aliases});
            if let Some(ip) = ip {
                endpoint["IPAMConfig"] = json!({"IPv4Address": ip});
            }
            let body = json!({"Container": container, "EndpointConfig": endpoint});
            network_call(clients, &network, "connect", &body).await
        }
        ObjectCommand::Disconnect {
            force,
            network,
            container,
        } => {
            let body = json!({"Container": container, "Force": force});
            network_call(clients, &network, "disconnect", &body).await
        }
    }
}

async fn create(
    clients: &Clients,
    kind: Kind,
    driver: Option<String>,
    labels: &[String],
    subnet: Option<String>,
    name: Option<String>,
) -> Outcome {
    let labels: Map<String, Value> = labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), json!(v)),
            None => (l.clone(), json!("")),
        })
        .collect();
    let client = clients.first();
    match kind {
        Kind::Volume => {
            let body = json!({"Name": name.unwrap_or_default(), "Driver": driver.unwrap_or_else(|| "local".into()), "Labels": labels});
            let v: Value = client
                .send_json(Method::POST, "/volumes/create", &body)
                .await?;
            println!("{}", v["Name"].as_str().unwrap_or_default());
        }
        Kind::Network => {
            let name = name.ok_or_else(|| {
                Failure::new(125, "\"network create\" requires exactly 1 argument")
            })?;
            let mut body = json!({"Name": name, "Driver": driver.unwrap_or_else(|| "bridge".into()), "Labels": labels});
            if let Some(subnet) = subnet {
                body["IPAM"] = json!({"Driver": "default", "Config": [{"Subnet": subnet}]});
            }
            let n: Value = client
                .send_json(Method::POST, "/networks/create", &body)
                .await?;
            println!("{}", n["Id"].as_str().unwrap_or_default());
        }
    }
    Ok(0)
}

async fn ls(
    clients: &Clients,
    kind: Kind,
    quiet: bool,
    filters: &[String],
    format: Option<&str>,
) -> Outcome {
    let mut table = match kind {
        Kind::Volume => VOLUMES_TABLE,
        Kind::Network => NETWORKS_TABLE,
    }
    .to_string();
    if clients.several() {
        table = format!("{{{{.Host}}}}\t{table}");
    }
    let quiet_format = match kind {
        Kind::Volume => "{{.Name}}",
        Kind::Network => "{{.ID}}",
    };
    let format = super::format(if quiet { Some(quiet_format) } else { format }, &table)?;
    let path = if filters.is_empty() {
        kind.base().to_string()
    } else {
        format!(
            "{}?{}",
            kind.base(),
            query(&[("filters", super::filters_json(filters))])
        )
    };
    let (rows, failed) = clients
        .rows(&path, |v: Value, host| match kind {
            Kind::Volume => v["Volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| volume_row(v, host))
                .collect(),
            Kind::Network => {
                let mut list: Vec<Value> = v.as_array().cloned().unwrap_or_default();
                list.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
                list.iter().map(|n| network_row(n, false, host)).collect()
            }
        })
        .await;
    let kind_name = if kind == Kind::Volume {
        "volume"
    } else {
        "network"
    };
    // No daemon answered: only the errors, as docker prints for its one daemon.
    if failed.len() < clients.0.len() {
        print!("{}", format.render_rows(&rows, &headers_for(kind_name))?);
    }
    Ok(super::report_failures(clients, &failed))
}

async fn inspect(clients: &Clients, kind: Kind, format: Option<&str>, names: &[String]) -> Outcome {
    let format = format.map(|f| Format::parse(f, "")).transpose()?;
    let mut found = Vec::new();
    let mut code = 0;
    for name in names {
        match clients
            .first()
            .get_json::<Value>(&format!("{}/{name}", kind.base()))
            .await
        {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    match format {
        Some(f) => {
            for v in &found {
                println!("{}", f.render(v)?);
            }
        }
        None => println!("{}", indented(&Value::Array(found))),
    }
    Ok(code)
}

async fn rm(clients: &Clients, kind: Kind, force: bool, names: &[String]) -> Outcome {
    let mut code = 0;
    for name in names {
        let path = match kind {
            Kind::Volume => format!("/volumes/{name}?force={force}"),
            Kind::Network => format!("/networks/{name}"),
        };
        match clients.first().send(Method::DELETE, &path).await {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

async fn prune(clients: &Clients, kind: Kind) -> Outcome {
    let answer: Value = clients
        .first()
        .send_json(
            Method::POST,
            &format!("{}/prune", kind.base()),
            &Value::Null,
        )
        .await?;
    let key = match kind {
        Kind::Volume => "VolumesDeleted",
        Kind::Network => "NetworksDeleted",
    };
    let deleted: Vec<&str> = answer[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    if !deleted.is_empty() {
        println!(
            "Deleted {}:",
            if kind == Kind::Volume {
                "Volumes"
            } else {
                "Networks"
            }
        );
        for d in deleted {
            println!("{d}");
        }
        println!();
    }
    if kind == Kind::Volume {
        println!(
            "Total reclaimed space: {}",
            berth_client::views::human_size(answer["SpaceReclaimed"].as_f64().unwrap_or(0.0))
        );
    }
    Ok(0)
}

async fn network_call(clients: &Clients, network: &str, verb: &str, body: &Value) -> Outcome {
    let response = clients
        .first()
        .call(
            Method::POST,
            &format!("/networks/{network}/{verb}"),
            berth_client::http::json_body(body),
            &berth_client::http::json_header(),
        )
        .await?;
    clients.first().collect(response).await?;
    Ok(0)
}
