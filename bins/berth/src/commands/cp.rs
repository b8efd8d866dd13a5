//! `cp` over the archive endpoints: out of a container, into one, and between two (on one
//! daemon or two), which docker refuses.

use std::path::{Path, PathBuf};

use berth_client::http::{body_reader, empty, query};
use berth_client::multi::Clients;
use berth_client::Client;
use berth_image::extract::{extract_into, ExtractOptions};
use hyper::Method;
use tokio::io::AsyncWriteExt;

use super::files::io_failure;
use crate::exit::{Failure, Outcome};

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
        (Some((from, from_path)), Some((to, to_path))) => {
            copy_between(clients, (from, from_path), (to, to_path), follow_link).await
        }
        (None, None) => Err(Failure::new(
            1,
            "must specify at least one container source",
        )),
    }
}

/// `GET /containers/{name}/archive`: the tar of `path` (its own name at the top), as it
/// comes.
async fn archive_stream(
    client: &Client,
    name: &str,
    path: &str,
    follow_link: bool,
) -> Result<impl tokio::io::AsyncRead + Unpin, Failure> {
    let path = if follow_link && !path.ends_with('/') {
        format!("{path}/.")
    } else {
        path.to_string()
    };
    let response = client
        .call(
            Method::GET,
            &format!("/containers/{name}/archive?{}", query(&[("path", path)])),
            empty(),
            &[],
        )
        .await?;
    Ok(body_reader(response))
}

/// [`archive_stream`], whole.
async fn get_archive(
    client: &Client,
    name: &str,
    path: &str,
    follow_link: bool,
) -> Result<Vec<u8>, Failure> {
    let mut tar = Vec::new();
    let mut stream = archive_stream(client, name, path, follow_link).await?;
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut tar)
        .await
        .map_err(io_failure("cp"))?;
    Ok(tar)
}

/// Where an archive whose top entry is `source_name` goes for a destination `path` in a
/// container: into `path` under its own name when `path` is a directory there, else into
/// `path`'s parent as `path`'s last name. (directory, name).
async fn destination(
    client: &Client,
    name: &str,
    path: &str,
    source_name: &str,
) -> Result<(String, String), Failure> {
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
    if is_dir {
        return Ok((path.to_string(), source_name.to_string()));
    }
    let p = Path::new(path);
    Ok((
        p.parent()
            .map(|d| d.display().to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".into()),
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    ))
}

/// `PUT /containers/{name}/archive?path=DIR`: unpacks `tar` into `dir`.
async fn put_archive(
    client: &Client,
    name: &str,
    dir: String,
    tar: Vec<u8>,
) -> Result<(), Failure> {
    let body = http_body_util::BodyExt::boxed(http_body_util::BodyExt::map_err(
        http_body_util::Full::new(bytes_of(tar)),
        |never| match never {},
    ));
    client
        .call(
            Method::PUT,
            &format!("/containers/{name}/archive?{}", query(&[("path", dir)])),
            body,
            &[("content-type", "application/x-tar".to_string())],
        )
        .await?;
    Ok(())
}

/// `cp A:PATH B:PATH`, which docker refuses: the source's archive, its top entry renamed
/// to the destination's name, put into the other container (on the same daemon or
/// another: `HOST/NAME`).
async fn copy_between(
    clients: &Clients,
    (from, from_path): (&str, &str),
    (to, to_path): (&str, &str),
    follow_link: bool,
) -> Outcome {
    let (source, source_id) = clients.locate(from).await?;
    let (target, target_id) = clients.locate(to).await?;
    let tar = get_archive(&source, &source_id, from_path, follow_link).await?;
    let top = tokio::task::spawn_blocking({
        let tar = tar.clone();
        move || top_name(&tar)
    });
    let top = top
        .await
        .map_err(|e| Failure::new(1, format!("cp: {e}")))??;
    let (dir, entry_name) = destination(&target, &target_id, to_path, &top).await?;
    let tar = if entry_name == top {
        tar
    } else {
        tokio::task::spawn_blocking(move || rename_top(&tar, &top, &entry_name))
            .await
            .map_err(|e| Failure::new(1, format!("cp: {e}")))??
    };
    put_archive(&target, &target_id, dir, tar).await?;
    Ok(0)
}

/// The first component of the archive's first entry: the name of the path it holds.
fn top_name(tar: &[u8]) -> Result<String, Failure> {
    let fail = io_failure("cp: the container's archive");
    let mut archive = tar::Archive::new(tar);
    let first = archive
        .entries()
        .map_err(&fail)?
        .next()
        .ok_or_else(|| Failure::new(1, "cp: the container sent an empty archive"))?
        .map_err(&fail)?;
    let path = first.path().map_err(&fail)?.into_owned();
    let top = path
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    top.ok_or_else(|| Failure::new(1, "cp: the container's archive has an unnamed entry"))
}

/// The archive with its top entry `old` called `new` (paths below it and hard links to
/// them too), everything else as it was.
fn rename_top(tar: &[u8], old: &str, new: &str) -> Result<Vec<u8>, Failure> {
    let fail = io_failure("cp: the container's archive");
    let rename = |path: &Path| match path.strip_prefix(old) {
        Ok(rest) if rest.as_os_str().is_empty() => PathBuf::from(new),
        Ok(rest) => Path::new(new).join(rest),
        Err(_) => path.to_path_buf(),
    };
    let mut out = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(&fail)? {
        let mut entry = entry.map_err(&fail)?;
        let path = rename(&entry.path().map_err(&fail)?);
        let mut header = entry.header().clone();
        let kind = header.entry_type();
        match entry.link_name().map_err(&fail)? {
            Some(target) if kind.is_hard_link() || kind.is_symlink() => {
                // A symlink's target is the link's own business; a hard link names an entry.
                let target = if kind.is_hard_link() {
                    rename(&target)
                } else {
                    target.into_owned()
                };
                out.append_link(&mut header, &path, &target)
                    .map_err(&fail)?;
            }
            _ => out
                .append_data(&mut header, &path, &mut entry)
                .map_err(&fail)?,
        }
    }
    out.into_inner().map_err(&fail)
}

async fn copy_out(
    clients: &Clients,
    container: &str,
    path: &str,
    dest: &str,
    follow_link: bool,
) -> Outcome {
    let (client, name) = clients.locate(container).await?;
    if dest == "-" {
        let mut stream = archive_stream(&client, &name, path, follow_link).await?;
        let mut out = tokio::io::stdout();
        tokio::io::copy(&mut stream, &mut out)
            .await
            .map_err(io_failure("cp"))?;
        out.flush().await.map_err(io_failure("cp"))?;
        return Ok(0);
    }
    let tar = get_archive(&client, &name, path, follow_link).await?;
    let dest = PathBuf::from(dest);
    tokio::task::spawn_blocking(move || extract(&tar, &dest))
        .await
        .map_err(|e| Failure::new(1, format!("cp: {e}")))??;
    Ok(0)
}

/// Unpacks the archive of one path: into `dest` when it is a directory, else as `dest`.
fn extract(tar: &[u8], dest: &Path) -> Result<(), Failure> {
    let unpack = |into: &Path| {
        let options = ExtractOptions {
            devices: true,
            ..ExtractOptions::untrusted()
        };
        extract_into(into, &mut &tar[..], options)
            .map_err(|e| Failure::new(1, format!("cp: {}: {e}", dest.display())))
    };
    if dest.is_dir() {
        return unpack(dest);
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = tempfile_in(parent)?;
    let result = unpack(&staging).and_then(|()| {
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
    let own_name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (target_dir, entry_name) = destination(&client, &name, path, &own_name).await?;
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
    put_archive(&client, &name, target_dir, tar).await?;
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

    #[test]
    fn the_top_entry_is_renamed_with_what_is_below_it_and_hard_links_to_it() {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o750);
        dir.set_size(0);
        b.append_data(&mut dir, "src", std::io::empty()).unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_mode(0o640);
        file.set_size(3);
        b.append_data(&mut file, "src/f", &b"abc"[..]).unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Link);
        link.set_mode(0o640);
        link.set_size(0);
        b.append_link(&mut link, "src/hard", "src/f").unwrap();
        let mut sym = tar::Header::new_gnu();
        sym.set_entry_type(tar::EntryType::Symlink);
        sym.set_mode(0o777);
        sym.set_size(0);
        b.append_link(&mut sym, "src/sym", "src/f").unwrap();
        let tar = b.into_inner().unwrap();
        assert_eq!(top_name(&tar).unwrap(), "src");

        let renamed = rename_top(&tar, "src", "dest").unwrap();
        let mut archive = tar::Archive::new(&renamed[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            let mode = entry.header().mode().unwrap();
            let mut data = String::new();
            std::io::Read::read_to_string(&mut entry, &mut data).unwrap();
            seen.push((path, link, mode, data));
        }
        let s = |x: &str| x.to_string();
        assert_eq!(seen[0].0.trim_end_matches('/'), "dest");
        assert_eq!(seen[0].2, 0o750);
        assert_eq!(seen[1], (s("dest/f"), None, 0o640, s("abc")));
        assert_eq!(seen[2].0, "dest/hard");
        assert_eq!(
            seen[2].1.as_deref(),
            Some("dest/f"),
            "a hard link names the renamed entry"
        );
        assert_eq!(
            seen[3].1.as_deref(),
            Some("src/f"),
            "a symlink's target is left alone"
        );
    }
}
