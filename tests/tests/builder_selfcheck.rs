//! The test image builder itself, checked against independent readers (the tar crate,
//! GNU tar, skopeo, umoci), so that a failure elsewhere is berth's and not the builder's.
//! These tests do not run berth.

use std::process::Command;

use berth_tests::formats::write_images;
use berth_tests::image::{
    busybox_entries, cap_net_raw_ep, pax_records, tar_bytes, Compression, Entry, Layer,
};
use berth_tests::tools::{require_tool, run_ok};
use berth_tests::{chain_ids, digest_of, Format, ImageSpec, TestStore};
use serde_json::Value;

#[test]
fn pax_record_lengths_count_themselves() {
    let recs = pax_records(&[("path".into(), b"a".to_vec()), ("k".into(), vec![b'v'; 95])]);
    let text = String::from_utf8(recs).unwrap();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let (len, _) = rest.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        assert!(rest[..len].ends_with('\n'), "{rest:?}");
        rest = &rest[len..];
    }
}

#[test]
fn layer_tar_reads_back_with_the_tar_crate() {
    let long = format!("d/{}", "n".repeat(150));
    let entries = vec![
        Entry::dir("d").mode(0o1777).owner(3, 4).mtime(42),
        Entry::file(&long, "long").xattr("security.capability", cap_net_raw_ep()),
        Entry::symlink("s", "../../x"),
        Entry::hardlink("h", "/bin/busybox"),
        Entry::char_dev("c", 1, 3),
        Entry::file("../escape", "e"),
        Entry::whiteout("d/gone"),
        Entry::opaque("d"),
    ];
    let bytes = tar_bytes(&entries);
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let xattrs: Vec<(String, Vec<u8>)> = entry
            .pax_extensions()
            .unwrap()
            .map(|exts| {
                exts.filter_map(|e| {
                    let e = e.unwrap();
                    e.key()
                        .unwrap()
                        .strip_prefix("SCHILY.xattr.")
                        .map(|k| (k.to_string(), e.value_bytes().to_vec()))
                })
                .collect()
            })
            .unwrap_or_default();
        let h = entry.header();
        seen.push((
            path,
            link,
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.mtime().unwrap(),
            xattrs,
        ));
    }
    let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "d",
            long.as_str(),
            "s",
            "h",
            "c",
            "../escape",
            "d/.wh.gone",
            "d/.wh..wh..opq"
        ]
    );
    assert_eq!((seen[0].2, seen[0].3, seen[0].4), (0o1777, 3, 42));
    assert_eq!(
        seen[1].5,
        vec![("security.capability".to_string(), cap_net_raw_ep())]
    );
    assert_eq!(seen[2].1.as_deref(), Some("../../x"));
    assert_eq!(seen[3].1.as_deref(), Some("/bin/busybox"));
}

#[test]
fn layer_tar_reads_back_with_gnu_tar() {
    let store = TestStore::new();
    let path = store.work("layer.tar");
    std::fs::write(&path, tar_bytes(&busybox_entries())).unwrap();
    let out = run_ok(Command::new("tar").arg("-tvf").arg(&path));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bin/busybox"), "{text}");
    assert!(text.contains("bin/sh -> busybox"), "{text}");
    assert!(text.contains("drwxrwxrwt"), "{text}");
}

#[test]
fn chain_ids_follow_the_oci_definition() {
    let ids = chain_ids(&["sha256:a".into(), "sha256:b".into()]);
    assert_eq!(ids[0], "sha256:a");
    assert_eq!(ids[1], digest_of(b"sha256:a sha256:b"));
}

fn spec() -> ImageSpec {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::Gzip),
        Layer::new(vec![Entry::dir("etc"), Entry::file("etc/x", "x")])
            .compressed(Compression::None),
    ])
    .name("self/check:1")
}

#[test]
fn skopeo_reads_every_format_the_builder_writes() {
    require_tool("skopeo");
    let store = TestStore::new();
    let image = spec().build();
    for (format, transport, file) in [
        (Format::DockerClassic, "docker-archive", "classic.tar"),
        (Format::Docker25, "docker-archive", "d25.tar"),
        (Format::OciDir, "oci", "oci"),
        (Format::OciArchive, "oci-archive", "oci.tar"),
    ] {
        let path = write_images(format, std::slice::from_ref(&image), &store.work(file));
        let reference = format!("{transport}:{}", path.display());
        let out = run_ok(Command::new("skopeo").args(["inspect", "--config", &reference]));
        let config: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!(image.diff_ids()),
            "{format:?}"
        );
        assert_eq!(config["architecture"], "amd64");
        // skopeo verifies blob digests when it copies.
        let dest = store.work(&format!("{file}.copy"));
        run_ok(
            Command::new("skopeo")
                .args(["copy", "--quiet", &reference])
                .arg(format!("oci:{}:t", dest.display())),
        );
    }
}

#[test]
fn umoci_unpacks_the_builder_oci_dir() {
    require_tool("umoci");
    let store = TestStore::new();
    let image = ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::Gzip),
        Layer::new(vec![
            Entry::dir("etc"),
            Entry::whiteout("etc/group"),
            Entry::file("etc/x", "x"),
        ]),
    ])
    .name("t")
    .build();
    let oci = write_images(
        Format::OciDir,
        std::slice::from_ref(&image),
        &store.work("oci"),
    );
    let bundle = store.work("bundle");
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:t", oci.display()))
            .arg(&bundle),
    );
    assert!(bundle.join("rootfs/bin/busybox").is_file());
    assert!(bundle.join("rootfs/etc/x").is_file());
    assert!(!bundle.join("rootfs/etc/group").exists());
}

#[test]
fn overlay_listing_of_one_tree_matches_its_plain_listing() {
    require_tool("umoci");
    let store = TestStore::new();
    let image = ImageSpec::busybox().name("t").build();
    let oci = write_images(
        Format::OciDir,
        std::slice::from_ref(&image),
        &store.work("oci"),
    );
    let bundle = store.work("bundle");
    run_ok(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:t", oci.display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    let empty = store.work("empty");
    let mnt = store.work("mnt");
    std::fs::create_dir(&empty).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    let plain = berth_tests::tools::list_tree(&rootfs);
    assert!(
        plain
            .iter()
            .any(|l| l.starts_with("./bin/busybox f 755 0 0 ")),
        "{plain:?}"
    );
    assert!(
        plain.iter().any(|l| l.ends_with("  ./bin/busybox")),
        "{plain:?}"
    );
    let merged = berth_tests::tools::list_overlay(&[rootfs, empty], &mnt);
    assert_eq!(plain, merged);
    assert_eq!(
        std::fs::read_dir(&mnt).unwrap().count(),
        0,
        "the mount leaked into the test's namespace"
    );
}
