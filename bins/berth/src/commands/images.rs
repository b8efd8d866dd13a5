//! Image commands: images, rmi, tag, load, save, history, pull, push.

use std::io::{IsTerminal, Write};

use berth_client::http::{empty, query, reader_body};
use berth_client::multi::Clients;
use berth_client::progress::{follow, Display};
use berth_client::views::{
    headers_for, human_size, image_rows, IMAGES_DIGESTS_TABLE, IMAGES_TABLE,
};
use hyper::Method;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::cli::{HistoryArgs, ImagesArgs, LoadArgs, PullArgs, RmiArgs, SaveArgs};
use crate::exit::{Failure, Outcome};

pub async fn images(clients: &Clients, args: ImagesArgs) -> Outcome {
    let mut table = if args.digests {
        IMAGES_DIGESTS_TABLE
    } else {
        IMAGES_TABLE
    }
    .to_string();
    if clients.several() {
        table = format!("{{{{.Host}}}}\t{table}");
    }
    let format_text = if args.quiet {
        Some("{{.ID}}")
    } else {
        args.format.as_deref()
    };
    let format = super::format(format_text, &table)?;
    let mut filters = args.filters.clone();
    if let Some(reference) = &args.reference {
        filters.push(format!("reference={reference}"));
    }
    let mut pairs = vec![("all", args.all.to_string())];
    if !filters.is_empty() {
        pairs.push(("filters", super::filters_json(&filters)));
    }
    let path = format!("/images/json?{}", query(&pairs));
    let (mut rows, failed) = clients
        .rows(&path, |list: Vec<Value>, host| {
            list.iter()
                .flat_map(|image| image_rows(image, args.no_trunc, host))
                .collect()
        })
        .await;
    if args.quiet {
        // One line per image, not per tag.
        rows.dedup_by(|a, b| a["ID"] == b["ID"] && a.get("Host") == b.get("Host"));
    }
    // No daemon answered: only the errors, as docker prints for its one daemon.
    if failed.len() < clients.0.len() {
        print!("{}", format.render_rows(&rows, &headers_for("image"))?);
    }
    Ok(super::report_failures(clients, &failed))
}

pub async fn rmi(clients: &Clients, args: RmiArgs) -> Outcome {
    let client = clients.first();
    let q = query(&[
        ("force", args.force.to_string()),
        ("noprune", args.no_prune.to_string()),
    ]);
    let mut code = 0;
    for image in &args.images {
        let answer: Result<Vec<Value>, _> = client
            .send_json(
                Method::DELETE,
                &format!("/images/{image}?{q}"),
                &Value::Null,
            )
            .await;
        match answer {
            Ok(items) => {
                for item in items {
                    if let Some(t) = item["Untagged"].as_str() {
                        println!("Untagged: {t}");
                    }
                    if let Some(d) = item["Deleted"].as_str() {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

pub async fn tag(clients: &Clients, source: &str, target: &str) -> Outcome {
    let (repo, tag) = berth_image::reference::repository_and_tag(target);
    let q = query(&[("repo", repo.to_string()), ("tag", tag.to_string())]);
    clients
        .first()
        .send(Method::POST, &format!("/images/{source}/tag?{q}"))
        .await?;
    Ok(0)
}

pub async fn load(clients: &Clients, args: LoadArgs) -> Outcome {
    let body = match &args.input {
        Some(path) => {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| Failure::new(1, format!("open {}: {e}", path.display())))?;
            reader_body(file)
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::new(
                    1,
                    "requested load from stdin, but stdin is empty",
                ));
            }
            reader_body(tokio::io::stdin())
        }
    };
    let q = query(&[("quiet", if args.quiet { "1" } else { "0" }.to_string())]);
    let response = clients
        .first()
        .call(
            Method::POST,
            &format!("/images/load?{q}"),
            body,
            &[("content-type", "application/x-tar".to_string())],
        )
        .await?;
    let mut display = Display::new(std::io::stdout(), std::io::stdout().is_terminal());
    follow(response.into_body(), &mut display).await?;
    Ok(0)
}

pub async fn save(clients: &Clients, args: SaveArgs) -> Outcome {
    let names: Vec<(&str, String)> = args.images.iter().map(|n| ("names", n.clone())).collect();
    let out_is_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    if out_is_terminal {
        return Err(Failure::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let response = clients
        .first()
        .call(
            Method::GET,
            &format!("/images/get?{}", query(&names)),
            empty(),
            &[],
        )
        .await?;
    let mut reader = berth_client::http::body_reader(response);
    let io_failure = |e: std::io::Error| Failure::new(1, format!("save: {e}"));
    match &args.output {
        Some(path) => {
            let mut file = tokio::fs::File::create(path)
                .await
                .map_err(|e| Failure::new(1, format!("{}: {e}", path.display())))?;
            tokio::io::copy(&mut reader, &mut file)
                .await
                .map_err(io_failure)?;
            file.flush().await.map_err(io_failure)?;
        }
        None => {
            let mut out = tokio::io::stdout();
            tokio::io::copy(&mut reader, &mut out)
                .await
                .map_err(io_failure)?;
            out.flush().await.map_err(io_failure)?;
        }
    }
    Ok(0)
}

pub async fn history(clients: &Clients, args: HistoryArgs) -> Outcome {
    let table = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    let format_text = if args.quiet {
        Some("{{.ID}}")
    } else {
        args.format.as_deref()
    };
    let format = super::format(format_text, table)?;
    let layers: Vec<Value> = clients
        .first()
        .get_json(&format!("/images/{}/history", args.image))
        .await?;
    let rows: Vec<Value> = layers
        .iter()
        .map(|l| {
            let id = l["Id"].as_str().unwrap_or("<missing>");
            let id = if args.no_trunc || id == "<missing>" {
                id.to_string()
            } else {
                let hex = id.trim_start_matches("sha256:");
                hex[..hex.len().min(12)].to_string()
            };
            let created_by = l["CreatedBy"].as_str().unwrap_or_default();
            let created_by = if args.no_trunc {
                created_by.to_string()
            } else {
                berth_common::human::ellipsis(created_by, 45)
            };
            let size = l["Size"].as_f64().unwrap_or(0.0);
            let created = l["Created"].as_i64().unwrap_or(0);
            let since = std::time::SystemTime::now()
                .duration_since(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(created.max(0) as u64),
                )
                .unwrap_or_default();
            json!({
                "ID": id,
                "CreatedSince": format!("{} ago", berth_common::human::duration(since)),
                "CreatedBy": created_by,
                "Size": if args.human { human_size(size) } else { (size as u64).to_string() },
                "Comment": l["Comment"],
            })
        })
        .collect();
    let mut headers = headers_for("image");
    headers.extend([("CreatedBy", "CREATED BY"), ("Comment", "COMMENT")]);
    print!("{}", format.render_rows(&rows, &headers)?);
    Ok(0)
}

pub async fn pull(clients: &Clients, args: PullArgs) -> Outcome {
    super::run::pull_image(clients.first(), &args.name, args.quiet, false).await?;
    if args.quiet {
        println!("{}", args.name);
    }
    Ok(0)
}

pub async fn push(clients: &Clients, args: PullArgs) -> Outcome {
    let (name, tag) = berth_image::reference::repository_and_tag(&args.name);
    let auth = (
        "x-registry-auth",
        super::registry_auth::header_for(&args.name),
    );
    let response = clients
        .first()
        .call(
            Method::POST,
            &format!("/images/{name}/push?{}", query(&[("tag", tag.to_string())])),
            empty(),
            &[auth],
        )
        .await?;
    let terminal = std::io::stdout().is_terminal() && !args.quiet;
    let mut display = Display::new(std::io::stdout(), terminal);
    follow(response.into_body(), &mut display).await?;
    let _ = std::io::stdout().flush();
    Ok(0)
}
