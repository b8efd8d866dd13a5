//! Several `berth-unpack load` processes of the same image at once.

use std::process::Stdio;

use berth_tests::formats::write_images;
use berth_tests::image::{busybox_entries, Compression, Entry, Layer};
use berth_tests::store::{describe, parse_record};
use berth_tests::{hex_part, Format, ImageSpec, TestStore};

fn image() -> berth_tests::BuiltImage {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::Gzip),
        Layer::new(vec![Entry::dir("etc"), Entry::file("etc/one", "1")])
            .compressed(Compression::Zstd),
        Layer::new(vec![
            Entry::dir("etc"),
            Entry::file("etc/two", vec![7u8; 1 << 20]),
        ]),
    ])
    .name("race/img:1")
    .build()
}

fn race(format: Format, processes: usize) {
    let store = TestStore::new();
    let image = image();
    let path = write_images(format, std::slice::from_ref(&image), &store.work("image"));
    let children: Vec<_> = (0..processes)
        .map(|_| {
            store
                .command()
                .arg("load")
                .arg(&path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert!(
            out.status.success(),
            "a concurrent load failed:\n{}",
            describe(out)
        );
        let record = parse_record(out);
        store.assert_loaded(&record, &image);
        assert_eq!(
            record["image"]["layers"],
            parse_record(&outputs[0])["image"]["layers"]
        );
    }
    let want: std::collections::BTreeSet<String> = image
        .chain_ids()
        .iter()
        .map(|c| hex_part(c).to_string())
        .collect();
    let got = store.layer_entries();
    assert_eq!(got.len(), want.len(), "each layer once: {got:?}");
    for chain in &want {
        assert!(
            got.iter().any(|g| g.contains(chain.as_str())),
            "chain {chain} missing from {got:?}"
        );
    }
    let named: Vec<_> = store.index()["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m["digest"] == record_manifest(&outputs[0]))
        .collect();
    assert_eq!(
        named.len(),
        1,
        "the image is in index.json once: {}",
        store.index()
    );
    assert!(
        store.tmp_entries().is_empty(),
        "tmp/ left: {:?}",
        store.tmp_entries()
    );
    assert_eq!(
        store.inspect("race/img:1").expect("named")["Id"],
        image.id().as_str()
    );
}

fn record_manifest(out: &std::process::Output) -> serde_json::Value {
    parse_record(out)["image"]["manifest"].clone()
}

#[test]
fn two_concurrent_loads_of_one_archive() {
    race(Format::Docker25, 2);
}

#[test]
fn four_concurrent_loads_of_one_oci_dir() {
    race(Format::OciDir, 4);
}

#[test]
fn concurrent_loads_repeated() {
    for _ in 0..5 {
        race(Format::DockerClassic, 3);
    }
}

/// Refused loads under CPU contention: a helper thread still writing a temp file when the
/// process gives up would leave it behind. Each of several stores sees many refusals.
#[test]
fn refused_loads_under_load_leave_no_temp_files() {
    let image = ImageSpec::new(vec![Layer::new(vec![
        Entry::dir("etc"),
        Entry::file("../../../escaped", vec![b'x'; 100]),
    ])
    .compressed(Compression::Gzip)])
    .name("race/evil:1")
    .build();
    let threads: Vec<_> = (0..12)
        .map(|_| {
            let image = image.clone();
            std::thread::spawn(move || {
                let store = TestStore::new();
                let path = write_images(
                    Format::OciArchive,
                    std::slice::from_ref(&image),
                    &store.work("evil.tar"),
                );
                let mut leaks = Vec::new();
                for _ in 0..150 {
                    let out = store.run([std::ffi::OsStr::new("load"), path.as_os_str()]);
                    berth_tests::Failure::expect(&out).assert_mentions("escaped");
                    let left = store.tmp_entries();
                    if !left.is_empty() {
                        leaks.push(left.clone());
                        for name in left {
                            let _ = std::fs::remove_file(store.root().join("tmp").join(name));
                        }
                    }
                    assert!(store.layer_entries().is_empty());
                }
                leaks
            })
        })
        .collect();
    let leaks: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        leaks.is_empty(),
        "{} of 1800 refused loads left files in tmp/: {leaks:?}",
        leaks.len()
    );
}
