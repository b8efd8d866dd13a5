//! `save` output read back by berth, skopeo and umoci.

use std::process::Command;

use berth_tests::formats::write_images;
use berth_tests::image::{busybox_entries, Compression, Entry, Layer};
use berth_tests::tools::{assert_busybox_in, name_matches, require_tool, run_ok};
use berth_tests::{BuiltImage, Format, ImageSpec, TestStore};
use serde_json::Value;

fn image() -> BuiltImage {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::Gzip),
        Layer::new(vec![
            Entry::dir("etc"),
            Entry::file("etc/hello", "hello\n"),
            Entry::whiteout("etc/group"),
        ])
        .compressed(Compression::None), // umoci 0.4.7 reads no zstd
    ])
    .name("rt/img:1")
    .cmd(&["sh", "-c", "cat /etc/hello"])
    .build()
}

/// A store with `image()` loaded from a Docker 25 archive.
fn loaded() -> (TestStore, BuiltImage) {
    let store = TestStore::new();
    let image = image();
    let path = write_images(
        Format::Docker25,
        std::slice::from_ref(&image),
        &store.work("in.tar"),
    );
    let record = store.load(&path);
    store.assert_loaded(&record, &image);
    (store, image)
}

fn save(store: &TestStore, format: &str, out: &std::path::Path) {
    store.ok([
        "save",
        "--format",
        format,
        "-o",
        out.to_str().unwrap(),
        "rt/img:1",
    ]);
}

/// `oci:<dir>[:<ref.name>]` for the single image of an OCI layout berth wrote.
fn oci_ref(dir: &std::path::Path) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().expect("index.json manifests");
    assert_eq!(manifests.len(), 1, "one image saved: {index}");
    match manifests[0]["annotations"]["org.opencontainers.image.ref.name"].as_str() {
        Some(r) => format!("{}:{r}", dir.display()),
        None => dir.display().to_string(),
    }
}

#[test]
fn oci_dir_through_skopeo_docker_archive_keeps_the_id() {
    require_tool("skopeo");
    let (store, image) = loaded();
    let dir = store.work("saved-oci");
    save(&store, "oci-dir", &dir);
    let docker = store.work("skopeo.tar");
    run_ok(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("oci:{}", oci_ref(&dir)),
        &format!("docker-archive:{}:rt/copied:2", docker.display()),
    ]));
    let fresh = TestStore::new();
    let record = fresh.load(&docker);
    assert_eq!(record["image"]["id"], image.id().as_str());
    let layers = fresh.record_layers(&record);
    assert_busybox_in(&layers[0]);
    assert_eq!(
        std::fs::read(layers[1].join("etc/hello")).unwrap(),
        b"hello\n"
    );
}

#[test]
fn umoci_unpacks_berth_oci_dir() {
    require_tool("umoci");
    let (store, _) = loaded();
    let dir = store.work("saved-oci");
    save(&store, "oci-dir", &dir);
    let bundle = store.work("bundle");
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .expect("berth's oci-dir names its image (org.opencontainers.image.ref.name) so umoci can pick it")
        .to_string();
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:{tag}", dir.display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    assert_busybox_in(&rootfs);
    assert_eq!(std::fs::read(rootfs.join("etc/hello")).unwrap(), b"hello\n");
    assert!(
        !rootfs.join("etc/group").exists(),
        "the whiteout was not applied"
    );
    assert!(rootfs.join("etc/passwd").is_file());
}

#[test]
fn skopeo_inspects_berth_docker_archive() {
    require_tool("skopeo");
    let (store, image) = loaded();
    let archive = store.work("saved.tar");
    save(&store, "docker-archive", &archive);
    let out = run_ok(
        Command::new("skopeo")
            .arg("inspect")
            .arg(format!("docker-archive:{}", archive.display())),
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("skopeo inspect JSON");
    assert_eq!(v["Architecture"], "amd64", "{v}");
    assert_eq!(v["Os"], "linux", "{v}");
    assert_eq!(
        v["Layers"].as_array().map(Vec::len),
        Some(image.layers.len()),
        "{v}"
    );
    let out = run_ok(
        Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!("docker-archive:{}", archive.display())),
    );
    let config: Value = serde_json::from_slice(&out.stdout).expect("skopeo inspect --config JSON");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(image.diff_ids()),
        "{config}"
    );
}

fn save_and_reload(format: &str, file: &str) {
    let (store, image) = loaded();
    let out = store.work(file);
    save(&store, format, &out);
    let fresh = TestStore::new();
    let record = fresh.load(&out);
    fresh.assert_loaded(&record, &image);
    if let Some(name) = record["image"]["name"].as_str() {
        assert!(
            name_matches(name, "rt/img:1"),
            "name after round trip: {name}"
        );
    }
    if format == "docker-archive" {
        assert!(
            fresh.inspect("rt/img:1").is_some(),
            "the name survives a docker-archive round trip"
        );
    }
    let layers = fresh.record_layers(&record);
    assert_busybox_in(&layers[0]);
    let group = std::fs::symlink_metadata(layers[1].join("etc/group")).expect("whiteout kept");
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &group.file_type()
    ));
}

#[test]
fn docker_archive_save_and_reload_keeps_the_id() {
    save_and_reload("docker-archive", "saved.tar");
}

#[test]
fn oci_archive_save_and_reload_keeps_the_id() {
    save_and_reload("oci-archive", "saved-oci.tar");
}

#[test]
fn oci_dir_save_and_reload_keeps_the_id() {
    save_and_reload("oci-dir", "saved-oci-dir");
}

#[test]
fn save_of_two_images_into_one_archive() {
    let (store, image) = loaded();
    let other = ImageSpec::busybox().name("rt/other:1").build();
    let path = write_images(
        Format::OciDir,
        std::slice::from_ref(&other),
        &store.work("other"),
    );
    store.load(&path);
    let out = store.work("both.tar");
    store.ok([
        "save",
        "-o",
        out.to_str().unwrap(),
        "rt/img:1",
        "rt/other:1",
    ]);
    let fresh = TestStore::new();
    let ids = fresh.ok(["load", "-q", out.to_str().unwrap()]);
    let mut ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort();
    let mut want = vec![image.id(), other.id()];
    want.sort();
    assert_eq!(ids, want);
}
