//! `load` of every archive format and layer compression, and the pipeline entry.

use berth_tests::formats::{compress_file, write_images};
use berth_tests::image::{busybox_entries, Compression, Entry, Layer};
use berth_tests::store::{describe, parse_record};
use berth_tests::tools::{assert_busybox_in, name_matches};
use berth_tests::{BuiltImage, Failure, Format, ImageSpec, TestStore};
use serde_json::json;

fn busybox_image(name: &str) -> BuiltImage {
    ImageSpec::busybox()
        .name(name)
        .cmd(&["sh", "-c", "echo hi"])
        .env(&["PATH=/bin", "FOO=bar"])
        .build()
}

/// Loads `image` written in `format` (the archive itself compressed with `outer`) and
/// checks the record; returns it.
fn load_and_check(format: Format, outer: Compression, image: &BuiltImage) -> serde_json::Value {
    let store = TestStore::new();
    let path = write_images(format, std::slice::from_ref(image), &store.work("image"));
    let path = compress_file(&path, outer);
    let record = store.load(&path);
    store.assert_loaded(&record, image);
    assert_eq!(
        record["image"]["config"]["Cmd"],
        json!(["sh", "-c", "echo hi"]),
        "{record}"
    );
    assert_eq!(
        record["image"]["config"]["Env"],
        json!(["PATH=/bin", "FOO=bar"]),
        "{record}"
    );
    assert_busybox_in(&store.record_layers(&record)[0]);
    let root = record["root"].as_str().expect("record.root");
    assert_eq!(
        std::fs::canonicalize(root).unwrap(),
        std::fs::canonicalize(store.root()).unwrap()
    );
    let inspected = store
        .inspect(&image.id())
        .expect("inspect by id after load");
    assert_eq!(inspected["Id"], image.id().as_str());
    assert!(
        store.tmp_entries().is_empty(),
        "tmp/ not empty: {:?}",
        store.tmp_entries()
    );
    record
}

fn assert_named(record: &serde_json::Value, name: &str) {
    let got = record["image"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("record has no name: {record}"));
    assert!(
        name_matches(got, name),
        "record name {got:?}, expected {name:?}"
    );
}

#[test]
fn load_docker_archive_classic() {
    let image = busybox_image("test/busybox:1.0");
    let record = load_and_check(Format::DockerClassic, Compression::None, &image);
    assert_named(&record, "test/busybox:1.0");
}

#[test]
fn load_docker_archive_docker25() {
    let image = busybox_image("test/busybox:1.0");
    let record = load_and_check(Format::Docker25, Compression::None, &image);
    assert_named(&record, "test/busybox:1.0");
}

#[test]
fn load_oci_layout_dir() {
    let image = busybox_image("test/busybox:1.0");
    let record = load_and_check(Format::OciDir, Compression::None, &image);
    assert_eq!(record["image"]["manifest"], image.manifest_digest.as_str());
}

#[test]
fn load_oci_layout_archive() {
    let image = busybox_image("test/busybox:1.0");
    let record = load_and_check(Format::OciArchive, Compression::None, &image);
    assert_eq!(record["image"]["manifest"], image.manifest_digest.as_str());
}

#[test]
fn load_gzip_compressed_docker_archive() {
    let image = busybox_image("test/busybox:gz");
    let record = load_and_check(Format::DockerClassic, Compression::Gzip, &image);
    assert_named(&record, "test/busybox:gz");
}

#[test]
fn load_zstd_compressed_docker25_archive() {
    let image = busybox_image("test/busybox:zst");
    let record = load_and_check(Format::Docker25, Compression::Zstd, &image);
    assert_named(&record, "test/busybox:zst");
}

/// Three layers: uncompressed, gzip and zstd, each adding a file.
fn mixed_compression_image() -> BuiltImage {
    let layer = |n: &str, c| {
        Layer::new(vec![Entry::dir("etc"), Entry::file(format!("etc/{n}"), n)]).compressed(c)
    };
    ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::None),
        layer("from-gzip", Compression::Gzip),
        layer("from-zstd", Compression::Zstd),
        layer("from-plain", Compression::None),
    ])
    .name("test/mixed:1")
    .cmd(&["sh", "-c", "echo hi"])
    .env(&["PATH=/bin", "FOO=bar"])
    .build()
}

fn check_mixed(format: Format) {
    let image = mixed_compression_image();
    let store = TestStore::new();
    let path = write_images(format, std::slice::from_ref(&image), &store.work("image"));
    let record = store.load(&path);
    store.assert_loaded(&record, &image);
    let layers = store.record_layers(&record);
    for (layer, name) in layers[1..]
        .iter()
        .zip(["from-gzip", "from-zstd", "from-plain"])
    {
        let text = std::fs::read_to_string(layer.join("etc").join(name)).unwrap();
        assert_eq!(text, name);
    }
}

#[test]
fn mixed_layer_compressions_oci_dir() {
    check_mixed(Format::OciDir);
}

#[test]
fn mixed_layer_compressions_oci_archive() {
    check_mixed(Format::OciArchive);
}

#[test]
fn mixed_layer_compressions_docker25() {
    check_mixed(Format::Docker25);
}

#[test]
fn quiet_load_of_multi_image_archive_prints_every_id() {
    let store = TestStore::new();
    let a = ImageSpec::busybox().name("multi/a:1").build();
    let b = ImageSpec::busybox().name("multi/b:1").cmd(&["ls"]).build();
    assert_ne!(a.id(), b.id());
    let path = write_images(
        Format::DockerClassic,
        &[a.clone(), b.clone()],
        &store.work("two.tar"),
    );
    let out = store.ok(["load", "-q", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut ids: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    ids.sort();
    let mut want = vec![a.id(), b.id()];
    want.sort();
    assert_eq!(ids, want, "load -q output:\n{}", describe(&out));
    assert_eq!(store.inspect("multi/a:1").unwrap()["Id"], a.id().as_str());
    assert_eq!(store.inspect("multi/b:1").unwrap()["Id"], b.id().as_str());
    assert_eq!(
        store.layer_entries().len(),
        1,
        "the shared layer is stored once"
    );
}

#[test]
fn load_prints_first_image_or_the_one_named() {
    let a = ImageSpec::busybox().name("multi/a:1").build();
    let b = ImageSpec::busybox().name("multi/b:1").cmd(&["ls"]).build();
    let store = TestStore::new();
    let path = write_images(
        Format::Docker25,
        &[a.clone(), b.clone()],
        &store.work("two.tar"),
    );
    let record = store.load(&path);
    assert_eq!(
        record["image"]["id"],
        a.id().as_str(),
        "the first image's record"
    );

    let store = TestStore::new();
    let path = write_images(
        Format::Docker25,
        &[a.clone(), b.clone()],
        &store.work("two.tar"),
    );
    // The contract leaves open whether --name picks an image of the archive or tags the
    // first one; either way the printed image carries the name and the name resolves to it.
    let record = store.record(["load", "--name", "local/picked:1", path.to_str().unwrap()]);
    assert_named(&record, "local/picked:1");
    let id = record["image"]["id"].as_str().unwrap();
    assert!(
        id == a.id() || id == b.id(),
        "printed an image not in the archive: {id}"
    );
    assert_eq!(
        store.inspect("local/picked:1").expect("--name tags")["Id"],
        id
    );
}

#[test]
fn load_name_tags_an_unnamed_image() {
    let store = TestStore::new();
    let image = ImageSpec::busybox().build(); // no ref.name in index.json
    let path = write_images(
        Format::OciDir,
        std::slice::from_ref(&image),
        &store.work("oci"),
    );
    let record = store.record(["load", "--name", "local/unnamed:2", path.to_str().unwrap()]);
    store.assert_loaded(&record, &image);
    assert_named(&record, "local/unnamed:2");
    assert_eq!(
        store.inspect("local/unnamed:2").expect("tagged by --name")["Id"],
        image.id().as_str()
    );
}

#[test]
fn load_reads_an_archive_on_standard_input() {
    let store = TestStore::new();
    let image = busybox_image("stdin/bb:1");
    let path = write_images(
        Format::Docker25,
        std::slice::from_ref(&image),
        &store.work("bb.tar"),
    );
    let archive = std::fs::read(&path).unwrap();
    let out = store.run_with_stdin(["load"], &archive);
    assert!(out.status.success(), "{}", describe(&out));
    store.assert_loaded(&parse_record(&out), &image);
    assert!(
        store.tmp_entries().is_empty(),
        "the spooled copy is removed"
    );
    Failure::expect(&store.run_with_stdin(["load", "-"], b"")).assert_mentions("empty");
}

#[test]
fn pipeline_entry_loads_a_path_or_looks_up_a_name() {
    let store = TestStore::new();
    let image = busybox_image("pipe/bb:1");
    let path = write_images(
        Format::Docker25,
        std::slice::from_ref(&image),
        &store.work("bb.tar"),
    );
    let first = parse_record(&store.ok([path.to_str().unwrap()]));
    store.assert_loaded(&first, &image);
    let again = parse_record(&store.ok(["pipe/bb:1"]));
    assert_eq!(again["image"]["id"], image.id().as_str());
    assert_eq!(again["image"]["layers"], first["image"]["layers"]);
    let by_id = parse_record(&store.ok([image.id().as_str()]));
    assert_eq!(by_id["image"]["id"], image.id().as_str());

    let missing = Failure::expect(&store.run(["pipe/nosuch:1"]));
    missing.assert_mentions("nosuch");
    // …with how to bring one in.
    missing.assert_mentions("Unable to find image 'pipe/nosuch:1' locally");
    missing.assert_mentions("docker save pipe/nosuch:1 | berth-unpack load");
    missing.assert_mentions("scripts/make-busybox-image.sh");
}

#[test]
fn usage_errors_exit_2() {
    let store = TestStore::new();
    for args in [&["--no-such-flag"][..], &["save", "-o"][..]] {
        let out = store.run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "berth-unpack {args:?}:\n{}",
            describe(&out)
        );
    }
}

#[test]
fn load_of_missing_file_fails_cleanly() {
    let store = TestStore::new();
    let out = store.run(["load", store.work("does-not-exist.tar").to_str().unwrap()]);
    Failure::expect(&out).assert_mentions("does-not-exist.tar");
}
