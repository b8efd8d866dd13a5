//! Commands that move trees: export, import, and build (the context sent as a tar); cp is
//! in cp.rs.

use std::path::Path;

use berth_client::http::{body_reader, empty, query, reader_body};
use berth_client::multi::Clients;
use berth_client::progress::{follow, Display};
use hyper::Method;
use tokio::io::AsyncWriteExt;

use crate::cli::{BuildArgs, ImportArgs};
use crate::exit::{Failure, Outcome};

pub(super) fn io_failure(what: impl std::fmt::Display) -> impl Fn(std::io::Error) -> Failure {
    move |e| Failure::new(1, format!("{what}: {e}"))
}

pub async fn export(clients: &Clients, container: &str, output: Option<&Path>) -> Outcome {
    use std::io::IsTerminal;
    if output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let (client, name) = clients.locate(container).await?;
    let response = client
        .call(
            Method::GET,
            &format!("/containers/{name}/export"),
            empty(),
            &[],
        )
        .await?;
    let mut reader = body_reader(response);
    match output {
        Some(path) => {
            let mut file = tokio::fs::File::create(path)
                .await
                .map_err(io_failure(path.display()))?;
            tokio::io::copy(&mut reader, &mut file)
                .await
                .map_err(io_failure(path.display()))?;
        }
        None => {
            let mut out = tokio::io::stdout();
            tokio::io::copy(&mut reader, &mut out)
                .await
                .map_err(io_failure("export"))?;
            out.flush().await.map_err(io_failure("export"))?;
        }
    }
    Ok(0)
}

pub async fn import(clients: &Clients, args: ImportArgs) -> Outcome {
    let mut pairs = vec![("fromSrc", "-".to_string())];
    if let Some(r) = &args.reference {
        let (repo, tag) = berth_image::reference::repository_and_tag(r);
        pairs.push(("repo", repo.to_string()));
        pairs.push(("tag", tag.to_string()));
    }
    if let Some(m) = &args.message {
        pairs.push(("message", m.clone()));
    }
    for c in &args.changes {
        pairs.push(("changes", c.clone()));
    }
    let body = if args.file == "-" {
        reader_body(tokio::io::stdin())
    } else {
        let file = tokio::fs::File::open(&args.file)
            .await
            .map_err(io_failure(&args.file))?;
        reader_body(file)
    };
    let response = clients
        .first()
        .call(
            Method::POST,
            &format!("/images/create?{}", query(&pairs)),
            body,
            &[("content-type", "application/x-tar".to_string())],
        )
        .await?;
    let mut display = Display::new(std::io::stdout(), false);
    follow(response.into_body(), &mut display).await?;
    Ok(0)
}

pub async fn build(clients: &Clients, args: BuildArgs) -> Outcome {
    let context = args.context.clone();
    let tar = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        builder.append_dir_all(".", &context)?;
        builder.into_inner()
    })
    .await
    .map_err(|e| Failure::new(1, format!("build: {e}")))?
    .map_err(io_failure(args.context.display()))?;
    let mut pairs: Vec<(&str, String)> = args.tags.iter().map(|t| ("t", t.clone())).collect();
    if let Some(f) = &args.file {
        pairs.push(("dockerfile", f.clone()));
    }
    if args.no_cache {
        pairs.push(("nocache", "1".into()));
    }
    if args.quiet {
        pairs.push(("q", "1".into()));
    }
    if let Some(t) = &args.target {
        pairs.push(("target", t.clone()));
    }
    let kv = |list: &[String]| -> String {
        let map: serde_json::Map<String, serde_json::Value> = list
            .iter()
            .map(|a| {
                let (k, v) = a.split_once('=').unwrap_or((a, ""));
                (k.to_string(), serde_json::json!(v))
            })
            .collect();
        serde_json::Value::Object(map).to_string()
    };
    if !args.build_args.is_empty() {
        pairs.push(("buildargs", kv(&args.build_args)));
    }
    if !args.labels.is_empty() {
        pairs.push(("labels", kv(&args.labels)));
    }
    let body = http_body_util::BodyExt::boxed(http_body_util::BodyExt::map_err(
        http_body_util::Full::new(hyper::body::Bytes::from(tar)),
        |never| match never {},
    ));
    let response = clients
        .first()
        .call(
            Method::POST,
            &format!("/build?{}", query(&pairs)),
            body,
            &[("content-type", "application/x-tar".to_string())],
        )
        .await?;
    use std::io::IsTerminal;
    let mut display = Display::new(std::io::stdout(), std::io::stdout().is_terminal());
    follow(response.into_body(), &mut display).await?;
    Ok(0)
}
