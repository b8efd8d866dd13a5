//! Commands that watch or change what runs: stats, events, update, diff, system df, and
//! the prunes.

use std::io::Write;

use berth_client::http::query;
use berth_client::multi::Clients;
use berth_client::views::human_size;
use berth_client::{Client, ClientError};
use futures_util::StreamExt;
use hyper::Method;
use serde_json::{json, Value};

use crate::cli::{EventsArgs, StatsArgs, UpdateArgs};
use crate::exit::{Failure, Outcome};

pub async fn diff(clients: &Clients, container: &str) -> Outcome {
    let (client, name) = clients.locate(container).await?;
    let changes: Value = client
        .get_json(&format!("/containers/{name}/changes"))
        .await?;
    for change in changes.as_array().into_iter().flatten() {
        let kind = match change["Kind"].as_i64() {
            Some(1) => "A",
            Some(2) => "D",
            _ => "C",
        };
        println!("{kind} {}", change["Path"].as_str().unwrap_or_default());
    }
    Ok(0)
}

pub async fn update(clients: &Clients, args: UpdateArgs) -> Outcome {
    let mut body = json!({});
    if let Some(cpus) = args.cpus {
        body["NanoCpus"] = json!((cpus * 1e9) as i64);
    }
    if let Some(m) = &args.memory {
        body["Memory"] = json!(super::size_flag("--memory", m).map_err(|e| Failure::new(125, e))?);
    }
    if let Some(m) = &args.memory_swap {
        let bytes = if m == "-1" {
            -1
        } else {
            super::size_flag("--memory-swap", m).map_err(|e| Failure::new(125, e))?
        };
        body["MemorySwap"] = json!(bytes);
    }
    if let Some(s) = args.cpu_shares {
        body["CpuShares"] = json!(s);
    }
    if let Some(p) = args.pids_limit {
        body["PidsLimit"] = json!(p);
    }
    if let Some(r) = &args.restart {
        let (name, count) = r.split_once(':').unwrap_or((r, "0"));
        body["RestartPolicy"] =
            json!({"Name": name, "MaximumRetryCount": count.parse::<i64>().unwrap_or(0)});
    }
    let mut code = 0;
    for reference in &args.containers {
        let result = async {
            let (client, name) = clients.locate(reference).await?;
            let answer: Value = client
                .send_json(Method::POST, &format!("/containers/{name}/update"), &body)
                .await?;
            Ok::<_, ClientError>(answer)
        }
        .await;
        match result {
            Ok(answer) => {
                for w in answer["Warnings"].as_array().into_iter().flatten() {
                    eprintln!("WARNING: {}", w.as_str().unwrap_or_default());
                }
                println!("{reference}");
            }
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

const STATS_TABLE: &str = "{{.Container}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
const STATS_HEADERS: &[(&str, &str)] = &[
    ("Host", "HOST"),
    ("Container", "CONTAINER ID"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// One stats sample as docker's row (CPU from the sample's own pre-CPU numbers).
async fn sample_all(
    clients: &Clients,
    args: &StatsArgs,
) -> (Vec<Value>, Vec<(String, ClientError)>) {
    let several = clients.several();
    let answers = clients
        .each(|c: Client| {
            let wanted = args.containers.clone();
            let all = args.all;
            async move {
                let implicit = wanted.is_empty();
                let names: Vec<String> = if implicit {
                    let list: Vec<Value> =
                        c.get_json(&format!("/containers/json?all={all}")).await?;
                    list.iter()
                        .filter_map(|x| x["Id"].as_str().map(String::from))
                        .collect()
                } else {
                    wanted
                };
                let mut samples = Vec::new();
                for name in names {
                    match c
                        .get_json::<Value>(&format!("/containers/{name}/stats?stream=false"))
                        .await
                    {
                        Ok(s) => samples.push(s),
                        // One that went between the list and its sample is skipped.
                        Err(ClientError::Daemon { status: 404, .. }) if implicit => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(samples)
            }
        })
        .await;
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for (client, answer) in answers {
        match answer {
            Ok(samples) => rows.extend(samples.iter().map(|s| {
                berth_client::stats_view::stats_row(
                    s,
                    args.no_trunc,
                    several.then_some(client.name.as_str()),
                )
            })),
            Err(e) => failed.push((client.name.clone(), e)),
        }
    }
    (rows, failed)
}

pub async fn stats(clients: &Clients, args: StatsArgs) -> Outcome {
    let mut table = STATS_TABLE.to_string();
    if clients.several() {
        table = format!("{{{{.Host}}}}\t{table}");
    }
    let format = super::format(args.format.as_deref(), &table)?;
    loop {
        let (rows, failed) = sample_all(clients, &args).await;
        let text = format.render_rows(&rows, STATS_HEADERS)?;
        if args.no_stream {
            if failed.len() < clients.0.len() {
                print!("{text}");
            }
            return Ok(super::report_failures(clients, &failed));
        }
        // docker's live view: the screen cleared, the table again, every second.
        print!("\x1b[2J\x1b[H{text}");
        let _ = std::io::stdout().flush();
        for (host, e) in &failed {
            eprintln!("{host}: {e}");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

pub async fn events(clients: &Clients, args: EventsArgs) -> Outcome {
    let format = args
        .format
        .as_deref()
        .map(|f| berth_client::template::Format::parse(f, ""))
        .transpose()?;
    let mut pairs = Vec::new();
    for (key, value) in [("since", &args.since), ("until", &args.until)] {
        if let Some(v) = value {
            pairs.push((key, super::time_param(key, v)?));
        }
    }
    if !args.filters.is_empty() {
        pairs.push(("filters", super::filters_json(&args.filters)));
    }
    let path = format!("/events?{}", query(&pairs));
    let several = clients.several();
    let format = std::sync::Arc::new(format);
    let results = clients
        .each(|c: Client| {
            let path = path.clone();
            let format = format.clone();
            async move {
                let response = c
                    .call(Method::GET, &path, berth_client::http::empty(), &[])
                    .await?;
                let mut body = http_body_util::BodyDataStream::new(response.into_body());
                let mut pending = Vec::new();
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|source| ClientError::Http {
                        host: c.name.clone(),
                        source,
                    })?;
                    pending.extend_from_slice(&chunk);
                    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        if let Ok(event) = serde_json::from_slice::<Value>(&line) {
                            print_event(
                                &event,
                                format.as_ref().as_ref(),
                                several.then_some(c.name.as_str()),
                            )?;
                        }
                    }
                }
                Ok(())
            }
        })
        .await;
    let failed: Vec<(String, ClientError)> = results
        .into_iter()
        .filter_map(|(c, r)| r.err().map(|e| (c.name.clone(), e)))
        .collect();
    Ok(super::report_failures(clients, &failed))
}

/// docker's event line: `TIME TYPE ACTION ID (k=v, …)`.
fn print_event(
    event: &Value,
    format: Option<&berth_client::template::Format>,
    host: Option<&str>,
) -> Result<(), ClientError> {
    let line = match format {
        Some(f) => f.render(event)?,
        None => {
            let nanos = event["timeNano"].as_u64().unwrap_or(0);
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos);
            let stamp = humantime::format_rfc3339_nanos(time).to_string();
            let actor = &event["Actor"];
            let mut attrs: Vec<String> = actor["Attributes"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            attrs.sort();
            format!(
                "{} {} {} {} ({})",
                stamp.replace('Z', "+00:00"),
                event["Type"].as_str().unwrap_or_default(),
                event["Action"].as_str().unwrap_or_default(),
                actor["ID"].as_str().unwrap_or_default(),
                attrs.join(", ")
            )
        }
    };
    match host {
        Some(h) => println!("{h} {line}"),
        None => println!("{line}"),
    }
    let _ = std::io::stdout().flush();
    Ok(())
}

pub async fn system_df(clients: &Clients, verbose: bool, format: Option<&str>) -> Outcome {
    let df: Value = clients.first().get_json("/system/df").await?;
    let images = df["Images"].as_array().cloned().unwrap_or_default();
    let containers = df["Containers"].as_array().cloned().unwrap_or_default();
    let volumes = df["Volumes"].as_array().cloned().unwrap_or_default();
    let sum = |list: &[Value], key: &str| {
        list.iter()
            .map(|v| v[key].as_f64().unwrap_or(0.0))
            .sum::<f64>()
    };
    let active_images = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .count();
    let active_containers = containers
        .iter()
        .filter(|c| c["State"] == "running")
        .count();
    let volume_sizes: Vec<f64> = volumes
        .iter()
        .map(|v| v["UsageData"]["Size"].as_f64().unwrap_or(0.0).max(0.0))
        .collect();
    let active_volumes = volumes
        .iter()
        .filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0)
        .count();
    let layers = df["LayersSize"]
        .as_f64()
        .unwrap_or_else(|| sum(&images, "Size"));
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": active_images.to_string(),
               "Size": human_size(layers), "Reclaimable": "N/A"}),
        json!({"Type": "Containers", "TotalCount": containers.len().to_string(), "Active": active_containers.to_string(),
               "Size": human_size(sum(&containers, "SizeRw")), "Reclaimable": "N/A"}),
        json!({"Type": "Local Volumes", "TotalCount": volumes.len().to_string(), "Active": active_volumes.to_string(),
               "Size": human_size(volume_sizes.iter().sum()), "Reclaimable": "N/A"}),
        json!({"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
    ];
    if verbose && format.is_none() {
        println!("{}", berth_client::http::indented(&df));
        return Ok(0);
    }
    let f = super::format(
        format,
        "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    )?;
    let headers = [
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ];
    print!("{}", f.render_rows(&rows, &headers)?);
    Ok(0)
}

/// `POST /{what}/prune`; prints what went and the space reclaimed, as docker.
pub async fn prune(client: &Client, what: &str, filters: &[String]) -> Result<f64, Failure> {
    let path = if filters.is_empty() {
        format!("/{what}/prune")
    } else {
        format!(
            "/{what}/prune?{}",
            query(&[("filters", super::filters_json(filters))])
        )
    };
    let answer: Value = client.send_json(Method::POST, &path, &Value::Null).await?;
    let (key, title) = match what {
        "containers" => ("ContainersDeleted", "Deleted Containers:"),
        "images" => ("ImagesDeleted", "Deleted Images:"),
        "networks" => ("NetworksDeleted", "Deleted Networks:"),
        _ => ("VolumesDeleted", "Deleted Volumes:"),
    };
    let items: Vec<String> = answer[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other["Deleted"]
                .as_str()
                .map(|d| format!("deleted: {d}"))
                .or_else(|| other["Untagged"].as_str().map(|u| format!("untagged: {u}")))
                .unwrap_or_default(),
        })
        .collect();
    if !items.is_empty() {
        println!("{title}");
        for i in items {
            println!("{i}");
        }
        println!();
    }
    Ok(answer["SpaceReclaimed"].as_f64().unwrap_or(0.0))
}

pub async fn prune_one(clients: &Clients, what: &str, filters: &[String]) -> Outcome {
    let space = prune(clients.first(), what, filters).await?;
    println!("Total reclaimed space: {}", human_size(space));
    Ok(0)
}

pub async fn system_prune(clients: &Clients, all: bool, volumes: bool) -> Outcome {
    let client = clients.first();
    let mut space = prune(client, "containers", &[]).await?;
    space += prune(client, "networks", &[]).await?;
    if volumes {
        space += prune(client, "volumes", &[]).await?;
    }
    let image_filters = if all {
        vec!["dangling=false".to_string()]
    } else {
        Vec::new()
    };
    space += prune(client, "images", &image_filters).await?;
    println!("Total reclaimed space: {}", human_size(space));
    Ok(0)
}
