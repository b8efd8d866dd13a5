//! Pushes in chunks: a blob above 32 MiB goes up as PATCHes with Content-Range to the real
//! docker-registry (pulled back: the same image); a registry that asks for chunks
//! (`OCI-Chunk-Min-Length`) gets them, and a chunk that fails is resumed from what the
//! registry says it holds.

use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use berth_tests::formats::write_images;
use berth_tests::registry::{docker_config, Answer, Auth, Registry, TinyServer, PASSWORD, USER};
use berth_tests::store::describe;
use berth_tests::{digest_of, BuiltImage, Entry, Format, ImageSpec, Layer, TestStore};

/// One uncompressed layer holding `size` bytes that do not repeat in any short period.
fn big_image(size: usize) -> BuiltImage {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    ImageSpec::new(vec![Layer::new(vec![Entry::file("big", data)])]).build()
}

fn run(store: &TestStore, args: &[&str], config: &Path) -> Output {
    let out = store
        .command()
        .args(args)
        .env("DOCKER_CONFIG", config)
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "localhost,127.0.0.1")
        .output()
        .expect("spawn berth-unpack");
    assert!(out.status.success(), "{args:?}: {}", describe(&out));
    out
}

fn loaded(built: &BuiltImage, name: &str, config: &Path) -> TestStore {
    let store = TestStore::new();
    let archive = write_images(
        Format::OciDir,
        std::slice::from_ref(built),
        &store.work("image"),
    );
    store.load(&archive);
    run(&store, &["tag", &built.id(), name], config);
    store
}

#[test]
fn a_large_blob_goes_up_in_chunks_to_the_real_registry() {
    let registry = Registry::start(Auth::Htpasswd);
    let work = tempfile::tempdir().unwrap();
    let config = docker_config(
        &work.path().join("docker"),
        &registry.host(),
        USER,
        PASSWORD,
    );
    let built = big_image(34 << 20);
    let name = format!("{}/team/big:1", registry.host());
    let source = loaded(&built, &name, &config);
    let pushed = run(&source, &["push", "--json", &name], &config);
    let stderr = String::from_utf8_lossy(&pushed.stderr);
    let layer = &built.layers[0].digest["sha256:".len()..][..12];
    let pushing: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|m| m["status"] == "Pushing" && m["id"] == layer)
        .collect();
    // 34 MiB in 16 MiB chunks: three, each reported.
    assert_eq!(pushing.len(), 3, "{stderr}");
    let size = built.layers[0].blob.len() as u64;
    assert_eq!(
        pushing[2]["progressDetail"],
        serde_json::json!({"current": size, "total": size})
    );
    let patches = registry
        .log()
        .matches("PATCH /v2/team/big/blobs/uploads/")
        .count();
    assert!(patches >= 3, "{patches} PATCHes: {}", registry.log());

    let target = TestStore::new();
    let pulled = run(&target, &["pull", "-q", &name], &config);
    assert_eq!(String::from_utf8_lossy(&pulled.stdout).trim(), built.id());
}

/// What the in-test registry saw: each upload's requests and bytes, by upload number.
#[derive(Default)]
struct Seen {
    uploads: Vec<(Vec<String>, Vec<u8>)>,
    failed_once: bool,
}

#[test]
fn a_registry_that_asks_for_chunks_gets_them_and_a_failed_chunk_resumes() {
    let built = big_image(20 << 20);
    let layer = built.layers[0].digest.clone();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    let blobs = [layer.clone(), built.config_digest.clone()];
    let server = TinyServer::start_with_body(move |method, path, headers, body| -> Answer {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let close = ("Connection".to_string(), "close".to_string());
        let mut seen = state.lock().unwrap();
        let path = path.replace("%3A", ":");
        let (base, query) = path.split_once('?').unwrap_or((&path, ""));
        let upload = base
            .strip_prefix("/v2/x/blobs/uploads/")
            .and_then(|n| n.parse::<usize>().ok());
        let location = |n: usize| ("Location".to_string(), format!("/v2/x/blobs/uploads/{n}"));
        let range = |data: &[u8]| {
            (
                "Range".to_string(),
                format!("0-{}", data.len().saturating_sub(1)),
            )
        };
        match (method, base, upload) {
            ("GET", "/v2/", _) => (200, vec![close], b"{}".to_vec()),
            ("HEAD", _, _) => (404, vec![close], vec![]),
            ("POST", "/v2/x/blobs/uploads/", _) => {
                seen.uploads.push((vec!["POST".into()], vec![]));
                let n = seen.uploads.len() - 1;
                let ask = ("OCI-Chunk-Min-Length".to_string(), "1".to_string());
                (202, vec![close, location(n), ask], vec![])
            }
            ("PATCH", _, Some(n)) => {
                let content_range = header("content-range");
                let start: usize = content_range.split('-').next().unwrap().parse().unwrap();
                let fail = start > 0 && !seen.failed_once;
                seen.failed_once |= fail;
                let (requests, data) = &mut seen.uploads[n];
                requests.push(format!("PATCH {content_range}"));
                if start != data.len() {
                    return (416, vec![close, range(data)], vec![]);
                }
                if fail {
                    // Takes half the chunk, then fails.
                    data.extend_from_slice(&body[..body.len() / 2]);
                    return (500, vec![close], vec![]);
                }
                data.extend_from_slice(body);
                (202, vec![close, location(n), range(data)], vec![])
            }
            ("GET", _, Some(n)) => {
                let (requests, data) = &mut seen.uploads[n];
                requests.push("GET".into());
                (204, vec![close, location(n), range(data)], vec![])
            }
            ("PUT", _, Some(n)) => {
                let (requests, data) = &mut seen.uploads[n];
                requests.push("PUT".into());
                let digest = digest_of(data);
                let ok = blobs.contains(&digest) && query == format!("digest={digest}");
                (if ok { 201 } else { 400 }, vec![close], vec![])
            }
            ("PUT", "/v2/x/manifests/1", _) => (201, vec![close], vec![]),
            _ => (404, vec![close], vec![]),
        }
    });
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let name = format!("{}/x:1", server.host());
    let source = loaded(&built, &name, &config);
    let pushed = run(&source, &["push", &name], &config);
    assert_eq!(
        String::from_utf8_lossy(&pushed.stdout).trim(),
        format!(
            "1: digest: {} size: {}",
            built.manifest_digest,
            built.manifest.len()
        )
    );
    let seen = seen.lock().unwrap();
    let (requests, _) = seen
        .uploads
        .iter()
        .find(|(_, data)| digest_of(data) == layer)
        .expect("the layer's upload");
    let size = built.layers[0].blob.len();
    let chunk = 16 << 20;
    let half = chunk + (size - chunk) / 2;
    assert_eq!(
        *requests,
        [
            "POST".to_string(),
            format!("PATCH 0-{}", chunk - 1),
            format!("PATCH {chunk}-{}", size - 1),
            "GET".into(),
            format!("PATCH {half}-{}", size - 1),
            "PUT".into(),
        ]
    );
}
