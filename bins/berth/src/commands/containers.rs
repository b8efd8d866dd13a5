//! Commands on existing containers: stop, restart, kill, rm, wait, pause/unpause, rename,
//! port, top, logs, and `inspect` (of any object type). Each container may be `HOST/NAME`.

use berth_client::http::query;
use berth_client::multi::Clients;
use berth_client::{Client, ClientError};
use hyper::Method;
use serde_json::Value;

use crate::cli::{Containers, InspectArgs, KillArgs, LogsArgs, RmArgs, StopArgs};
use crate::exit::{Failure, Outcome};

/// Runs `call` for each container in turn; prints the name on success as docker does,
/// the daemon's error otherwise; exit 1 when any failed.
async fn each_container<F, Fut>(clients: &Clients, names: &[String], call: F) -> Outcome
where
    F: Fn(Client, String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, ClientError>>,
{
    let mut code = 0;
    for reference in names {
        let result = match clients.locate(reference).await {
            Ok((client, name)) => call(client, name).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(Some(line)) => println!("{line}"),
            Ok(None) => println!("{reference}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

pub async fn stop(clients: &Clients, args: StopArgs, restart: bool) -> Outcome {
    let verb = if restart { "restart" } else { "stop" };
    let mut pairs = Vec::new();
    if let Some(t) = args.timeout {
        pairs.push(("t", t.to_string()));
    }
    if let Some(s) = &args.signal {
        pairs.push(("signal", s.clone()));
    }
    let q = query(&pairs);
    each_container(clients, &args.containers, |c, name| {
        let q = q.clone();
        async move {
            c.send(Method::POST, &format!("/containers/{name}/{verb}?{q}"))
                .await?;
            if restart {
                super::run::hand_over_watch(&c, &name).await;
            }
            Ok(None)
        }
    })
    .await
}

pub async fn kill(clients: &Clients, args: KillArgs) -> Outcome {
    let q = query(&[("signal", args.signal.clone())]);
    each_container(clients, &args.containers, |c, name| {
        let q = q.clone();
        async move {
            c.send(Method::POST, &format!("/containers/{name}/kill?{q}"))
                .await?;
            Ok(None)
        }
    })
    .await
}

pub async fn rm(clients: &Clients, args: RmArgs) -> Outcome {
    let q = query(&[
        ("force", args.force.to_string()),
        ("v", args.volumes.to_string()),
    ]);
    each_container(clients, &args.containers, |c, name| {
        let q = q.clone();
        async move {
            c.send(Method::DELETE, &format!("/containers/{name}?{q}"))
                .await?;
            Ok(None)
        }
    })
    .await
}

pub async fn wait(clients: &Clients, args: Containers) -> Outcome {
    each_container(clients, &args.containers, |c, name| async move {
        let answer: Value = c
            .send_json(
                Method::POST,
                &format!("/containers/{name}/wait"),
                &Value::Null,
            )
            .await?;
        Ok(Some(
            answer["StatusCode"].as_i64().unwrap_or(-1).to_string(),
        ))
    })
    .await
}

pub async fn simple(clients: &Clients, args: Containers, verb: &'static str) -> Outcome {
    each_container(clients, &args.containers, |c, name| async move {
        c.send(Method::POST, &format!("/containers/{name}/{verb}"))
            .await?;
        Ok(None)
    })
    .await
}

pub async fn rename(clients: &Clients, container: &str, new_name: &str) -> Outcome {
    let (client, name) = clients.locate(container).await?;
    let q = query(&[("name", new_name.to_string())]);
    client
        .send(Method::POST, &format!("/containers/{name}/rename?{q}"))
        .await?;
    Ok(0)
}

pub async fn port(clients: &Clients, container: &str, private: Option<&str>) -> Outcome {
    let (client, name) = clients.locate(container).await?;
    let inspect: Value = client.get_json(&format!("/containers/{name}/json")).await?;
    let ports = inspect["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let wanted = private.map(|p| {
        if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort();
    let mut found = false;
    for key in keys {
        if wanted.as_deref().is_some_and(|w| w != key) {
            continue;
        }
        for binding in ports[key].as_array().into_iter().flatten() {
            let ip = binding["HostIp"].as_str().unwrap_or("");
            let port = binding["HostPort"].as_str().unwrap_or("");
            let host = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            };
            found = true;
            match &wanted {
                Some(_) => println!("{host}"),
                None => println!("{key} -> {host}"),
            }
        }
    }
    if let (Some(w), false) = (&wanted, found) {
        return Err(Failure::new(
            1,
            format!("Error: No public port '{w}' published for {container}"),
        ));
    }
    Ok(0)
}

pub async fn top(clients: &Clients, container: &str, ps_args: &[String]) -> Outcome {
    let (client, name) = clients.locate(container).await?;
    let path = if ps_args.is_empty() {
        format!("/containers/{name}/top")
    } else {
        format!(
            "/containers/{name}/top?{}",
            query(&[("ps_args", ps_args.join(" "))])
        )
    };
    let top: Value = client.get_json(&path).await?;
    let header: Vec<&str> = top["Titles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str())
        .collect();
    let rows: Vec<Vec<String>> = top["Processes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            p.as_array()
                .into_iter()
                .flatten()
                .map(|c| c.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect();
    print!("{}", berth_common::table::render(&header, &rows));
    Ok(0)
}

pub async fn logs(clients: &Clients, args: LogsArgs) -> Outcome {
    let (client, name) = clients.locate(&args.container).await?;
    let inspect: Value = client.get_json(&format!("/containers/{name}/json")).await?;
    let tty = inspect["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut pairs = vec![
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
        ("tail", args.tail.clone()),
    ];
    if args.follow {
        pairs.push(("follow", "1".to_string()));
    }
    if args.timestamps {
        pairs.push(("timestamps", "1".to_string()));
    }
    for (key, value) in [("since", &args.since), ("until", &args.until)] {
        if let Some(v) = value {
            pairs.push((key, super::time_param(key, v)?));
        }
    }
    let response = client
        .call(
            Method::GET,
            &format!("/containers/{name}/logs?{}", query(&pairs)),
            berth_client::http::empty(),
            &[],
        )
        .await?;
    let reader = berth_client::http::body_reader(response);
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    berth_client::demux::copy_output(reader, tty, &mut out, &mut err)
        .await
        .map_err(|e| Failure::new(1, format!("error from daemon in stream: {e}")))?;
    Ok(0)
}

pub async fn inspect(clients: &Clients, args: InspectArgs) -> Outcome {
    let format = match &args.format {
        Some(f) => Some(berth_client::template::Format::parse(f, "")?),
        None => None,
    };
    let mut found = Vec::new();
    let mut code = 0;
    for reference in &args.objects {
        match inspect_one(clients, reference, args.kind.as_deref(), args.size).await {
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
        None => {
            println!("{}", berth_client::http::indented(&Value::Array(found)));
        }
    }
    Ok(code)
}

/// The object named, tried as docker does: container, image, volume, network (or only
/// `--type`).
async fn inspect_one(
    clients: &Clients,
    reference: &str,
    kind: Option<&str>,
    size: bool,
) -> Result<Value, ClientError> {
    let (client, name) = clients.locate(reference).await?;
    let kinds: &[&str] = match kind {
        Some("container") => &["container"],
        Some("image") => &["image"],
        Some("volume") => &["volume"],
        Some("network") => &["network"],
        Some(other) => {
            return Err(ClientError::Usage(format!(
                "\"{other}\" is not a valid value for --type"
            )))
        }
        None => &["container", "image", "volume", "network"],
    };
    for k in kinds {
        let path = match *k {
            "container" if size => format!("/containers/{name}/json?size=1"),
            "container" => format!("/containers/{name}/json"),
            "image" => format!("/images/{name}/json"),
            "volume" => format!("/volumes/{name}"),
            _ => format!("/networks/{name}"),
        };
        match client.get_json::<Value>(&path).await {
            Ok(v) => return Ok(v),
            Err(ClientError::Daemon { status: 404, .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ClientError::Daemon {
        status: 404,
        message: format!("No such object: {reference}"),
    })
}
