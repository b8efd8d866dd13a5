//! Commands that move files and trees: cp (both ways, over the archive endpoints), export,
//! import, and build (the context sent as a tar).

use std::path::{Path, PathBuf};

use berth_client::http::{body_reader, empty, query, reader_body};
use berth_client::multi::Clients;
use berth_client::progress::{follow, Display};
use hyper::Method;
use tokio::io::AsyncWriteExt;

use crate::cli::{BuildArgs, ImportArgs};
use crate::exit::{Failure, Outcome};

fn io_failure(what: impl std::fmt::Display) -> impl Fn(std::io::Error) -> Failure {
    move |e| Failure::new(1, format!("{what}: {e}"))
}

/// `CONTAINER:PATH` (a container reference may itself be `HOST/NAME`), or a local path.
fn container_path(spec: &str) -> Option<(&str, &str)> {
    if spec.starts_with('/') || spec.starts_with('.') {
        return None;
    }
    // docker's rule: a colon after a slash is a local file's name.
    spec.split_once(':')
        .filter(|(c, _)| !c.is_empty() && !c.contains('/'))
}

pub async fn cp(clients: &Clients, source: &str, destination: &str, follow_link: bool) -> Outcome {
    match (container_path(source), container_path(destination)) {
        (Some((container, path)), None) => {
            copy_out(clients, container, path, destination, follow_link).await
        }
        (None, Some((container, path))) => copy_in(clients, source, container, path).await,
        _ => Err(Failure::new(
            1,
            "copying between containers is not supported; one side must be a local path",
        )),
    }
}

async fn copy_out(
    clients: &Clients,
    container: &str,
    path: &str,
    dest: &str,
    follow_link: bool,
) -> Outcome {
    let (client, name) = clients.locate(container).await?;
    let path = if follow_link && !path.ends_with('/') {
        format!("{path}/.")
    } else {
        path.to_string()
    };
    let response = client
        .call(
            Method::GET,
            &format!(
                "/containers/{name}/archive?{}",
                query(&[("path", path.clone())])
            ),
            empty(),
            &[],
        )
        .await?;
    let mut reader = body_reader(response);
    if dest == "-" {
        let mut out = tokio::io::stdout();
        tokio::io::copy(&mut reader, &mut out)
            .await
            .map_err(io_failure("cp"))?;
        out.flush().await.map_err(io_failure("cp"))?;
        return Ok(0);
    }
    let mut tar = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut tar)
        .await
        .map_err(io_failure("cp"))?;
    let dest = PathBuf::from(dest);
    tokio::task::spawn_blocking(move || extract(&tar, &dest))
        .await
        .map_err(|e| Failure::new(1, format!("cp: {e}")))??;
    Ok(0)
}

/// Unpacks the archive of one path: into `dest` when it is a directory, else as `dest`.
fn extract(tar: &[u8], dest: &Path) -> Result<(), Failure> {
    if dest.is_dir() {
        return tar::Archive::new(tar)
            .unpack(dest)
            .map_err(io_failure(dest.display()));
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = tempfile_in(parent)?;
    let unpacked = tar::Archive::new(tar)
        .unpack(&staging)
        .map_err(io_failure(dest.display()));
    let result = unpacked.and_then(|()| {
        let top = std::fs::read_dir(&staging)
            .map_err(io_failure(staging.display()))?
            .flatten()
            .next()
            .ok_or_else(|| Failure::new(1, "cp: the container sent an empty archive"))?;
        std::fs::rename(top.path(), dest).map_err(io_failure(dest.display()))
    });
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn tempfile_in(dir: &Path) -> Result<PathBuf, Failure> {
    let path = dir.join(format!(".berth-cp-{}", std::process::id()));
    std::fs::create_dir(&path).map_err(io_failure(path.display()))?;
    Ok(path)
}

async fn copy_in(clients: &Clients, source: &str, container: &str, path: &str) -> Outcome {
    let (client, name) = clients.locate(container).await?;
    let src = PathBuf::from(source);
    // Into an existing directory as its own name; else as the destination's last name.
    let stat = client
        .raw(
            Method::HEAD,
            &format!(
                "/v{}/containers/{name}/archive?{}",
                client.version().await?,
                query(&[("path", path.to_string())])
            ),
            empty(),
            &[],
        )
        .await?;
    let is_dir = stat
        .headers()
        .get("x-docker-container-path-stat")
        .and_then(|v| v.to_str().ok())
        .and_then(decode_base64)
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|v| v["mode"].as_u64())
        .is_some_and(|mode| mode & (1 << 31) != 0);
    let (target_dir, entry_name) = if is_dir {
        (
            path.to_string(),
            src.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    } else {
        let p = Path::new(path);
        (
            p.parent()
                .map(|d| d.display().to_string())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "/".into()),
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
    };
    let tar = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        if src.is_dir() {
            builder.append_dir_all(&entry_name, &src)?;
        } else {
            builder.append_path_with_name(&src, &entry_name)?;
        }
        builder.into_inner()
    })
    .await
    .map_err(|e| Failure::new(1, format!("cp: {e}")))?
    .map_err(io_failure(source))?;
    let body = http_body_util::BodyExt::boxed(http_body_util::BodyExt::map_err(
        http_body_util::Full::new(bytes_of(tar)),
        |never| match never {},
    ));
    client
        .call(
            Method::PUT,
            &format!(
                "/containers/{name}/archive?{}",
                query(&[("path", target_dir)])
            ),
            body,
            &[("content-type", "application/x-tar".to_string())],
        )
        .await?;
    Ok(0)
}

fn bytes_of(v: Vec<u8>) -> hyper::body::Bytes {
    hyper::body::Bytes::from(v)
}

/// The path-stat header: standard base64 of JSON, as dockerd writes it.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
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
        http_body_util::Full::new(bytes_of(tar)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_and_base64() {
        assert_eq!(
            container_path("web:/etc/hosts"),
            Some(("web", "/etc/hosts"))
        );
        assert_eq!(container_path("./local:file"), None);
        assert_eq!(container_path("/abs"), None);
        assert_eq!(decode_base64("eyJtb2RlIjoxfQ==").unwrap(), br#"{"mode":1}"#);
    }
}
