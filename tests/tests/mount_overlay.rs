//! `berth-mount`: the overlay over the image's layers, with both mount methods (the new
//! mount API's `lowerdir+` and Docker-style short links), including a 128-layer image.

#[path = "mount_support.rs"]
mod support;

use std::path::Path;

use berth_tests::image::{busybox_entries, Entry, Layer};
use berth_tests::ImageSpec;
use support::{is_hex64, MountEnv};

const METHODS: [&str; 2] = ["fsconfig", "links"];

fn three_layer_image() -> ImageSpec {
    let mut base = busybox_entries();
    base.extend([
        Entry::file("etc/a", "a"),
        Entry::dir("dir"),
        Entry::file("dir/x", "x"),
        Entry::file("dir/y", "y"),
        Entry::file("keep", "base"),
    ]);
    let middle = vec![
        Entry::whiteout("etc/a"),
        Entry::file("etc/b", "b"),
        Entry::dir("dir"),
        Entry::opaque("dir"),
        Entry::file("dir/z", "z"),
    ];
    let top = vec![Entry::file("top", "top"), Entry::file("keep", "top")];
    ImageSpec::new(vec![Layer::new(base), Layer::new(middle), Layer::new(top)])
}

#[test]
fn merged_view_has_every_layer_with_whiteouts_applied() {
    for method in METHODS {
        let env = MountEnv::new();
        let record = env.load(&three_layer_image().build());
        let m = env.mount(&record, &["--overlay-method", method]);
        assert!(is_hex64(&m.id), "container id {}", m.id);
        assert!(m.record["container"]["created"]
            .as_str()
            .unwrap()
            .ends_with('Z'));
        assert_eq!(m.record["rootfs"]["readonly"], false);
        assert_eq!(
            m.rootfs,
            env.run_dir().join("containers").join(&m.id).join("rootfs")
        );
        assert_eq!(
            m.upper,
            env.root().join("containers").join(&m.id).join("upper")
        );
        assert!(
            env.is_mounted(&m.rootfs),
            "{method}: nothing mounted at {}",
            m.rootfs.display()
        );
        let r = &m.rootfs;
        assert!(r.join("bin/busybox").is_file(), "{method}");
        assert_eq!(
            std::fs::read_link(r.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert_eq!(std::fs::read(r.join("etc/b")).unwrap(), b"b");
        assert!(!r.join("etc/a").exists(), "{method}: whiteout not applied");
        assert_eq!(std::fs::read(r.join("dir/z")).unwrap(), b"z");
        assert!(
            !r.join("dir/x").exists(),
            "{method}: opaque dir not applied"
        );
        assert_eq!(std::fs::read(r.join("keep")).unwrap(), b"top");
        assert_eq!(std::fs::read(r.join("top")).unwrap(), b"top");

        // Writes land in the container's upper dir, never in a layer.
        std::fs::write(r.join("keep"), "changed").unwrap();
        assert_eq!(std::fs::read(m.upper.join("keep")).unwrap(), b"changed");
        let layers = env.store.record_layers(&record);
        assert_eq!(std::fs::read(layers[2].join("keep")).unwrap(), b"top");

        env.ok(&["down", "--id", &m.id], b"");
        assert!(
            !env.is_mounted(&m.rootfs),
            "{method}: still mounted after down"
        );
        assert!(!m.rootfs.exists());
        assert_eq!(
            std::fs::read(m.upper.join("keep")).unwrap(),
            b"changed",
            "down keeps the upper dir"
        );
    }
}

#[test]
fn image_with_128_layers_mounts() {
    let mut layers = vec![Layer::new(vec![
        Entry::dir("data"),
        Entry::file("data/f0", "0"),
    ])];
    for i in 1..128 {
        let mut entries = vec![Entry::file(format!("data/f{i}"), i.to_string())];
        if i == 127 {
            entries.push(Entry::whiteout("data/f0"));
        }
        layers.push(Layer::new(entries));
    }
    let image = ImageSpec::new(layers).build();
    for method in METHODS {
        let env = MountEnv::new();
        let record = env.load(&image);
        assert_eq!(record["image"]["layers"].as_array().unwrap().len(), 128);
        let m = env.mount(&record, &["--overlay-method", method]);
        assert!(env.is_mounted(&m.rootfs), "{method}");
        for i in 1..128 {
            let f = m.rootfs.join(format!("data/f{i}"));
            assert_eq!(
                std::fs::read_to_string(&f).unwrap(),
                i.to_string(),
                "{method}: {}",
                f.display()
            );
        }
        assert!(
            !m.rootfs.join("data/f0").exists(),
            "{method}: top layer's whiteout"
        );
        if method == "links" {
            let links = std::fs::read_dir(env.root().join("layers/l"))
                .unwrap()
                .count();
            assert_eq!(links, 128, "one short link per layer");
        }
        env.ok(&["down", "--remove", "--id", &m.id], b"");
        assert!(!env.is_mounted(&m.rootfs));
    }
}

#[test]
fn auto_method_mounts_and_record_passes_through_unknown_parts() {
    let env = MountEnv::new();
    let mut record = env.load(&ImageSpec::busybox().build());
    record["net"] = serde_json::json!({"keep": "me"});
    let m = env.mount(&record, &["--name", "web-1"]);
    assert_eq!(m.record["net"]["keep"], "me");
    assert_eq!(m.record["container"]["name"], "web-1");
    assert_eq!(m.record["run_dir"], env.run_dir().display().to_string());
    assert!(m.rootfs.join("bin/busybox").is_file());
    // The name is taken now.
    let out = env.run(&["--name", "web-1"], record.to_string().as_bytes());
    let message = support::expect_failure(&out);
    assert!(
        message.contains("web-1") && message.contains(&m.id),
        "{message}"
    );
    // A record that already has a rootfs is refused.
    let out = env.run(&[], m.record.to_string().as_bytes());
    let message = support::expect_failure(&out);
    assert!(
        message.contains("already has a root filesystem"),
        "{message}"
    );
    // down by name.
    env.ok(&["rm", "--id", "web-1"], b"");
    assert!(!env.is_mounted(&m.rootfs));
    assert!(!env.root().join("containers").join(&m.id).exists());
}

#[test]
fn upstream_errors_and_bad_records_fail_cleanly() {
    let env = MountEnv::new();
    let out = env.run(&[], br#"{"error":"no such image: nope"}"#);
    let message = support::expect_failure(&out);
    assert!(message.contains("no such image: nope"), "{message}");
    let out = env.run(&[], b"");
    support::expect_failure(&out);
}
