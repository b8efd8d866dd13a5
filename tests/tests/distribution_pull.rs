//! `berth-unpack pull` against a real registry (Debian's docker-registry on a loopback
//! port, seeded with skopeo), behind htpasswd and behind a token server, and against
//! in-test servers that misbehave: a dying connection, hostile manifests.

use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};

use berth_tests::container::Sandbox;
use berth_tests::formats::{OCI_INDEX, OCI_MANIFEST};
use berth_tests::image::busybox_entries;
use berth_tests::registry::{
    docker_config, Answer, Auth, Registry, TinyServer, TokenServer, PASSWORD, USER,
};
use berth_tests::store::describe;
use berth_tests::{digest_of, BuiltImage, Compression, Entry, ImageSpec, Layer, TestStore};
use serde_json::{json, Value};

/// busybox (gzip) plus a small zstd layer that says which image it is.
fn image(motd: &str) -> BuiltImage {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::Gzip),
        Layer::new(vec![Entry::dir("etc"), Entry::file("etc/motd", motd)])
            .compressed(Compression::Zstd),
    ])
    .build()
}

fn pull_cmd(store: &TestStore, args: &[&str], config: Option<&Path>) -> Output {
    let no_config = store.work("no-docker-config");
    let out = store
        .command()
        .arg("pull")
        .args(args)
        .env("DOCKER_CONFIG", config.unwrap_or(&no_config))
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "localhost,127.0.0.1")
        .output()
        .expect("spawn berth-unpack");
    out
}

fn pull_ok(store: &TestStore, args: &[&str], config: Option<&Path>) -> Value {
    let out = pull_cmd(store, args, config);
    assert!(out.status.success(), "pull {args:?}: {}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON record")
}

/// The pull failed with a message holding every one of `words`.
fn pull_fails(store: &TestStore, args: &[&str], config: Option<&Path>, words: &[&str]) -> String {
    let out = pull_cmd(store, args, config);
    assert!(
        !out.status.success(),
        "pull {args:?} succeeded: {}",
        describe(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for word in words {
        assert!(stderr.contains(word), "{word:?} not in: {stderr}");
    }
    stderr
}

/// Nothing of a failed pull is left: no image, layer, blob or temp file.
fn assert_empty(store: &TestStore) {
    let images = store.ok(["ls", "-q"]);
    assert!(
        String::from_utf8_lossy(&images.stdout).trim().is_empty(),
        "images left"
    );
    assert!(
        store.layer_entries().is_empty(),
        "layers left: {:?}",
        store.layer_entries()
    );
    assert!(store.blobs().is_empty(), "blobs left: {:?}", store.blobs());
    assert!(
        store.tmp_entries().is_empty(),
        "tmp left: {:?}",
        store.tmp_entries()
    );
}

#[test]
fn pull_with_htpasswd_credentials_then_run() {
    let registry = Registry::start(Auth::Htpasswd);
    let built = image("pulled over the wire\n");
    registry.seed(&built, "team/app:1", Some((USER, PASSWORD)));
    let sandbox = Sandbox::new();
    let store = &sandbox.store;
    let config = docker_config(&store.work("docker"), &registry.host(), USER, PASSWORD);
    let name = format!("{}/team/app:1", registry.host());
    let record = pull_ok(store, &[&name], Some(&config));
    // The image ID is the config digest, as `docker load` of the same image gives.
    assert_eq!(record["image"]["id"], built.id(), "{record}");
    assert_eq!(record["image"]["name"], name);
    assert_eq!(record["image"]["manifest"], built.manifest_digest);
    assert!(
        store.tmp_entries().is_empty(),
        "tmp left: {:?}",
        store.tmp_entries()
    );
    let out = sandbox.ok(["--rm", "--network", "none", &name, "cat", "/etc/motd"]);
    assert_eq!(out, "pulled over the wire\n");
    sandbox.assert_nothing_left();

    // Again: nothing is downloaded, the image is up to date; --json gives dockerd's
    // messages, one a line.
    let out = pull_cmd(store, &["--json", &name], Some(&config));
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let messages: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON message"))
        .collect();
    let first = &built.layers[0].digest["sha256:".len()..][..12];
    assert!(
        messages.contains(&json!({"status": "Already exists", "progressDetail": {}, "id": first})),
        "{stderr}"
    );
    assert_eq!(
        messages.last().unwrap()["status"],
        format!("Status: Image is up to date for {name}")
    );
    assert!(!stderr.contains("Pull complete"), "{stderr}");

    // A pull by digest gives the same image, without a name.
    let other = TestStore::new();
    let by_digest = format!("{}/team/app@{}", registry.host(), built.manifest_digest);
    let out = pull_cmd(&other, &["-q", &by_digest], Some(&config));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), built.id());
}

#[test]
fn wrong_or_missing_credentials_are_unauthorized_and_store_nothing() {
    let registry = Registry::start(Auth::Htpasswd);
    registry.seed(&image("x\n"), "x:1", Some((USER, PASSWORD)));
    let store = TestStore::new();
    let name = format!("{}/x:1", registry.host());
    let wrong = docker_config(&store.work("docker"), &registry.host(), USER, "wrong");
    let host = registry.host();
    pull_fails(&store, &[&name], Some(&wrong), &["unauthorized", &host]);
    assert_empty(&store);
    pull_fails(&store, &[&name], None, &["unauthorized", &host]);
    assert_empty(&store);
}

#[test]
fn bearer_tokens_from_a_token_server() {
    let tokens = TokenServer::start();
    let registry = Registry::start(Auth::Token(tokens.config()));
    let built = image("behind a token\n");
    registry.seed(&built, "t/app:1", Some((USER, PASSWORD)));
    let store = TestStore::new();
    let name = format!("{}/t/app:1", registry.host());
    let wrong = docker_config(&store.work("wrong"), &registry.host(), USER, "nope");
    pull_fails(
        &store,
        &[&name],
        Some(&wrong),
        &["unauthorized", &registry.host()],
    );
    assert_empty(&store);
    let right = docker_config(&store.work("right"), &registry.host(), USER, PASSWORD);
    let record = pull_ok(&store, &[&name], Some(&right));
    assert_eq!(record["image"]["id"], built.id());
}

#[test]
fn unknown_tags_repositories_and_hosts_are_named() {
    let registry = Registry::start(Auth::None);
    registry.seed(&image("x\n"), "x:1", None);
    let store = TestStore::new();
    let missing_tag = format!("{}/x:2", registry.host());
    pull_fails(&store, &[&missing_tag], None, &["not found", &missing_tag]);
    let missing_repo = format!("{}/nothing/here:1", registry.host());
    pull_fails(
        &store,
        &[&missing_repo],
        None,
        &["not found", "nothing/here"],
    );
    let closed = format!("127.0.0.1:{}", berth_tests::registry::free_port());
    pull_fails(
        &store,
        &[&format!("{closed}/x:1")],
        None,
        &["cannot reach registry", &closed],
    );
    pull_fails(&store, &["127.0.0.1:5/Bad:1"], None, &["invalid reference"]);
    assert_empty(&store);
}

#[test]
fn a_blob_tampered_with_on_the_registry_is_refused() {
    let registry = Registry::start(Auth::None);
    // An uncompressed layer, so the damage reads as a good tar and only the digest tells.
    let built = ImageSpec::new(vec![
        Layer::new(busybox_entries()),
        Layer::new(vec![Entry::file("motd", "original content\n")]),
    ])
    .build();
    registry.upload(&built, "x", "1");
    let layer = &built.layers[1];
    let file = registry.blob_file(&layer.digest);
    let bytes = std::fs::read(&file).unwrap();
    let tampered = String::from_utf8_lossy(&bytes).replace("original", "tampered");
    assert_ne!(
        tampered.as_bytes(),
        &bytes[..],
        "the test must change the blob"
    );
    std::fs::write(&file, tampered.as_bytes()).unwrap();
    let store = TestStore::new();
    pull_fails(
        &store,
        &[&format!("{}/x:1", registry.host())],
        None,
        &["digest", &layer.digest],
    );
    assert_empty(&store);
}

#[test]
fn a_manifest_list_gives_the_wanted_platform() {
    let registry = Registry::start(Auth::None);
    let amd64 = image("amd64\n");
    let arm64 = image("arm64\n");
    registry.seed(&amd64, "multi:amd64", None);
    registry.seed(&arm64, "multi:arm64", None);
    let entry = |b: &BuiltImage, os: &str, arch: &str, variant: Option<&str>| {
        let mut platform = json!({"os": os, "architecture": arch});
        if let Some(v) = variant {
            platform["variant"] = v.into();
        }
        json!({"mediaType": OCI_MANIFEST, "digest": b.manifest_digest, "size": b.manifest.len(), "platform": platform})
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            entry(&arm64, "unknown", "unknown", None),
            entry(&arm64, "linux", "arm64", Some("v8")),
            entry(&amd64, "linux", "amd64", None),
        ],
    });
    let body = serde_json::to_vec(&index).unwrap();
    let status = registry.put_manifest("multi", "1", OCI_INDEX, &body, None);
    assert_eq!(status, 201, "PUT index: {}", registry.log());
    let name = format!("{}/multi:1", registry.host());
    let host_store = TestStore::new();
    let expected = if std::env::consts::ARCH == "aarch64" {
        &arm64
    } else {
        &amd64
    };
    let record = pull_ok(&host_store, &[&name], None);
    assert_eq!(record["image"]["id"], expected.id(), "the host's platform");
    let arm_store = TestStore::new();
    let record = pull_ok(&arm_store, &["--platform", "linux/arm64", &name], None);
    assert_eq!(record["image"]["id"], arm64.id());
    let none = TestStore::new();
    pull_fails(
        &none,
        &["--platform", "linux/s390x", &name],
        None,
        &["no matching manifest for linux/s390x"],
    );
    assert_empty(&none);
}

type BlobAnswer = dyn Fn(&str, &[u8], &[(String, String)]) -> Option<Answer> + Send;

/// An in-test registry serving `image` as `x:1` (or `manifest` instead of its own) and
/// its blobs plus `extra`; `blob` may replace a blob's answer.
fn serve(
    image: &BuiltImage,
    manifest: Option<Vec<u8>>,
    extra: Vec<Vec<u8>>,
    blob: Box<BlobAnswer>,
) -> TinyServer {
    let manifest = manifest.unwrap_or_else(|| image.manifest.clone());
    let mut blobs: Vec<(String, Vec<u8>)> = image
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.blob.clone()))
        .collect();
    blobs.push((image.config_digest.clone(), image.config.clone()));
    blobs.extend(extra.into_iter().map(|b| (digest_of(&b), b)));
    TinyServer::start(move |_method, path, headers| {
        let json_type = |t: &str| vec![("Content-Type".to_string(), t.to_string())];
        if path == "/v2/" {
            return (200, vec![], b"{}".to_vec());
        }
        if path == "/v2/x/manifests/1" || path.starts_with("/v2/x/manifests/sha256:") {
            return (200, json_type(OCI_MANIFEST), manifest.clone());
        }
        for (digest, bytes) in &blobs {
            if path == format!("/v2/x/blobs/{digest}") {
                return blob(digest, bytes, headers).unwrap_or((200, vec![], bytes.clone()));
            }
        }
        (
            404,
            json_type("application/json"),
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#.to_vec(),
        )
    })
}

/// The answer of a server that sends the first `cut` bytes and dies.
fn cut_off(bytes: &[u8], cut: usize) -> Answer {
    (
        200,
        vec![
            ("Content-Length".into(), bytes.len().to_string()),
            ("Connection".into(), "close".into()),
        ],
        bytes[..cut].to_vec(),
    )
}

/// A server that honours Range for `layer` and records each request's Range header.
fn serve_ranges(
    built: &BuiltImage,
    layer: String,
    seen: Arc<Mutex<Vec<String>>>,
    cut_first: bool,
) -> TinyServer {
    serve(
        built,
        None,
        vec![],
        Box::new(move |digest, bytes, headers| {
            if digest != layer {
                return None;
            }
            let range = headers
                .iter()
                .find(|(k, _)| k == "range")
                .map(|(_, v)| v.clone());
            let first = seen.lock().unwrap().is_empty();
            seen.lock().unwrap().push(range.clone().unwrap_or_default());
            match range {
                None if cut_first && first => Some(cut_off(bytes, bytes.len() / 2)),
                None => None,
                Some(range) => {
                    let from: usize = range
                        .trim_start_matches("bytes=")
                        .trim_end_matches('-')
                        .parse()
                        .unwrap();
                    let content_range = format!("bytes {from}-{}/{}", bytes.len() - 1, bytes.len());
                    Some((
                        206,
                        vec![("Content-Range".into(), content_range)],
                        bytes[from..].to_vec(),
                    ))
                }
            }
        }),
    )
}

#[test]
fn a_dropped_connection_resumes_with_a_range_request() {
    let built = image("resumed\n");
    let ranges: Arc<Mutex<Vec<String>>> = Arc::default();
    let server = serve_ranges(&built, built.layers[0].digest.clone(), ranges.clone(), true);
    let store = TestStore::new();
    let record = pull_ok(&store, &[&format!("{}/x:1", server.host())], None);
    assert_eq!(record["image"]["id"], built.id());
    let half = built.layers[0].blob.len() / 2;
    assert_eq!(
        *ranges.lock().unwrap(),
        vec![String::new(), format!("bytes={half}-")]
    );
}

#[test]
fn a_registry_that_goes_down_mid_pull_is_named_and_a_retry_resumes() {
    let built = image("down and up\n");
    let layer = built.layers[0].digest.clone();
    let cut = built.layers[0].blob.len() / 3;
    let wanted = layer.clone();
    let server = serve(
        &built,
        None,
        vec![],
        Box::new(move |digest, bytes, _| (digest == wanted).then(|| cut_off(bytes, cut))),
    );
    let store = TestStore::new();
    let host = server.host();
    let name = format!("{host}/x:1");
    pull_fails(&store, &[&name], None, &["broke off", &layer, &host]);
    assert_empty(&store);
    // What arrived is kept outside tmp/, for the next attempt.
    let kept = store
        .root()
        .join("downloads")
        .join(berth_tests::hex_part(&layer));
    assert_eq!(
        std::fs::metadata(&kept).map(|m| m.len() as usize).ok(),
        Some(cut),
        "{}",
        kept.display()
    );
    drop(server);
    pull_fails(&store, &[&name], None, &["cannot reach registry", &host]);
    assert_empty(&store);
    // Back up (on another port): only the rest of the layer is asked for.
    let ranges: Arc<Mutex<Vec<String>>> = Arc::default();
    let healthy = serve_ranges(&built, layer.clone(), ranges.clone(), false);
    let record = pull_ok(&store, &[&format!("{}/x:1", healthy.host())], None);
    assert_eq!(record["image"]["id"], built.id());
    assert_eq!(*ranges.lock().unwrap(), vec![format!("bytes={cut}-")]);
    assert!(
        !kept.exists(),
        "the kept part is dropped once the blob is stored"
    );
    assert!(
        store.tmp_entries().is_empty(),
        "tmp left: {:?}",
        store.tmp_entries()
    );
}

#[test]
fn a_kept_part_that_proves_wrong_is_dropped() {
    let built = image("kept but wrong\n");
    let layer = built.layers[0].digest.clone();
    let store = TestStore::new();
    // A kept part whose bytes are not the blob's: the digest check fails, the part goes,
    // and the next attempt downloads the whole blob.
    let downloads = store.root().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let kept = downloads.join(berth_tests::hex_part(&layer));
    let mut wrong = built.layers[0].blob[..100].to_vec();
    wrong[50] ^= 0xff;
    std::fs::write(&kept, &wrong).unwrap();
    let ranges: Arc<Mutex<Vec<String>>> = Arc::default();
    let server = serve_ranges(&built, layer.clone(), ranges.clone(), false);
    let name = format!("{}/x:1", server.host());
    pull_fails(&store, &[&name], None, &[&layer]);
    assert_empty(&store);
    assert!(!kept.exists(), "a wrong kept part is dropped");
    let record = pull_ok(&store, &[&name], None);
    assert_eq!(record["image"]["id"], built.id());
    assert_eq!(
        *ranges.lock().unwrap(),
        vec!["bytes=100-".to_string(), String::new()]
    );
}

#[test]
fn hostile_manifests_get_a_clear_error() {
    let built = image("hostile\n");
    let manifest: Value = serde_json::from_slice(&built.manifest).unwrap();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut m = manifest.clone();
        edit(&mut m);
        serde_json::to_vec(&m).unwrap()
    };
    let not_json = b"this config is not JSON".to_vec();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            with(&|m| m["layers"][0]["mediaType"] = "application/../../etc/passwd".into()),
            "malformed media type",
        ),
        (
            with(&|m| m["layers"][0]["mediaType"] = "../x".into()),
            "malformed media type",
        ),
        (
            with(&|m| m["layers"][0]["digest"] = "sha256:../../../etc/passwd".into()),
            "invalid digest",
        ),
        (
            with(&|m| m["layers"][0]["size"] = json!(u64::MAX / 2)),
            "exceeds the limit",
        ),
        (
            with(&|m| m["config"]["size"] = json!(1u64 << 40)),
            "exceeds the limit",
        ),
        (
            with(&|m| m["layers"][0]["size"] = json!(-5)),
            "negative size",
        ),
        (
            with(&|m| m["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json".into()),
            "not an image config",
        ),
        (
            with(&|m| {
                m["config"]["digest"] = digest_of(&not_json).into();
                m["config"]["size"] = not_json.len().into();
            }),
            "not a valid image config",
        ),
        (b"<html>not a manifest</html>".to_vec(), "not a manifest"),
    ];
    for (manifest, words) in cases {
        let server = serve(
            &built,
            Some(manifest),
            vec![not_json.clone()],
            Box::new(|_, _, _| None),
        );
        let store = TestStore::new();
        pull_fails(&store, &[&format!("{}/x:1", server.host())], None, &[words]);
        assert_empty(&store);
    }
}

#[test]
fn a_digest_pin_the_registry_does_not_honour_is_refused_naming_both_digests() {
    let built = image("pinned\n");
    let other = image("another\n");
    // Whatever digest is asked for, this registry answers with `other`'s manifest.
    let server = serve(
        &built,
        Some(other.manifest.clone()),
        vec![],
        Box::new(|_, _, _| None),
    );
    let store = TestStore::new();
    let pinned = format!("{}/x@{}", server.host(), built.manifest_digest);
    let stderr = pull_fails(
        &store,
        &[&pinned],
        None,
        &[
            &format!("has digest {}", other.manifest_digest),
            &format!("not the {} asked for", built.manifest_digest),
        ],
    );
    assert!(!stderr.contains("size"), "{stderr}");
    assert_empty(&store);
}

/// `openssl` run in `dir`, asserting success.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", describe(&out));
}

/// A CA (`NAME.crt`, `NAME.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &crt,
        ],
    );
}

#[test]
fn a_certs_d_directory_gives_tls_with_its_ca() {
    let tls = tempfile::tempdir().unwrap();
    let dir = tls.path();
    make_ca(dir, "ca");
    make_ca(dir, "other-ca");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );
    let registry = Registry::start_with(
        Auth::None,
        Some((&dir.join("server.crt"), &dir.join("server.key"))),
    );
    let built = image("over tls\n");
    registry.seed(&built, "secure:1", None);
    let name = format!("{}/secure:1", registry.host());
    let pull = |certs_d: &Path, store: &TestStore| {
        store
            .command()
            .args(["pull", "-q", &name])
            .env("DOCKER_CONFIG", store.work("no-docker-config"))
            .env("BERTH_CERTS_D", certs_d)
            .output()
            .unwrap()
    };
    // The registry's CA in certs.d/HOST:PORT/: HTTPS even on the loopback, verified.
    let good = dir.join("good");
    std::fs::create_dir_all(good.join(registry.host())).unwrap();
    std::fs::copy(
        dir.join("ca.crt"),
        good.join(registry.host()).join("ca.crt"),
    )
    .unwrap();
    let store = TestStore::new();
    let out = pull(&good, &store);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), built.id());
    // Another CA: the certificate is refused, nothing stored.
    let bad = dir.join("bad");
    std::fs::create_dir_all(bad.join(registry.host())).unwrap();
    std::fs::copy(
        dir.join("other-ca.crt"),
        bad.join(registry.host()).join("ca.crt"),
    )
    .unwrap();
    let other = TestStore::new();
    let out = pull(&bad, &other);
    assert!(
        !out.status.success(),
        "a registry with an unknown CA was trusted"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach registry") && stderr.contains(&registry.host()),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    assert_empty(&other);

    // No certs.d directory: the loopback is an insecure registry, so, as dockerd does,
    // HTTPS is tried first with the certificate unchecked (a plain-HTTP attempt would
    // fail against this TLS-only registry).
    let none = dir.join("none");
    std::fs::create_dir_all(&none).unwrap();
    let third = TestStore::new();
    let out = pull(&none, &third);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), built.id());

    // certs.d's CAs are added to the system's, not put in their place: with the
    // registry's CA among the system's (SSL_CERT_FILE), the unrelated CA in certs.d does
    // not stop it being trusted.
    let fourth = TestStore::new();
    let out = fourth
        .command()
        .args(["pull", "-q", &name])
        .env("DOCKER_CONFIG", fourth.work("no-docker-config"))
        .env("BERTH_CERTS_D", &bad)
        .env("SSL_CERT_FILE", dir.join("ca.crt"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), built.id());
}
