//! `run`, `create`, `start`, `attach`, `exec`: the commands that make a process and may
//! stay attached to it, in the docker CLI's order of calls (create; attach before start;
//! wait registered before start; resize once started).

use berth_client::http::{empty, json_body, json_header, query};
use berth_client::multi::Clients;
use berth_client::progress::Display;
use berth_client::{Client, ClientError};
use hyper::Method;
use serde_json::{json, Value};

use super::create_body::create_body;
use super::session::{detach_keys, drive, Ended, Session};
use crate::cli::{AttachArgs, ExecArgs, RunArgs, StartArgs};
use crate::exit::{run_failure, Failure, Outcome};

pub async fn create(clients: &Clients, args: RunArgs) -> Outcome {
    let id = create_container(clients.first(), &args).await?;
    println!("{id}");
    Ok(0)
}

/// Creates the container; an image that is not there is pulled first, as docker does.
async fn create_container(client: &Client, args: &RunArgs) -> Result<String, Failure> {
    let (image, body) = create_body(args).map_err(|e| Failure::new(125, e))?;
    let path = match &args.name {
        Some(name) => format!("/containers/create?{}", query(&[("name", name.clone())])),
        None => "/containers/create".to_string(),
    };
    let created: Result<Value, ClientError> = client.send_json(Method::POST, &path, &body).await;
    let created = match created {
        Err(ClientError::Daemon {
            status: 404,
            message,
        }) if message.contains("No such image") => {
            eprintln!("Unable to find image '{image}' locally");
            pull_image(client, &image, args.quiet, true)
                .await
                .map_err(run_failure)?;
            client.send_json(Method::POST, &path, &body).await
        }
        other => other,
    };
    let created = created.map_err(run_failure)?;
    for warning in created["Warnings"].as_array().into_iter().flatten() {
        if let Some(w) = warning.as_str() {
            eprintln!("WARNING: {w}");
        }
    }
    created["Id"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| Failure::new(125, "the daemon's create answer has no Id"))
}

/// `POST /images/create?fromImage=`, its progress on stderr (`to_stderr`) or stdout.
pub async fn pull_image(
    client: &Client,
    image: &str,
    quiet: bool,
    to_stderr: bool,
) -> Result<(), ClientError> {
    let (name, tag) = berth_image::reference::repository_and_tag(image);
    let path = format!(
        "/images/create?{}",
        query(&[("fromImage", name.to_string()), ("tag", tag.to_string())])
    );
    let auth = ("x-registry-auth", super::registry_auth::header_for(image));
    let response = client.call(Method::POST, &path, empty(), &[auth]).await?;
    let terminal = {
        use std::io::IsTerminal;
        if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        }
    };
    if quiet {
        let mut display = Display::new(std::io::sink(), false);
        return berth_client::progress::follow(response.into_body(), &mut display).await;
    }
    if to_stderr {
        let mut display = Display::new(std::io::stderr(), terminal);
        berth_client::progress::follow(response.into_body(), &mut display).await
    } else {
        let mut display = Display::new(std::io::stdout(), terminal);
        berth_client::progress::follow(response.into_body(), &mut display).await
    }
}

pub async fn run(clients: &Clients, args: RunArgs) -> Outcome {
    let client = clients.first();
    let keys = detach_keys(args.detach_keys.as_deref())?;
    let id = create_container(client, &args).await?;
    if args.detach {
        start_container(client, &id).await?;
        if args.rm {
            hand_over_removal(client, &id);
        }
        println!("{id}");
        return Ok(0);
    }
    let stdin = args.interactive;
    let mut pairs = vec![
        ("stream", "1".to_string()),
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
    ];
    if stdin {
        pairs.push(("stdin", "1".to_string()));
    }
    let attach = format!("/containers/{id}/attach?{}", query(&pairs));
    let upgraded = client.hijack(&attach, empty()).await.map_err(run_failure)?;
    let condition = if args.rm { "removed" } else { "next-exit" };
    let wait = client
        .call(
            Method::POST,
            &format!("/containers/{id}/wait?condition={condition}"),
            empty(),
            &[],
        )
        .await
        .map_err(run_failure)?;
    if let Err(failure) = start_container(client, &id).await {
        if args.rm {
            // The daemon removes a container that failed to start; in-process that is this
            // process's work, so it must not exit before the removal is done.
            let removed = client.collect(wait);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), removed).await;
        }
        return Err(failure);
    }
    let session = Session {
        tty: args.tty,
        stdin,
        detach_keys: keys,
        resize: Some(format!("/containers/{id}")),
        sig_proxy: (args.sig_proxy && !args.tty).then(|| id.clone()),
    };
    match drive(client, upgraded, session)
        .await
        .map_err(run_failure)?
    {
        Ended::Detached => return Ok(0),
        Ended::Output => {}
    }
    let bytes = client.collect(wait).await.map_err(run_failure)?;
    exit_status(&bytes)
}

/// The code of a wait's answer, its `Error.Message` on stderr.
fn exit_status(bytes: &[u8]) -> Outcome {
    let answer: Value = serde_json::from_slice(bytes)
        .map_err(|e| Failure::new(125, format!("the daemon's wait answer: {e}")))?;
    if let Some(message) = answer["Error"]["Message"]
        .as_str()
        .filter(|m| !m.is_empty())
    {
        return Err(Failure::new(125, message));
    }
    let code = answer["StatusCode"].as_i64().unwrap_or(125);
    Ok(u8::try_from(code.rem_euclid(256)).unwrap_or(125))
}

async fn start_container(client: &Client, id: &str) -> Result<(), Failure> {
    client
        .send(Method::POST, &format!("/containers/{id}/start"))
        .await
        .map_err(run_failure)?;
    hand_over_watch(client, id).await;
    Ok(())
}

/// In-process, nothing of this process watches the container once it exits: when the
/// container has a restart policy or a healthcheck, a supervisor helper process applies
/// them, as berthd would (a berthd started later on the root waits for it and takes over).
pub(super) async fn hand_over_watch(client: &Client, id: &str) {
    let berth_client::transport::Transport::InProcess(local) = client.transport() else {
        return;
    };
    if !local.needs_supervisor(id) {
        return;
    }
    if let Err(e) = local.spawn_helper(berth_client::inprocess::SUPERVISE_HELPER, id) {
        eprintln!("WARNING: {id}: no restarts or healthchecks once this process exits: {e}");
    }
}

/// `__supervise ID`: the restart policy and healthcheck of an in-process container, applied
/// until a run ends that the policy does not restart.
pub async fn supervise(clients: &Clients, id: &str) -> Outcome {
    let berth_client::transport::Transport::InProcess(local) = clients.first().transport() else {
        return Err(Failure::new(
            125,
            "__supervise runs on a local store (no -H): a daemon supervises its own",
        ));
    };
    local
        .supervise(id)
        .await
        .map_err(|e| Failure::new(1, e.to_string()))?;
    Ok(0)
}

pub async fn start(clients: &Clients, args: StartArgs) -> Outcome {
    if !args.attach && !args.interactive {
        let mut failed = 0;
        for reference in &args.containers {
            let (client, name) = clients.locate(reference).await?;
            match client
                .send(Method::POST, &format!("/containers/{name}/start"))
                .await
            {
                Ok(_) => {
                    hand_over_watch(&client, &name).await;
                    println!("{reference}");
                }
                Err(e) => {
                    eprintln!("{e}");
                    failed = 1;
                }
            }
        }
        if failed != 0 {
            return Err(Failure::new(1, "Error: failed to start containers"));
        }
        return Ok(0);
    }
    let [reference] = args.containers.as_slice() else {
        return Err(Failure::new(
            1,
            "you cannot start and attach multiple containers at once",
        ));
    };
    let keys = detach_keys(args.detach_keys.as_deref())?;
    let (client, name) = clients.locate(reference).await?;
    let container: Value = client.get_json(&format!("/containers/{name}/json")).await?;
    let id = container["Id"].as_str().unwrap_or(&name).to_string();
    let tty = container["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut pairs = vec![
        ("stream", "1".to_string()),
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
    ];
    if args.interactive {
        pairs.push(("stdin", "1".to_string()));
    }
    let upgraded = client
        .hijack(
            &format!("/containers/{id}/attach?{}", query(&pairs)),
            empty(),
        )
        .await?;
    let wait = client
        .call(
            Method::POST,
            &format!("/containers/{id}/wait?condition=next-exit"),
            empty(),
            &[],
        )
        .await?;
    start_container(&client, &id).await?;
    let session = Session {
        tty,
        stdin: args.interactive,
        detach_keys: keys,
        resize: Some(format!("/containers/{id}")),
        sig_proxy: (!tty).then(|| id.clone()),
    };
    if drive(&client, upgraded, session).await? == Ended::Detached {
        return Ok(0);
    }
    exit_status(&client.collect(wait).await?)
}

pub async fn attach(clients: &Clients, args: AttachArgs) -> Outcome {
    let keys = detach_keys(args.detach_keys.as_deref())?;
    let (client, name) = clients.locate(&args.container).await?;
    let container: Value = client.get_json(&format!("/containers/{name}/json")).await?;
    if !container["State"]["Running"].as_bool().unwrap_or(false) {
        return Err(Failure::new(
            1,
            "You cannot attach to a stopped container, start it first",
        ));
    }
    let id = container["Id"].as_str().unwrap_or(&name).to_string();
    let tty = container["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !args.no_stdin && container["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let mut pairs = vec![
        ("stream", "1".to_string()),
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
    ];
    if stdin {
        pairs.push(("stdin", "1".to_string()));
    }
    let upgraded = client
        .hijack(
            &format!("/containers/{id}/attach?{}", query(&pairs)),
            empty(),
        )
        .await?;
    let session = Session {
        tty,
        stdin,
        detach_keys: keys,
        resize: Some(format!("/containers/{id}")),
        sig_proxy: (args.sig_proxy && !tty).then(|| id.clone()),
    };
    if drive(&client, upgraded, session).await? == Ended::Detached {
        return Ok(0);
    }
    let inspect: Value = client.get_json(&format!("/containers/{id}/json")).await?;
    Ok(u8::try_from(
        inspect["State"]["ExitCode"]
            .as_i64()
            .unwrap_or(0)
            .rem_euclid(256),
    )
    .unwrap_or(0))
}

pub async fn exec(clients: &Clients, args: ExecArgs) -> Outcome {
    let (reference, command) = args
        .container_and_command
        .split_first()
        .ok_or_else(|| Failure::new(125, "\"exec\" requires at least 2 arguments"))?;
    let keys = detach_keys(args.detach_keys.as_deref())?;
    let (client, name) = clients.locate(reference).await?;
    let mut body = json!({
        "AttachStdin": args.interactive && !args.detach,
        "AttachStdout": !args.detach,
        "AttachStderr": !args.detach,
        "Tty": args.tty,
        "Env": args.env,
        "Cmd": command,
        "Privileged": args.privileged,
    });
    if let Some(w) = &args.workdir {
        body["WorkingDir"] = json!(w);
    }
    if let Some(u) = &args.user {
        body["User"] = json!(u);
    }
    let created: Value = client
        .send_json(Method::POST, &format!("/containers/{name}/exec"), &body)
        .await
        .map_err(exec_failure)?;
    let exec_id = created["Id"].as_str().unwrap_or_default().to_string();
    let start = json!({"Detach": args.detach, "Tty": args.tty});
    if args.detach {
        client
            .call(
                Method::POST,
                &format!("/exec/{exec_id}/start"),
                json_body(&start),
                &json_header(),
            )
            .await
            .map_err(exec_failure)?;
        return Ok(0);
    }
    let upgraded = client
        .hijack(&format!("/exec/{exec_id}/start"), json_body(&start))
        .await
        .map_err(exec_failure)?;
    let session = Session {
        tty: args.tty,
        stdin: args.interactive,
        detach_keys: keys,
        resize: Some(format!("/exec/{exec_id}")),
        sig_proxy: None,
    };
    if drive(&client, upgraded, session).await? == Ended::Detached {
        return Ok(0);
    }
    let inspect: Value = client.get_json(&format!("/exec/{exec_id}/json")).await?;
    Ok(u8::try_from(inspect["ExitCode"].as_i64().unwrap_or(0).rem_euclid(256)).unwrap_or(126))
}

/// An exec that could not be made or started exits 126/127 like a run, else 1.
fn exec_failure(e: ClientError) -> Failure {
    let failure = run_failure(e);
    match failure.code {
        125 => Failure { code: 1, ..failure },
        _ => failure,
    }
}

/// In-process, the engine's AutoRemove watcher is a thread of this process, which is about
/// to exit with the container still running: a helper process takes the removal over.
fn hand_over_removal(client: &Client, id: &str) {
    if let berth_client::transport::Transport::InProcess(local) = client.transport() {
        if let Err(e) = local.spawn_helper(berth_client::inprocess::AUTOREMOVE_HELPER, id) {
            eprintln!("WARNING: {id} will not be removed when it exits: {e}");
        }
    }
}

/// `__autoremove ID`: waits for the container to stop, then removes it as the engine's
/// AutoRemove does (forced: its teardown may still be finishing), retrying while busy.
pub async fn autoremove(clients: &Clients, id: &str) -> Outcome {
    let client = clients.first();
    let wait = format!("/containers/{id}/wait?condition=not-running");
    match client
        .send_json::<Value>(Method::POST, &wait, &Value::Null)
        .await
    {
        Ok(_) => {}
        Err(ClientError::Daemon { status: 404, .. }) => return Ok(0),
        Err(e) => return Err(e.into()),
    }
    let started = std::time::Instant::now();
    loop {
        match client
            .send(Method::DELETE, &format!("/containers/{id}?force=1"))
            .await
        {
            Ok(_) | Err(ClientError::Daemon { status: 404, .. }) => return Ok(0),
            Err(e) if started.elapsed() > std::time::Duration::from_secs(30) => {
                return Err(e.into())
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}
