//! Layers whose entries try to reach outside the layer directory. Each must be refused
//! (exit 125, an error naming the entry, the store exactly as before) and the file the
//! test placed outside the store must be untouched.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_tests::formats::write_images;
use berth_tests::image::{busybox_entries, Compression, Entry, Layer};
use berth_tests::{hex_part, BuiltImage, Failure, Format, ImageSpec, Snapshot, TestStore};

/// A directory outside the store, with one file, and how they looked at the start.
struct Outside {
    dir: PathBuf,
    target: PathBuf,
    state: Vec<String>,
}

impl Outside {
    fn new(store: &TestStore) -> Outside {
        let dir = store.work("outside");
        std::fs::create_dir(&dir).unwrap();
        let target = dir.join("target");
        std::fs::write(&target, "precious\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut o = Outside {
            dir,
            target,
            state: Vec::new(),
        };
        o.state = o.describe();
        o
    }

    fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for path in [&self.dir, &self.target] {
            let m = std::fs::symlink_metadata(path).unwrap();
            out.push(format!(
                "{} type={:?} mode={:o} owner={}:{} nlink={} ino={}",
                path.display(),
                m.file_type(),
                m.mode(),
                m.uid(),
                m.gid(),
                m.nlink(),
                m.ino()
            ));
        }
        out.push(format!(
            "content={:?}",
            std::fs::read(&self.target).unwrap()
        ));
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        out.push(format!("entries={names:?}"));
        out
    }

    fn assert_untouched(&self) {
        assert_eq!(
            self.describe(),
            self.state,
            "the file outside the store was changed"
        );
        let parent_entries: Vec<String> = std::fs::read_dir(self.dir.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for name in parent_entries {
            assert!(
                ["outside", "image.tar", "image.tar.gz"].contains(&name.as_str())
                    || name.starts_with("bb"),
                "something was written next to the outside dir: {name}"
            );
        }
    }

    /// `../` repeated enough to climb from any layer dir to `/`, then the outside dir.
    fn climbing(&self, rest: &str) -> String {
        let abs = self.dir.join(rest);
        format!(
            "{}{}",
            "../".repeat(24),
            abs.display().to_string().trim_start_matches('/')
        )
    }
}

/// A store holding a benign image (sharing the base layer with the hostile one), and its
/// snapshot.
fn primed() -> (TestStore, Snapshot, Outside) {
    let store = TestStore::new();
    let image = ImageSpec::busybox().name("primer/bb:1").build();
    let path = write_images(
        Format::Docker25,
        std::slice::from_ref(&image),
        &store.work("bb.tar"),
    );
    store.load(&path);
    let outside = Outside::new(&store);
    let snapshot = store.snapshot();
    (store, snapshot, outside)
}

fn hostile_image(entries: Vec<Entry>) -> BuiltImage {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()),
        Layer::new(entries).compressed(Compression::Gzip),
    ])
    .name("hostile/img:1")
    .build()
}

/// Loads a hostile image and checks that it was refused without a trace.
fn assert_refused(entries: Vec<Entry>, extra: &[&str], entry_name: &str) {
    let (store, before, outside) = primed();
    refuse_in(
        &store,
        &before,
        &outside,
        hostile_image(entries),
        extra,
        entry_name,
    );
}

fn refuse_in(
    store: &TestStore,
    before: &Snapshot,
    outside: &Outside,
    image: BuiltImage,
    extra: &[&str],
    entry_name: &str,
) {
    let path = write_images(
        Format::Docker25,
        std::slice::from_ref(&image),
        &store.work("image.tar"),
    );
    let mut args = vec!["load"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let out = store.run(&args);
    outside.assert_untouched();
    let failure = Failure::expect(&out);
    eprintln!("refused as expected: {}", failure.message);
    failure.assert_mentions(entry_name);
    let layer = &image.layers[1];
    failure.assert_mentions_any(&[
        &hex_part(&layer.digest)[..12],
        &hex_part(&layer.diff_id)[..12],
    ]);
    failure.assert_mentions_any(&["hostile/img", &hex_part(&image.id())[..12]]);
    before.assert_same(&store.snapshot(), "refused load");
    assert!(
        store.tmp_entries().is_empty(),
        "tmp/ left: {:?}",
        store.tmp_entries()
    );
}

#[test]
fn dotdot_entry_is_refused() {
    assert_refused(
        vec![Entry::file("../../../escaped-dotdot", "x")],
        &[],
        "escaped-dotdot",
    );
}

#[test]
fn dotdot_inside_entry_is_refused() {
    assert_refused(
        vec![
            Entry::dir("etc"),
            Entry::file("etc/../../../../escaped-mid", "x"),
        ],
        &[],
        "escaped-mid",
    );
}

#[test]
fn write_through_absolute_symlinked_parent_is_refused() {
    let (store, before, outside) = primed();
    let entries = vec![
        Entry::symlink("evil-abs", outside.dir.display().to_string()),
        Entry::file("evil-abs/planted", "pwned"),
    ];
    refuse_in(
        &store,
        &before,
        &outside,
        hostile_image(entries),
        &[],
        "evil-abs",
    );
}

#[test]
fn write_through_relative_symlinked_parent_is_refused() {
    let (store, before, outside) = primed();
    let entries = vec![
        Entry::symlink("evil-rel", outside.climbing("")),
        Entry::file("evil-rel/planted", "pwned"),
    ];
    refuse_in(
        &store,
        &before,
        &outside,
        hostile_image(entries),
        &[],
        "evil-rel",
    );
}

#[test]
fn overwrite_through_symlinked_parent_is_refused() {
    let (store, before, outside) = primed();
    let entries = vec![
        Entry::symlink("evil-over", outside.dir.display().to_string()),
        Entry::file("evil-over/target", "pwned"),
    ];
    refuse_in(
        &store,
        &before,
        &outside,
        hostile_image(entries),
        &[],
        "evil-over",
    );
}

#[test]
fn hardlink_climbing_out_is_refused() {
    let (store, before, outside) = primed();
    let entries = vec![Entry::hardlink("evil-hardlink", outside.climbing("target"))];
    refuse_in(
        &store,
        &before,
        &outside,
        hostile_image(entries),
        &[],
        "evil-hardlink",
    );
}

#[test]
fn hardlink_through_symlinked_parent_is_refused() {
    let (store, before, outside) = primed();
    let entries = vec![
        Entry::symlink("evil-dir", outside.dir.display().to_string()),
        Entry::hardlink("evil-hl", "evil-dir/target"),
    ];
    refuse_in(
        &store,
        &before,
        &outside,
        hostile_image(entries),
        &[],
        "evil-hl",
    );
}

#[test]
fn whiteout_with_dotdot_is_refused() {
    assert_refused(
        vec![Entry::dir("a"), Entry::file("a/../../.wh.escaped-wh", "")],
        &[],
        ".wh.escaped-wh",
    );
}

#[test]
fn whiteout_of_dotdot_is_refused() {
    assert_refused(
        vec![Entry::dir("sub"), Entry::file("sub/.wh...", "")],
        &[],
        ".wh...",
    );
}

#[test]
fn whiteout_through_symlinked_parent_is_refused() {
    let (store, before, outside) = primed();
    let entries = vec![
        Entry::symlink("evil-wh", outside.dir.display().to_string()),
        Entry::file("evil-wh/.wh.target", ""),
    ];
    refuse_in(
        &store,
        &before,
        &outside,
        hostile_image(entries),
        &[],
        "evil-wh",
    );
}

#[test]
fn opaque_marker_through_symlinked_parent_is_refused() {
    let (store, before, outside) = primed();
    let entries = vec![
        Entry::symlink("evil-opq", outside.dir.display().to_string()),
        Entry::file("evil-opq/.wh..wh..opq", ""),
    ];
    refuse_in(
        &store,
        &before,
        &outside,
        hostile_image(entries),
        &[],
        "evil-opq",
    );
    let mut buf = [0u8; 16];
    let xattr = rustix::fs::lgetxattr(&outside.dir, "trusted.overlay.opaque", &mut buf[..]);
    assert!(xattr.is_err(), "the outside dir was marked opaque");
}

#[test]
fn device_node_with_no_devices_is_refused() {
    assert_refused(
        vec![Entry::dir("dev"), Entry::char_dev("dev/kmem", 1, 2)],
        &["--no-devices"],
        "dev/kmem",
    );
}

#[test]
fn block_device_with_no_devices_is_refused() {
    assert_refused(
        vec![Entry::dir("dev"), Entry::block_dev("dev/sda", 8, 0)],
        &["--no-devices"],
        "dev/sda",
    );
}

/// A symlink to the outside file, then a directory (or file) entry of the same name: the
/// entry must replace the symlink (or be refused), never chmod/chown/write the target.
fn check_symlink_then_entry(second: Entry, check_replaced: impl Fn(&Path)) {
    let (store, before, outside) = primed();
    let name = second.name_str();
    let entries = vec![
        Entry::symlink(&name, outside.target.display().to_string()),
        second,
    ];
    let image = hostile_image(entries);
    let path = write_images(
        Format::Docker25,
        std::slice::from_ref(&image),
        &store.work("image.tar"),
    );
    let out = store.run(["load", path.to_str().unwrap()]);
    outside.assert_untouched();
    if out.status.success() {
        eprintln!("accepted: {name} replaced the symlink");
        let record = berth_tests::store::parse_record(&out);
        store.assert_loaded(&record, &image);
        check_replaced(&store.record_layers(&record)[1].join(&name));
    } else {
        Failure::expect(&out).assert_mentions(&name);
        before.assert_same(&store.snapshot(), "refused load");
    }
}

#[test]
fn directory_over_symlink_does_not_chmod_the_target() {
    check_symlink_then_entry(Entry::dir("swap-dir").mode(0o777).owner(4321, 4321), |p| {
        let m = std::fs::symlink_metadata(p).unwrap();
        assert!(m.is_dir(), "{} should now be a directory", p.display());
        assert_eq!(m.mode() & 0o7777, 0o777);
        assert_eq!(m.uid(), 4321);
    });
}

#[test]
fn file_over_symlink_does_not_write_the_target() {
    check_symlink_then_entry(
        Entry::file("swap-file", "pwned")
            .mode(0o666)
            .owner(4321, 4321),
        |p| {
            let m = std::fs::symlink_metadata(p).unwrap();
            assert!(
                m.file_type().is_file(),
                "{} should now be a regular file",
                p.display()
            );
            assert_eq!(std::fs::read(p).unwrap(), b"pwned");
        },
    );
}

/// Absolute names and absolute hardlink targets are relative to the layer root.
#[test]
fn absolute_paths_land_inside_the_layer() {
    let (store, _, outside) = primed();
    let unique = format!("berth-abs-test-{}", std::process::id());
    let host_path = Path::new("/bin").join(&unique);
    let entries = vec![
        Entry::dir("/bin"),
        Entry::file(format!("/bin/{unique}"), "abs"),
        Entry::hardlink("/bin/abs-hardlink", "/bin/busybox"),
        Entry::hardlink("bin/abs-hardlink2", format!("/bin/{unique}")),
    ];
    let image = ImageSpec::new(vec![Layer::new([busybox_entries(), entries].concat())])
        .name("abs/img:1")
        .build();
    let path = write_images(
        Format::Docker25,
        std::slice::from_ref(&image),
        &store.work("image.tar"),
    );
    let out = store.run(["load", path.to_str().unwrap()]);
    let leaked = host_path.exists();
    if leaked {
        let _ = std::fs::remove_file(&host_path);
    }
    assert!(!leaked, "berth wrote {} on the host", host_path.display());
    outside.assert_untouched();
    assert!(
        out.status.success(),
        "absolute entry paths must be accepted:\n{}",
        berth_tests::store::describe(&out)
    );
    let record = berth_tests::store::parse_record(&out);
    store.assert_loaded(&record, &image);
    let layer = &store.record_layers(&record)[0];
    assert_eq!(
        std::fs::read(layer.join("bin").join(&unique)).unwrap(),
        b"abs"
    );
    let bb = std::fs::metadata(layer.join("bin/busybox")).unwrap();
    let hl = std::fs::symlink_metadata(layer.join("bin/abs-hardlink")).unwrap();
    assert_eq!(
        hl.ino(),
        bb.ino(),
        "/bin/abs-hardlink must link to the layer's bin/busybox"
    );
    let hl2 = std::fs::symlink_metadata(layer.join("bin/abs-hardlink2")).unwrap();
    let abs = std::fs::metadata(layer.join("bin").join(&unique)).unwrap();
    assert_eq!(hl2.ino(), abs.ino());
}
