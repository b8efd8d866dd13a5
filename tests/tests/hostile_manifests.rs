//! Images whose manifest or config lie about their layers, and layers that decompress
//! beyond `--max-layer-size`: refused with exit 125 and the store exactly as before.

use berth_tests::formats::write_images;
use berth_tests::image::{busybox_entries, Compression, Entry, Layer};
use berth_tests::{hex_part, BuiltImage, Corruption, Failure, Format, ImageSpec, TestStore};

/// Busybox plus a small second layer, so the damaged layer is not the one shared with the
/// image already in the store.
fn spec() -> ImageSpec {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()),
        Layer::new(vec![Entry::dir("etc"), Entry::file("etc/second", "2")])
            .compressed(Compression::Gzip),
    ])
    .name("damaged/img:1")
}

/// Loads `image` (in `format`, with `extra` flags) into a store already holding another
/// image; expects a refusal mentioning one of `needles` and no change to the store.
fn assert_refused(image: &BuiltImage, format: Format, extra: &[&str], needles: &[&str]) -> Failure {
    let store = TestStore::new();
    let primer = ImageSpec::busybox().name("primer/bb:1").build();
    let path = write_images(
        Format::Docker25,
        std::slice::from_ref(&primer),
        &store.work("bb.tar"),
    );
    store.load(&path);
    let outside = store.work("outside");
    std::fs::write(&outside, "precious\n").unwrap();
    let before = store.snapshot();

    let path = write_images(format, std::slice::from_ref(image), &store.work("image"));
    let mut args = vec!["load"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let failure = Failure::expect(&store.run(&args));
    eprintln!("refused as expected: {}", failure.message);
    assert_eq!(std::fs::read(&outside).unwrap(), b"precious\n");
    let mut work: Vec<String> = std::fs::read_dir(store.work(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    work.sort();
    assert_eq!(
        work,
        ["bb.tar", "image", "outside"],
        "files appeared next to the inputs"
    );
    failure.assert_mentions_any(needles);
    before.assert_same(&store.snapshot(), "refused load");
    assert!(
        store.tmp_entries().is_empty(),
        "tmp/ left: {:?}",
        store.tmp_entries()
    );
    assert!(
        store.inspect("damaged/img:1").is_none(),
        "the damaged image got a name"
    );
    failure
}

fn short(digest: &str) -> &str {
    &hex_part(digest)[..12]
}

#[test]
fn layer_digest_mismatch_oci_dir() {
    let image = spec().corrupt(Corruption::LayerDigest(1)).build();
    let l = &image.layers[1];
    assert_refused(
        &image,
        Format::OciDir,
        &[],
        &[short(&l.digest), short(&l.real_digest)],
    );
}

#[test]
fn layer_digest_mismatch_docker25() {
    let image = spec().corrupt(Corruption::LayerDigest(1)).build();
    let l = &image.layers[1];
    assert_refused(
        &image,
        Format::Docker25,
        &[],
        &[short(&l.digest), short(&l.real_digest)],
    );
}

#[test]
fn layer_digest_mismatch_oci_archive_bottom_layer() {
    let image = spec().corrupt(Corruption::LayerDigest(0)).build();
    let l = &image.layers[0];
    assert_refused(
        &image,
        Format::OciArchive,
        &[],
        &[short(&l.digest), short(&l.real_digest)],
    );
}

#[test]
fn layer_size_mismatch_oci_dir() {
    let image = spec().corrupt(Corruption::LayerSize(1)).build();
    assert_refused(
        &image,
        Format::OciDir,
        &[],
        &[short(&image.layers[1].digest)],
    );
}

#[test]
fn layer_size_mismatch_oci_archive() {
    let image = spec().corrupt(Corruption::LayerSize(1)).build();
    assert_refused(
        &image,
        Format::OciArchive,
        &[],
        &[short(&image.layers[1].digest)],
    );
}

#[test]
fn diff_id_mismatch_docker_classic() {
    let image = spec().corrupt(Corruption::DiffId(1)).build();
    let l = &image.layers[1];
    assert_refused(
        &image,
        Format::DockerClassic,
        &[],
        &[short(&l.diff_id), short(&l.config_diff_id)],
    );
}

#[test]
fn diff_id_mismatch_oci_dir() {
    let image = spec().corrupt(Corruption::DiffId(1)).build();
    let l = &image.layers[1];
    assert_refused(
        &image,
        Format::OciDir,
        &[],
        &[
            short(&l.diff_id),
            short(&l.config_diff_id),
            short(&l.digest),
        ],
    );
}

/// 8 MiB of zeros: a gzip blob of a few KiB.
fn bomb(compression: Compression) -> BuiltImage {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()),
        Layer::new(vec![Entry::file("zeros", vec![0u8; 8 << 20])]).compressed(compression),
    ])
    .name("damaged/img:1")
    .build()
}

#[test]
fn gzip_layer_beyond_max_layer_size_is_refused() {
    let image = bomb(Compression::Gzip);
    assert!(
        image.layers[1].blob.len() < 1 << 20,
        "the bomb should compress well"
    );
    let l = &image.layers[1];
    assert_refused(
        &image,
        Format::OciDir,
        &["--max-layer-size", "2m"],
        &[short(&l.digest), short(&l.diff_id)],
    );
}

#[test]
fn zstd_layer_beyond_max_layer_size_is_refused() {
    let image = bomb(Compression::Zstd);
    let l = &image.layers[1];
    assert_refused(
        &image,
        Format::Docker25,
        &["--max-layer-size", "4m"],
        &[short(&l.digest), short(&l.diff_id)],
    );
}

#[test]
fn layer_within_max_layer_size_is_accepted() {
    let store = TestStore::new();
    let image = bomb(Compression::Gzip);
    let path = write_images(
        Format::OciDir,
        std::slice::from_ref(&image),
        &store.work("image"),
    );
    let record = store.record(["load", "--max-layer-size", "64m", path.to_str().unwrap()]);
    store.assert_loaded(&record, &image);
    let zeros = store.record_layers(&record)[1].join("zeros");
    assert_eq!(std::fs::metadata(zeros).unwrap().len(), 8 << 20);
}
