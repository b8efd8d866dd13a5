//! `version` and `info`: the client's part, then each daemon's.

use berth_client::http::CLIENT_API_VERSION;
use berth_client::multi::Clients;
use berth_client::template::Format;
use serde_json::{json, Value};

use crate::cli::FormatArg;
use crate::exit::{Failure, Outcome};

fn client_part() -> Value {
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": CLIENT_API_VERSION,
        "DefaultAPIVersion": CLIENT_API_VERSION,
        "GoVersion": "n/a (Rust)",
        "GitCommit": "",
        "Os": std::env::consts::OS,
        "Arch": std::env::consts::ARCH,
        "BuildTime": "",
        "Context": "default",
    })
}

pub async fn version(clients: &Clients, args: FormatArg) -> Outcome {
    let format = args
        .format
        .as_deref()
        .map(|f| Format::parse(f, ""))
        .transpose()?;
    let answers = clients
        .each(|c| async move { c.get_json::<Value>("/version").await })
        .await;
    let mut failed = Vec::new();
    let client = client_part();
    for (daemon, answer) in answers {
        let server = match answer {
            Ok(v) => v,
            Err(e) => {
                if format.is_none() {
                    print_version(&daemon.name, &client, &Value::Null, clients.several());
                }
                failed.push((daemon.name.clone(), e));
                continue;
            }
        };
        let mut client = client.clone();
        if daemon.is_local() {
            client["Context"] = json!("in-process");
        }
        let negotiated = daemon.version().await.unwrap_or_default();
        client["ApiVersion"] = json!(negotiated);
        match &format {
            Some(f) => println!(
                "{}",
                f.render(&json!({"Client": client, "Server": server}))?
            ),
            None => print_version(&daemon.name, &client, &server, clients.several()),
        }
    }
    Ok(super::report_failures(clients, &failed))
}

fn print_version(host: &str, client: &Value, server: &Value, several: bool) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if several {
        println!("Host: {host}");
    }
    println!("Client:");
    println!(" Version:           {}", s(&client["Version"]));
    println!(" API version:       {}", s(&client["ApiVersion"]));
    println!(
        " OS/Arch:           {}/{}",
        s(&client["Os"]),
        s(&client["Arch"])
    );
    println!(" Context:           {}", s(&client["Context"]));
    if server.is_null() {
        return;
    }
    println!();
    println!("Server: {}", s(&server["Platform"]["Name"]));
    println!(" Engine:");
    println!("  Version:          {}", s(&server["Version"]));
    println!(
        "  API version:      {} (minimum version {})",
        s(&server["ApiVersion"]),
        s(&server["MinAPIVersion"])
    );
    println!(
        "  OS/Arch:          {}/{}",
        s(&server["Os"]),
        s(&server["Arch"])
    );
    println!("  Kernel Version:   {}", s(&server["KernelVersion"]));
}

pub async fn info(clients: &Clients, args: FormatArg) -> Outcome {
    let format = args
        .format
        .as_deref()
        .map(|f| Format::parse(f, ""))
        .transpose()?;
    let answers = clients
        .each(|c| async move { c.get_json::<Value>("/info").await })
        .await;
    let mut failed = Vec::new();
    for (daemon, answer) in answers {
        let info = match answer {
            Ok(v) => v,
            Err(e) => {
                failed.push((daemon.name.clone(), e));
                continue;
            }
        };
        match &format {
            Some(f) => println!("{}", f.render(&info)?),
            None => print_info(&daemon.name, &info, clients.several()),
        }
    }
    if failed.len() == clients.0.len() && !clients.several() {
        let (_, e) = failed.remove(0);
        return Err(Failure::new(1, e.to_string()));
    }
    Ok(super::report_failures(clients, &failed))
}

fn print_info(host: &str, info: &Value, several: bool) {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if several {
        println!("Host: {host}");
    }
    println!("Server:");
    println!(" Containers: {}", s(&info["Containers"]));
    println!("  Running: {}", s(&info["ContainersRunning"]));
    println!("  Paused: {}", s(&info["ContainersPaused"]));
    println!("  Stopped: {}", s(&info["ContainersStopped"]));
    println!(" Images: {}", s(&info["Images"]));
    println!(" Server Version: {}", s(&info["ServerVersion"]));
    println!(" Storage Driver: {}", s(&info["Driver"]));
    println!(" Cgroup Driver: {}", s(&info["CgroupDriver"]));
    println!(" Cgroup Version: {}", s(&info["CgroupVersion"]));
    println!(" Kernel Version: {}", s(&info["KernelVersion"]));
    println!(" Operating System: {}", s(&info["OperatingSystem"]));
    println!(" OSType: {}", s(&info["OSType"]));
    println!(" Architecture: {}", s(&info["Architecture"]));
    println!(" CPUs: {}", s(&info["NCPU"]));
    println!(
        " Total Memory: {}",
        berth_client::views::human_size(info["MemTotal"].as_f64().unwrap_or(0.0))
    );
    println!(" Name: {}", s(&info["Name"]));
    println!(" ID: {}", s(&info["ID"]));
    println!(" Docker Root Dir: {}", s(&info["DockerRootDir"]));
}

/// `system dial-stdio`: this process's stdio as one connection to the daemon, what an
/// `ssh://` client on another machine runs here. It needs a daemon: each ssh connection is
/// a process of its own, and an engine in-process would take the work it does after an
/// answer (AutoRemove, restarts) down with it. It ends when the daemon's side does: exiting
/// is what closes stdout (tokio's shutdown of stdout does not), which the client reads as
/// the end of a hijacked stream; the end of stdin half-closes the daemon's side.
pub async fn dial_stdio(clients: &Clients) -> Outcome {
    use berth_client::transport::Transport;
    use tokio::io::AsyncWriteExt;
    let client = clients.first();
    if let Transport::InProcess(_) = client.transport() {
        return Err(Failure::new(
            125,
            "dial-stdio needs a daemon: give -H, BERTH_HOST or DOCKER_HOST",
        ));
    }
    let daemon = client.transport().connect(&client.name).await?;
    let (mut from_daemon, mut to_daemon) = tokio::io::split(daemon);
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let _ = tokio::io::copy(&mut stdin, &mut to_daemon).await;
        let _ = to_daemon.shutdown().await;
    });
    let mut stdout = tokio::io::stdout();
    let copied = tokio::io::copy(&mut from_daemon, &mut stdout).await;
    let _ = stdout.flush().await;
    match copied {
        Ok(_) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(Failure::new(1, format!("dial-stdio: {e}"))),
    }
}
