//! A pull's progress through berthd: the raw stream has dockerd's shape (per layer
//! `Pulling fs layer`, `Downloading` with `progressDetail{current,total}`, `Verifying
//! Checksum`, `Download complete`, `Extracting`, `Pull complete`; then `Digest:` and
//! `Status:`), and the docker CLI and the berth client draw their lines from it. A pull
//! whose API client goes away stops, and leaves nothing behind.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_tests::client::{berth_local, ok};
use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::formats::OCI_MANIFEST;
use berth_tests::image::busybox_entries;
use berth_tests::registry::{Answer, TinyServer};
use berth_tests::tiny_http::TRICKLE;
use berth_tests::{BuiltImage, Compression, Entry, ImageSpec, Layer};
use serde_json::Value;

/// A registry serving `image` as `x:1`; the blob `slow` (if any) comes 64 KiB at a time.
/// `asked` is set once a layer blob is requested.
fn serve(image: &BuiltImage, slow: Option<String>, asked: Arc<AtomicBool>) -> TinyServer {
    let manifest = image.manifest.clone();
    let mut blobs: Vec<(String, Vec<u8>)> = image
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.blob.clone()))
        .collect();
    let config = image.config_digest.clone();
    blobs.push((config.clone(), image.config.clone()));
    TinyServer::start(move |_method, path, _headers| -> Answer {
        if path == "/v2/" {
            return (200, vec![], b"{}".to_vec());
        }
        if path == "/v2/x/manifests/1" {
            let kind = vec![("Content-Type".to_string(), OCI_MANIFEST.to_string())];
            return (200, kind, manifest.clone());
        }
        for (digest, bytes) in &blobs {
            if path == format!("/v2/x/blobs/{digest}") {
                if *digest != config {
                    asked.store(true, Ordering::SeqCst);
                }
                let mut headers = vec![];
                if slow.as_deref() == Some(digest.as_str()) {
                    headers.push((TRICKLE.to_string(), (64 << 10).to_string()));
                }
                return (200, headers, bytes.clone());
            }
        }
        (
            404,
            vec![],
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#.to_vec(),
        )
    })
}

fn image() -> BuiltImage {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::Gzip),
        Layer::new(vec![
            Entry::dir("etc"),
            Entry::file("etc/motd", "progress\n"),
        ])
        .compressed(Compression::Zstd),
    ])
    .build()
}

/// `POST /images/create` on the daemon's socket; the connection, its head read.
fn start_pull(daemon: &Daemon, host: &str) -> BufReader<UnixStream> {
    let stream = UnixStream::connect(&daemon.socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "POST /images/create?fromImage={host}/x&tag=1 HTTP/1.0\r\nHost: berth\r\n\
         Content-Length: 0\r\n\r\n"
    );
    (&stream).write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains(" 200 "), "{line}");
    while line.trim() != "" {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    reader
}

fn short(digest: &str) -> &str {
    &digest["sha256:".len()..][..12]
}

#[test]
fn the_progress_stream_is_dockerds_and_both_clients_draw_it() {
    let built = image();
    let server = serve(&built, None, Arc::default());
    let host = server.host();
    let name = format!("{host}/x:1");
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);

    let mut reader = start_pull(&daemon, &host);
    let mut messages: Vec<Value> = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if !line.trim().is_empty() {
            messages.push(serde_json::from_str(line.trim()).unwrap());
        }
        line.clear();
    }
    assert_eq!(
        messages[0],
        serde_json::json!({"status": "Pulling from x", "id": "1"})
    );
    for layer in &built.layers {
        let id = short(&layer.digest);
        let of_layer: Vec<&Value> = messages.iter().filter(|m| m["id"] == id).collect();
        let states: Vec<&str> = of_layer
            .iter()
            .map(|m| m["status"].as_str().unwrap())
            .filter(|s| *s != "Downloading")
            .collect();
        assert_eq!(
            states,
            [
                "Pulling fs layer",
                "Verifying Checksum",
                "Download complete",
                "Extracting",
                "Pull complete"
            ],
            "{of_layer:?}"
        );
        let size = layer.blob.len() as u64;
        let downloading = of_layer
            .iter()
            .rfind(|m| m["status"] == "Downloading")
            .expect("a Downloading message");
        assert_eq!(
            downloading["progressDetail"],
            serde_json::json!({"current": size, "total": size})
        );
        assert!(downloading["progress"].as_str().unwrap().starts_with("[="));
        assert!(of_layer
            .iter()
            .filter(|m| m["status"] != "Downloading" && m["status"] != "Extracting")
            .all(|m| m["progressDetail"] == serde_json::json!({})));
    }
    let tail: Vec<&str> = messages[messages.len() - 2..]
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        tail,
        [
            format!("Digest: {}", built.manifest_digest),
            format!("Status: Downloaded newer image for {name}")
        ]
    );

    // The docker CLI, not on a terminal, prints the state lines of the same stream.
    daemon.docker_ok(["rmi", &name]);
    let pulled = daemon.docker_ok(["pull", &name]);
    for layer in &built.layers {
        for state in ["Pulling fs layer", "Download complete", "Pull complete"] {
            let want = format!("{}: {state}", short(&layer.digest));
            assert!(pulled.lines().any(|l| l == want), "{want}: {pulled}");
        }
    }
    assert!(pulled.contains(&format!("Digest: {}", built.manifest_digest)));

    // The berth client draws the same lines from the same messages.
    daemon.docker_ok(["rmi", &name]);
    drop(daemon);
    let pulled = ok(berth_local(&sandbox, ["pull", &name]));
    let first = short(&built.layers[0].digest);
    for want in [
        "1: Pulling from x".to_string(),
        format!("{first}: Verifying Checksum"),
        format!("{first}: Pull complete"),
        format!("Status: Downloaded newer image for {name}"),
    ] {
        assert!(pulled.lines().any(|l| l == want), "{want}: {pulled}");
    }
}

#[test]
fn a_pull_whose_client_goes_away_stops_and_leaves_nothing() {
    // A layer of 2 MiB that does not compress, sent 64 KiB per 50 ms (about 1.6 s).
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..2 << 20)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let built = ImageSpec::new(vec![
        Layer::new(vec![Entry::file("noise", &noise)]).compressed(Compression::Gzip)
    ])
    .build();
    let asked = Arc::new(AtomicBool::new(false));
    let slow = built.layers[0].digest.clone();
    let server = serve(&built, Some(slow), asked.clone());
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);

    let mut reader = start_pull(&daemon, &server.host());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("Pulling from x"), "{line}");
    berth_tests::wait_for("the layer to be asked for", || asked.load(Ordering::SeqCst));
    // docker's Ctrl-C: the connection closes mid-pull.
    drop(reader);

    // berthd stops reading the blob: the registry's write of it fails.
    berth_tests::wait_for("the download to be dropped", || {
        server.broken_writes.load(Ordering::SeqCst) > 0
    });
    berth_tests::wait_for("the pull's leftovers to be tidied", || {
        sandbox.store.tmp_entries().is_empty() && sandbox.store.layer_entries().is_empty()
    });
    assert!(daemon.docker_ok(["images", "-q"]).trim().is_empty());
    assert!(
        sandbox.store.blobs().is_empty(),
        "{:?}",
        sandbox.store.blobs()
    );
}
