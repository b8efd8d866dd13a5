//! berth's layers merged by overlayfs must show the same tree as `umoci unpack` of the
//! same OCI image: names, types, modes, owners, link targets, device numbers, contents.

use std::collections::BTreeSet;
use std::process::Command;

use berth_tests::formats::write_images;
use berth_tests::image::{busybox_entries, Compression, Entry, Layer};
use berth_tests::tools::{list_overlay, list_tree, require_tool, run_ok};
use berth_tests::{Format, ImageSpec, TestStore};

fn layers() -> Vec<Layer> {
    let mut l0 = busybox_entries();
    l0.extend([
        Entry::file("etc/motd", "v1\n"),
        Entry::dir("etc/conf.d"),
        Entry::file("etc/conf.d/a.conf", "a"),
        Entry::file("etc/conf.d/b.conf", "b"),
        Entry::dir("var"),
        Entry::dir("var/lib"),
        Entry::file("var/lib/state", "state"),
        Entry::dir("var/lib/keep"),
        Entry::dir("opt"),
        Entry::dir("opt/app"),
        Entry::dir("opt/app/bin"),
        Entry::exe("opt/app/bin/app", "#!/bin/sh\necho app\n"),
        Entry::file("opt/app/lib.so", "lib"),
        Entry::dir("dev"),
        Entry::char_dev("dev/null", 1, 3).mode(0o666),
        Entry::dir("links"),
        Entry::file("links/target", "target"),
        Entry::hardlink("links/hl", "links/target"),
        Entry::symlink("links/sl", "target"),
        Entry::dir("replace-me-dir"),
        Entry::file("replace-me-dir/child", "c"),
        Entry::file("replace-me-file", "f"),
        Entry::file("to-symlink", "s"),
    ]);
    let l1 = vec![
        Entry::dir("etc"),
        Entry::file("etc/motd", "v2\n").mode(0o600),
        Entry::dir("opt"),
        Entry::dir("opt/app").mode(0o750),
        Entry::opaque("opt/app"),
        Entry::file("opt/app/new", "new"),
        Entry::dir("var"),
        Entry::dir("var/lib"),
        Entry::whiteout("var/lib/state"),
        Entry::file("replace-me-dir", "now a file"),
        Entry::dir("replace-me-file").mode(0o711),
        Entry::file("replace-me-file/inside", "inside"),
        Entry::symlink("to-symlink", "etc/motd"),
        Entry::dir("l1"),
        Entry::file("l1/one", "one").owner(5, 6),
        Entry::hardlink("l1/two", "l1/one"),
    ];
    let l2 = vec![
        Entry::dir("etc"),
        Entry::whiteout("etc/motd"),
        Entry::dir("links"),
        Entry::file("links/sl", "no longer a symlink"),
        Entry::dir("dev"),
        Entry::fifo("dev/fifo"),
        Entry::char_dev("dev/zero", 1, 5).mode(0o666),
        Entry::block_dev("dev/sda", 8, 0).mode(0o660).owner(0, 6),
        Entry::dir("opt"),
        Entry::dir("opt/app").mode(0o750),
        Entry::exe("opt/app/new", "new v2").mode(0o700),
        Entry::dir("home"),
        Entry::dir("home/user").mode(0o700).owner(1000, 1000),
        Entry::symlink("home/user/link", "../../etc/passwd").owner(1000, 1000),
        Entry::file("home/user/.profile", "export A=b\n").owner(1000, 1000),
        Entry::dir("usr"),
        Entry::dir("usr/bin"),
        Entry::exe("usr/bin/su", "su").mode(0o4755),
        Entry::dir("srv").mode(0o1777),
    ];
    let l3 = vec![
        Entry::dir("var"),
        Entry::whiteout("var/lib"),
        Entry::dir("etc"),
        Entry::dir("etc/conf.d"),
        Entry::opaque("etc/conf.d"),
        Entry::file("etc/conf.d/c.conf", "c"),
        Entry::dir("l1"),
        Entry::whiteout("l1/one"),
    ];
    vec![
        Layer::new(l0).compressed(Compression::Gzip),
        Layer::new(l1).compressed(Compression::None),
        // umoci 0.4.7 cannot read zstd layers.
        Layer::new(l2).compressed(Compression::Gzip),
        Layer::new(l3).compressed(Compression::Gzip),
    ]
}

#[test]
fn overlay_of_berth_layers_matches_umoci_unpack() {
    require_tool("umoci");
    let store = TestStore::new();
    let image = ImageSpec::new(layers()).name("cmp").build();
    let oci = write_images(
        Format::OciDir,
        std::slice::from_ref(&image),
        &store.work("oci"),
    );

    let bundle = store.work("bundle");
    run_ok(
        Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:cmp", oci.display()))
            .arg(&bundle),
    );
    let expected = list_tree(&bundle.join("rootfs"));

    // Sanity: the listings are not trivially empty and saw the interesting cases.
    for needle in [
        "./bin/busybox f 755 0 0 ",
        "./replace-me-dir f ",
        "./to-symlink l 777 0 0 etc/motd",
        "./dev/sda 8:0",
    ] {
        assert!(
            expected.iter().any(|l| l.starts_with(needle)),
            "umoci listing lacks {needle:?}:\n{}",
            expected.join("\n")
        );
    }
    for gone in [
        "./etc/motd ",
        "./var/lib ",
        "./l1/one ",
        "./etc/conf.d/a.conf ",
        "./opt/app/lib.so ",
    ] {
        assert!(
            !expected.iter().any(|l| l.starts_with(gone)),
            "umoci listing has deleted {gone:?}"
        );
    }

    let record = store.load(&oci);
    store.assert_loaded(&record, &image);
    let mnt = store.work("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let got = list_overlay(&store.record_layers(&record), &mnt);

    if got != expected {
        let e: BTreeSet<&String> = expected.iter().collect();
        let g: BTreeSet<&String> = got.iter().collect();
        let only_umoci: Vec<_> = e.difference(&g).collect();
        let only_berth: Vec<_> = g.difference(&e).collect();
        panic!(
            "overlay of berth's layers differs from umoci unpack\nonly in umoci:\n{}\nonly in berth:\n{}",
            only_umoci.iter().map(|s| format!("  {s}")).collect::<Vec<_>>().join("\n"),
            only_berth.iter().map(|s| format!("  {s}")).collect::<Vec<_>>().join("\n"),
        );
    }
}
