//! `berth-unpack push` to a real registry (docker-registry behind htpasswd), then pull back:
//! the same image ID, since the manifest and blobs go up as the store keeps them.

use std::path::Path;
use std::process::Output;

use berth_tests::formats::write_images;
use berth_tests::image::busybox_entries;
use berth_tests::registry::{docker_config, Auth, Registry, PASSWORD, USER};
use berth_tests::store::describe;
use berth_tests::{BuiltImage, Compression, Entry, Format, ImageSpec, Layer, TestStore};

fn image(motd: &str) -> BuiltImage {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::Gzip),
        Layer::new(vec![Entry::dir("etc"), Entry::file("etc/motd", motd)])
            .compressed(Compression::Zstd),
    ])
    .build()
}

fn run(store: &TestStore, args: &[&str], config: &Path) -> Output {
    store
        .command()
        .args(args)
        .env("DOCKER_CONFIG", config)
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "localhost,127.0.0.1")
        .output()
        .expect("spawn berth-unpack")
}

fn ok(store: &TestStore, args: &[&str], config: &Path) -> Output {
    let out = run(store, args, config);
    assert!(out.status.success(), "{args:?}: {}", describe(&out));
    out
}

/// Loads `built` (written as `format`) into a fresh store, pushes it as `name`, pulls it
/// into another store; returns the pushed digest line and the pulled ID.
fn round_trip(built: &BuiltImage, format: Format, name: &str, config: &Path) -> (String, String) {
    let source = TestStore::new();
    let archive = write_images(format, std::slice::from_ref(built), &source.work("image"));
    source.load(&archive);
    ok(&source, &["tag", &built.id(), name], config);
    let pushed = ok(&source, &["push", name], config);
    let stderr = String::from_utf8_lossy(&pushed.stderr);
    assert!(stderr.contains("Pushed"), "{stderr}");
    let again = ok(&source, &["push", name], config);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("Layer already exists") && !stderr.contains("Pushed"),
        "{stderr}"
    );
    let target = TestStore::new();
    let pulled = ok(&target, &["pull", "-q", name], config);
    (
        String::from_utf8_lossy(&pushed.stdout).trim().to_string(),
        String::from_utf8_lossy(&pulled.stdout).trim().to_string(),
    )
}

#[test]
fn push_then_pull_back_gives_the_same_image() {
    let registry = Registry::start(Auth::Htpasswd);
    let work = tempfile::tempdir().unwrap();
    let config = docker_config(
        &work.path().join("docker"),
        &registry.host(),
        USER,
        PASSWORD,
    );

    // An OCI layout: its manifest goes up byte for byte.
    let built = image("pushed\n");
    let name = format!("{}/team/pushed:1", registry.host());
    let (line, id) = round_trip(&built, Format::OciDir, &name, &config);
    assert_eq!(
        line,
        format!(
            "1: digest: {} size: {}",
            built.manifest_digest,
            built.manifest.len()
        )
    );
    assert_eq!(id, built.id());

    // A classic docker-archive (uncompressed layers, no manifest): berth's manifest over
    // the stored blobs, so the registry's config diff_ids are the local image's.
    let classic = ImageSpec::new(vec![Layer::new(busybox_entries())])
        .created("2024-02-02T00:00:00Z")
        .build();
    let name = format!("{}/team/classic:2", registry.host());
    let (line, id) = round_trip(&classic, Format::DockerClassic, &name, &config);
    assert!(line.starts_with("2: digest: sha256:"), "{line}");
    assert_eq!(id, classic.id());
}

#[test]
fn a_push_with_wrong_credentials_is_unauthorized() {
    let registry = Registry::start(Auth::Htpasswd);
    let work = tempfile::tempdir().unwrap();
    let wrong = docker_config(&work.path().join("docker"), &registry.host(), USER, "wrong");
    let store = TestStore::new();
    let built = image("x\n");
    store.load(&write_images(
        Format::OciDir,
        std::slice::from_ref(&built),
        &store.work("image"),
    ));
    let name = format!("{}/x:1", registry.host());
    ok(&store, &["tag", &built.id(), &name], &wrong);
    let out = run(&store, &["push", &name], &wrong);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unauthorized") && stderr.contains(&registry.host()),
        "{stderr}"
    );
}
