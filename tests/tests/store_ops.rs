//! `ls`, `inspect`, `tag`, `rm` and `prune`.

use berth_tests::formats::write_images;
use berth_tests::image::{busybox_entries, Entry, Layer};
use berth_tests::store::describe;
use berth_tests::{hex_part, BuiltImage, Failure, Format, ImageSpec, TestStore};
use serde_json::Value;

/// Image A: the busybox layer. Image B: busybox plus one layer. They share the base.
fn two_images() -> (BuiltImage, BuiltImage) {
    let a = ImageSpec::busybox().name("ops/a:1").build();
    let b = ImageSpec::new(vec![
        Layer::new(busybox_entries()),
        Layer::new(vec![Entry::dir("etc"), Entry::file("etc/b", "b")]),
    ])
    .name("ops/b:1")
    .build();
    (a, b)
}

fn load(store: &TestStore, image: &BuiltImage, format: Format, file: &str) -> Value {
    let path = write_images(format, std::slice::from_ref(image), &store.work(file));
    let record = store.load(&path);
    store.assert_loaded(&record, image);
    record
}

fn short(id: &str) -> &str {
    &hex_part(id)[..12]
}

/// Manifests listed in the store's index.json.
fn index_manifests(store: &TestStore) -> Vec<Value> {
    store.index()["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn ls_lists_names_and_ids() {
    let store = TestStore::new();
    let (a, b) = two_images();
    load(&store, &a, Format::Docker25, "a.tar");
    load(&store, &b, Format::DockerClassic, "b.tar");

    let out = store.ok(["ls"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let header = text.lines().next().unwrap_or("");
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "ls header lacks {col}:\n{text}");
    }
    for (image, repo) in [(&a, "ops/a"), (&b, "ops/b")] {
        let line = text
            .lines()
            .find(|l| l.contains(short(&image.id())))
            .unwrap_or_else(|| panic!("ls has no line with {}:\n{text}", short(&image.id())));
        assert!(
            line.contains(repo) && line.contains(" 1 "),
            "ls line for {repo}: {line}"
        );
    }

    let out = store.ok(["ls", "-q"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "ls -q:\n{text}");
    for image in [&a, &b] {
        let hex = hex_part(&image.id()).to_string();
        assert!(
            lines
                .iter()
                .any(|l| l.len() >= 12 && hex.starts_with(hex_part(l))),
            "ls -q lacks {hex}:\n{text}"
        );
    }

    let out = store.ok(["ls", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let parsed: Vec<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(items)) => items,
        Ok(other) => vec![other],
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("ls --json line {l:?}: {e}"))
            })
            .collect(),
    };
    assert_eq!(parsed.len(), 2, "ls --json: {text}");
    for image in [&a, &b] {
        assert!(
            text.contains(short(&image.id())),
            "ls --json lacks {}: {text}",
            image.id()
        );
    }
}

#[test]
fn inspect_looks_like_docker_and_resolves_ids() {
    let store = TestStore::new();
    let (_, b) = two_images();
    let record = load(&store, &b, Format::OciArchive, "b.tar");
    let inspected = store.inspect("ops/b:1").expect("inspect by name");
    assert_eq!(inspected["Id"], b.id().as_str());
    let tags: Vec<&str> = inspected["RepoTags"]
        .as_array()
        .expect("RepoTags")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tags.iter()
            .any(|t| berth_tests::tools::name_matches(t, "ops/b:1")),
        "RepoTags {tags:?}"
    );
    assert_eq!(inspected["RootFS"]["Type"], "layers");
    let diff_ids: Vec<&str> = inspected["RootFS"]["Layers"]
        .as_array()
        .expect("RootFS.Layers")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        diff_ids,
        b.diff_ids().iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(inspected["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Os"], "linux");
    let berth_layers: Vec<std::path::PathBuf> = inspected["BerthLayers"]
        .as_array()
        .expect("BerthLayers")
        .iter()
        .map(|p| p.as_str().unwrap().into())
        .collect();
    let record_layers: Vec<std::path::PathBuf> = record["image"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().into())
        .collect();
    assert_eq!(berth_layers, record_layers);

    let hex = hex_part(&b.id()).to_string();
    for reference in [
        b.id(),
        hex.clone(),
        hex[..12].to_string(),
        format!("sha256:{}", &hex[..12]),
        hex[..4].to_string(),
    ] {
        let got = store
            .inspect(&reference)
            .unwrap_or_else(|| panic!("inspect {reference} failed"));
        assert_eq!(got["Id"], b.id().as_str(), "inspect {reference}");
    }
    let out = store.run(["inspect", "ops/b:nope"]);
    Failure::expect_command(&out).assert_mentions("ops/b:nope");
}

#[test]
fn missing_tag_means_latest() {
    let store = TestStore::new();
    let image = ImageSpec::busybox().name("ops/plain:latest").build();
    load(&store, &image, Format::Docker25, "p.tar");
    assert_eq!(
        store
            .inspect("ops/plain")
            .expect("ops/plain = ops/plain:latest")["Id"],
        image.id().as_str()
    );
}

#[test]
fn tag_adds_a_name_and_rm_of_one_of_two_names_only_untags() {
    let store = TestStore::new();
    let (a, _) = two_images();
    load(&store, &a, Format::Docker25, "a.tar");
    store.ok(["tag", "ops/a:1", "other/name:2"]);
    assert_eq!(
        store.inspect("other/name:2").expect("new tag")["Id"],
        a.id().as_str()
    );
    let ls = String::from_utf8_lossy(&store.ok(["ls"]).stdout).into_owned();
    assert!(
        ls.contains("other/name") && ls.contains("ops/a"),
        "ls after tag:\n{ls}"
    );

    let layers_before = store.layer_entries();
    let blobs_before = store.blobs();
    store.ok(["rm", "ops/a:1"]);
    assert!(
        store.inspect("ops/a:1").is_none(),
        "ops/a:1 still resolves after rm"
    );
    assert_eq!(
        store.inspect("other/name:2").expect("other tag survives")["Id"],
        a.id().as_str()
    );
    assert_eq!(
        store.layer_entries(),
        layers_before,
        "untagging must not delete layers"
    );
    assert_eq!(
        store.blobs(),
        blobs_before,
        "untagging must not delete blobs"
    );

    store.ok(["rm", "other/name:2"]);
    assert!(
        store.inspect(&a.id()).is_none(),
        "image still there after its last name was removed"
    );
    assert!(
        store.layer_entries().is_empty(),
        "layers left: {:?}",
        store.layer_entries()
    );
    assert!(store.blobs().is_empty(), "blobs left: {:?}", store.blobs());
    assert!(
        index_manifests(&store).is_empty(),
        "index: {}",
        store.index()
    );
}

#[test]
fn rm_keeps_layers_shared_with_another_image() {
    let store = TestStore::new();
    let (a, b) = two_images();
    let rec_a = load(&store, &a, Format::Docker25, "a.tar");
    let rec_b = load(&store, &b, Format::OciDir, "b");
    let base = store.record_layers(&rec_a)[0].clone();
    assert_eq!(
        base,
        store.record_layers(&rec_b)[0],
        "the base layer is shared"
    );
    assert_eq!(store.layer_entries().len(), 2);

    store.ok(["rm", "ops/a:1"]);
    assert!(store.inspect(&a.id()).is_none());
    assert!(
        base.join("bin/busybox").is_file(),
        "shared layer removed with image A"
    );
    assert_eq!(
        store.inspect("ops/b:1").expect("B survives")["Id"],
        b.id().as_str()
    );
    for layer in store.record_layers(&rec_b) {
        assert!(layer.is_dir(), "{} of B removed", layer.display());
    }
    assert!(
        !store.blobs().contains(hex_part(&a.config_digest)),
        "A's config blob left behind"
    );
    assert!(store.blobs().contains(hex_part(&b.config_digest)));

    store.ok(["rm", &b.id()]);
    assert!(
        store.layer_entries().is_empty(),
        "layers left: {:?}",
        store.layer_entries()
    );
    assert!(store.blobs().is_empty(), "blobs left: {:?}", store.blobs());
}

#[test]
fn prune_removes_only_untagged_images() {
    let store = TestStore::new();
    let (a, _) = two_images();
    load(&store, &a, Format::DockerClassic, "a.tar");
    let dangling = ImageSpec::new(vec![
        Layer::new(busybox_entries()),
        Layer::new(vec![Entry::dir("etc"), Entry::file("etc/dangling", "d")]),
    ])
    .build(); // no name anywhere
    let rec_d = load(&store, &dangling, Format::OciDir, "dangling");
    let only_dangling = store.record_layers(&rec_d)[1].clone();
    assert_eq!(store.layer_entries().len(), 2);

    let out = store.ok(["prune"]);
    assert!(
        store.inspect(&dangling.id()).is_none(),
        "dangling image survived prune:\n{}",
        describe(&out)
    );
    assert!(
        !only_dangling.exists(),
        "layer used only by the dangling image survived prune"
    );
    assert_eq!(
        store
            .inspect("ops/a:1")
            .expect("tagged image survives prune")["Id"],
        a.id().as_str()
    );
    assert_eq!(store.layer_entries().len(), 1);
    assert!(store.blobs().contains(hex_part(&a.config_digest)));
    assert!(!store.blobs().contains(hex_part(&dangling.config_digest)));
    assert_eq!(index_manifests(&store).len(), 1, "index: {}", store.index());
}

#[test]
fn rm_of_unknown_image_fails() {
    let store = TestStore::new();
    let (a, _) = two_images();
    load(&store, &a, Format::Docker25, "a.tar");
    let before = store.snapshot();
    Failure::expect_command(&store.run(["rm", "ops/none:1"])).assert_mentions("ops/none:1");
    before.assert_same(&store.snapshot(), "rm of an unknown image");
}
