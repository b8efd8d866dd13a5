//! Unpacked layers keep what the tar says: modes, owners, times, links, special files,
//! xattrs; whiteouts and opaque dirs become overlayfs's form.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_tests::formats::write_images;
use berth_tests::image::{busybox_entries, cap_net_raw_ep, Entry, Layer, DEFAULT_MTIME};
use berth_tests::{BuiltImage, Format, ImageSpec, TestStore};

const DIR_MTIME: u64 = 1_000_000_000;
const FILE_MTIME: u64 = 1_111_111_111;

fn long_name() -> String {
    format!("deep/{}/file-with-a-rather-long-name", "x".repeat(120))
}

fn long_target() -> String {
    format!("/{}/target", "t".repeat(150))
}

fn base_layer() -> Layer {
    let mut entries = busybox_entries();
    entries.extend([
        Entry::exe("bin/ping", "ping").xattr("security.capability", cap_net_raw_ep()),
        Entry::exe("bin/suid", "suid").mode(0o4755),
        Entry::exe("bin/sgid", "sgid").mode(0o2711).owner(0, 50),
        Entry::dir("srv")
            .mode(0o750)
            .owner(1000, 1000)
            .mtime(DIR_MTIME),
        Entry::file("srv/data", "data")
            .mode(0o600)
            .owner(1000, 1000)
            .mtime(FILE_MTIME),
        Entry::file("srv/big-uid", "big").owner(100000, 100001),
        Entry::dir("srv/sub").mode(0o700).mtime(DIR_MTIME + 1),
        Entry::file("srv/sub/x", "x"),
        Entry::dir("shared").mode(0o1777),
        Entry::file("shared/keep", "k"),
        Entry::dir("links"),
        Entry::file("links/a", "hard content")
            .mode(0o640)
            .owner(7, 8),
        Entry::hardlink("links/b", "links/a"),
        Entry::hardlink("links/c", "links/b"),
        Entry::symlink("links/rel", "a"),
        Entry::symlink("links/abs", "/etc/passwd"),
        Entry::symlink("links/dangling", "../nowhere/at/all"),
        Entry::symlink("links/dotdot", "../../../../../etc/shadow"),
        Entry::symlink("links/owned", "a").owner(1000, 1001),
        Entry::symlink("links/long", long_target()),
        Entry::dir("dev"),
        Entry::char_dev("dev/null", 1, 3).mode(0o666),
        Entry::block_dev("dev/loop0", 7, 0).mode(0o660).owner(0, 6),
        Entry::block_dev("dev/bigdev", 259, 70000).mode(0o600),
        Entry::fifo("dev/fifo").mode(0o620),
        Entry::dir("deep"),
        Entry::dir(format!("deep/{}", "x".repeat(120))),
        Entry::file(long_name(), "long"),
    ]);
    Layer::new(entries)
}

fn upper_layer() -> Layer {
    Layer::new(vec![
        Entry::dir("etc"),
        Entry::whiteout("etc/group"),
        Entry::whiteout("shared"),
        Entry::dir("srv")
            .mode(0o755)
            .owner(1000, 1000)
            .mtime(DIR_MTIME),
        Entry::opaque("srv"),
        Entry::file("srv/new", "new"),
    ])
}

fn image() -> BuiltImage {
    ImageSpec::new(vec![base_layer(), upper_layer()])
        .name("fidelity/img:1")
        .build()
}

/// Loads the fidelity image into a fresh store; returns the store and its layer dirs.
fn loaded(extra: &[&str]) -> (TestStore, Vec<PathBuf>) {
    let store = TestStore::new();
    let image = image();
    let path = write_images(
        Format::Docker25,
        std::slice::from_ref(&image),
        &store.work("img.tar"),
    );
    let mut args = vec!["load"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let record = store.record(&args);
    store.assert_loaded(&record, &image);
    let layers = store.record_layers(&record);
    (store, layers)
}

fn meta(path: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(rustix::io::Errno::NODATA) => None,
        Err(e) => panic!("lgetxattr {} {name}: {e}", path.display()),
    }
}

fn assert_attrs(path: &Path, mode: u32, uid: u32, gid: u32) {
    let m = meta(path);
    assert_eq!(
        m.mode() & 0o7777,
        mode,
        "mode of {} is {:o}",
        path.display(),
        m.mode() & 0o7777
    );
    assert_eq!(
        (m.uid(), m.gid()),
        (uid, gid),
        "owner of {}",
        path.display()
    );
}

#[test]
fn modes_owners_and_special_bits() {
    let (_store, layers) = loaded(&[]);
    let l = &layers[0];
    assert_attrs(&l.join("bin/suid"), 0o4755, 0, 0);
    assert_attrs(&l.join("bin/sgid"), 0o2711, 0, 50);
    assert_attrs(&l.join("tmp"), 0o1777, 0, 0);
    assert_attrs(&l.join("root"), 0o700, 0, 0);
    assert_attrs(&l.join("srv"), 0o750, 1000, 1000);
    assert_attrs(&l.join("srv/data"), 0o600, 1000, 1000);
    assert_attrs(&l.join("srv/big-uid"), 0o644, 100000, 100001);
    assert_attrs(&l.join("srv/sub"), 0o700, 0, 0);
    assert_attrs(&l.join("links/a"), 0o640, 7, 8);
    let owned = meta(&l.join("links/owned"));
    assert_eq!(
        (owned.uid(), owned.gid()),
        (1000, 1001),
        "symlink owner (lchown)"
    );
    assert_eq!(
        std::fs::read(l.join("bin/busybox")).unwrap(),
        berth_tests::busybox_bytes()
    );
}

#[test]
fn mtimes_of_files_and_directories() {
    let (_store, layers) = loaded(&[]);
    let l = &layers[0];
    assert_eq!(
        meta(&l.join("srv/data")).mtime() as u64,
        FILE_MTIME,
        "file mtime"
    );
    assert_eq!(
        meta(&l.join("bin/busybox")).mtime() as u64,
        DEFAULT_MTIME,
        "file mtime"
    );
    // Directories get their time after their children were written.
    assert_eq!(meta(&l.join("srv")).mtime() as u64, DIR_MTIME, "srv mtime");
    assert_eq!(
        meta(&l.join("srv/sub")).mtime() as u64,
        DIR_MTIME + 1,
        "srv/sub mtime"
    );
    assert_eq!(
        meta(&l.join("bin")).mtime() as u64,
        DEFAULT_MTIME,
        "bin mtime"
    );
    assert_eq!(
        meta(&layers[1].join("srv")).mtime() as u64,
        DIR_MTIME,
        "upper srv mtime"
    );
}

#[test]
fn hardlinks_share_an_inode_and_symlinks_keep_targets() {
    let (_store, layers) = loaded(&[]);
    let l = &layers[0].join("links");
    let a = meta(&l.join("a"));
    for other in ["b", "c"] {
        let m = meta(&l.join(other));
        assert!(
            m.file_type().is_file(),
            "links/{other} is not a regular file"
        );
        assert_eq!(
            m.ino(),
            a.ino(),
            "links/{other} is not a hardlink of links/a"
        );
    }
    assert_eq!(a.nlink(), 3);
    assert_eq!(std::fs::read(l.join("c")).unwrap(), b"hard content");
    for (name, target) in [
        ("rel", "a".to_string()),
        ("abs", "/etc/passwd".to_string()),
        ("dangling", "../nowhere/at/all".to_string()),
        ("dotdot", "../../../../../etc/shadow".to_string()),
        ("long", long_target()),
    ] {
        let got = std::fs::read_link(l.join(name)).unwrap_or_else(|e| panic!("links/{name}: {e}"));
        assert_eq!(got, Path::new(&target), "target of links/{name}");
    }
    assert_eq!(
        std::fs::read_link(layers[0].join("bin/cat")).unwrap(),
        Path::new("/bin/busybox")
    );
}

#[test]
fn device_nodes_and_fifos() {
    let (_store, layers) = loaded(&[]);
    let l = &layers[0];
    for (name, char_dev, major, minor, mode, gid) in [
        ("dev/null", true, 1, 3, 0o666, 0),
        ("dev/loop0", false, 7, 0, 0o660, 6),
        ("dev/bigdev", false, 259, 70000, 0o600, 0),
    ] {
        let m = meta(&l.join(name));
        let ft = m.file_type();
        assert!(
            if char_dev {
                ft.is_char_device()
            } else {
                ft.is_block_device()
            },
            "{name} type"
        );
        let rdev = m.rdev();
        assert_eq!(
            (rustix::fs::major(rdev), rustix::fs::minor(rdev)),
            (major, minor),
            "{name} numbers"
        );
        assert_attrs(&l.join(name), mode, 0, gid);
    }
    let fifo = meta(&l.join("dev/fifo"));
    assert!(fifo.file_type().is_fifo(), "dev/fifo is not a fifo");
    assert_attrs(&l.join("dev/fifo"), 0o620, 0, 0);
}

#[test]
fn security_capability_xattr_is_kept() {
    let (_store, layers) = loaded(&[]);
    let ping = layers[0].join("bin/ping");
    assert_eq!(
        xattr(&ping, "security.capability").as_deref(),
        Some(&cap_net_raw_ep()[..]),
        "security.capability of bin/ping"
    );
    assert_eq!(
        xattr(&layers[0].join("bin/busybox"), "security.capability"),
        None
    );
}

#[test]
fn long_names_and_targets_from_pax_records() {
    let (_store, layers) = loaded(&[]);
    assert_eq!(std::fs::read(layers[0].join(long_name())).unwrap(), b"long");
}

fn assert_whiteout(path: &Path) {
    let m = meta(path);
    assert!(
        m.file_type().is_char_device(),
        "{} is not a whiteout (char device)",
        path.display()
    );
    assert_eq!(m.rdev(), 0, "{} is not char 0:0", path.display());
}

#[test]
fn whiteouts_and_opaque_dirs_take_overlay_form() {
    let (_store, layers) = loaded(&[]);
    let up = &layers[1];
    assert_whiteout(&up.join("etc/group"));
    assert_whiteout(&up.join("shared"));
    assert!(meta(&up.join("etc")).is_dir());
    for marker in ["etc/.wh.group", ".wh.shared", "srv/.wh..wh..opq"] {
        assert!(
            std::fs::symlink_metadata(up.join(marker)).is_err(),
            "{marker} left in the layer"
        );
    }
    assert_eq!(
        xattr(&up.join("srv"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(
        xattr(&up.join("etc"), "trusted.overlay.opaque"),
        None,
        "etc is not opaque"
    );
    assert_eq!(std::fs::read(up.join("srv/new")).unwrap(), b"new");
    // The lower layer is untouched by the upper one's whiteouts.
    assert!(layers[0].join("etc/group").is_file());
    assert!(layers[0].join("shared/keep").is_file());
    assert!(layers[0].join("srv/data").is_file());
}

#[test]
fn no_devices_still_allows_whiteouts() {
    let store = TestStore::new();
    let image = ImageSpec::new(vec![Layer::new(busybox_entries()), upper_layer()])
        .name("wh/only:1")
        .build();
    let path = write_images(
        Format::OciDir,
        std::slice::from_ref(&image),
        &store.work("oci"),
    );
    let record = store.record(["load", "--no-devices", path.to_str().unwrap()]);
    store.assert_loaded(&record, &image);
    let layers = store.record_layers(&record);
    assert_whiteout(&layers[1].join("etc/group"));
    assert_eq!(
        xattr(&layers[1].join("srv"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
}
