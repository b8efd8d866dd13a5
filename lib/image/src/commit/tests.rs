use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};

use berth_common::Paths;
use rustix::fs::{mknodat, FileType, Mode, CWD};

use super::*;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
    let store = Store::open(paths).unwrap();
    (dir, store)
}

fn whiteout(path: &Path) {
    mknodat(CWD, path, FileType::CharacterDevice, Mode::empty(), 0).unwrap();
}

/// name → (entry type, size, mode, mtime, link name) of every entry of a tar.
fn entries(data: &[u8]) -> Vec<(String, char, u64, u32, u64, String)> {
    let mut archive = ::tar::Archive::new(data);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.entry_type().as_byte() as char,
                h.size().unwrap(),
                h.mode().unwrap(),
                h.mtime().unwrap(),
                e.link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn tar_of(dir: &Path, opts: &LayerTarOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_layer_tar(dir, &mut out, opts).unwrap();
    out
}

#[test]
fn upper_dir_becomes_an_oci_layer_with_whiteouts_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path();
    std::fs::create_dir_all(upper.join("etc/opaque")).unwrap();
    std::fs::write(upper.join("etc/b"), "bee").unwrap();
    std::fs::write(upper.join("etc/a"), "a").unwrap();
    std::fs::hard_link(upper.join("etc/a"), upper.join("etc/z-link")).unwrap();
    symlink("/etc/b", upper.join("etc/sym")).unwrap();
    std::fs::set_permissions(upper.join("etc/b"), PermissionsExt::from_mode(0o4750)).unwrap();
    whiteout(&upper.join("etc/gone"));
    rustix::fs::setxattr(
        upper.join("etc/opaque"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    std::fs::create_dir(upper.join("proc")).unwrap();
    let opts = LayerTarOptions {
        skip: vec!["/proc".into()],
        clamp_mtime: None,
    };
    let list = entries(&tar_of(upper, &opts));
    let names: Vec<&str> = list.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "etc/",
            "etc/a",
            "etc/b",
            "etc/.wh.gone",
            "etc/opaque/",
            "etc/opaque/.wh..wh..opq",
            "etc/sym",
            "etc/z-link"
        ]
    );
    let by_name: BTreeMap<&str, _> = list.iter().map(|e| (e.0.as_str(), e)).collect();
    assert_eq!(by_name["etc/b"].1, '0');
    assert_eq!(by_name["etc/b"].2, 3);
    assert_eq!(by_name["etc/b"].3, 0o4750);
    assert_eq!(by_name["etc/.wh.gone"].1, '0');
    assert_eq!(by_name["etc/.wh.gone"].2, 0);
    assert_eq!(by_name["etc/sym"].1, '2');
    assert_eq!(by_name["etc/sym"].5, "/etc/b");
    assert_eq!(by_name["etc/z-link"].1, '1');
    assert_eq!(by_name["etc/z-link"].5, "etc/a");
}

#[test]
fn times_are_clamped_and_the_same_tree_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/f"), "x").unwrap();
    let opts = LayerTarOptions {
        skip: Vec::new(),
        clamp_mtime: Some(1_000),
    };
    let first = tar_of(dir.path(), &opts);
    assert!(entries(&first).iter().all(|e| e.4 == 1_000));
    std::fs::write(dir.path().join("d/f"), "x").unwrap();
    assert_eq!(first, tar_of(dir.path(), &opts));
    let unclamped = entries(&tar_of(dir.path(), &LayerTarOptions::default()));
    assert!(unclamped.iter().all(|e| e.4 > 1_000));
}

fn request<'a>(
    layer: &'a Path,
    parent: Option<&'a ImageInfo>,
    names: &[&str],
) -> CommitRequest<'a> {
    CommitRequest {
        layer: Some(layer),
        tar: LayerTarOptions {
            skip: Vec::new(),
            clamp_mtime: Some(0),
        },
        parent,
        config: json!({"Cmd": ["sh"], "Env": ["A=1"]}),
        created_by: "test".into(),
        comment: Some("a comment".into()),
        author: None,
        created: Some(SystemTime::UNIX_EPOCH),
        names: names.iter().map(|n| n.to_string()).collect(),
    }
}

#[test]
fn commit_adds_a_child_image_with_the_layer_unpacked_and_history() {
    let (dir, store) = store();
    let base_tree = dir.path().join("base");
    std::fs::create_dir_all(base_tree.join("etc")).unwrap();
    std::fs::write(base_tree.join("etc/keep"), "k").unwrap();
    std::fs::write(base_tree.join("etc/drop"), "d").unwrap();
    let base = commit(&store, &request(&base_tree, None, &["base:1"])).unwrap();
    assert_eq!(base.names, ["base:1"]);

    let upper = dir.path().join("upper");
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::write(upper.join("etc/new"), "n").unwrap();
    whiteout(&upper.join("etc/drop"));
    let child = commit(&store, &request(&upper, Some(&base), &["child"])).unwrap();
    assert_eq!(child.names, ["child:latest"]);
    assert_eq!(child.manifest.layers().len(), 2);

    let (_, config) = store.config_of(&child).unwrap();
    assert_eq!(config.diff_ids().len(), 2);
    assert_eq!(config.document["config"]["Cmd"][0], "sh");
    assert_eq!(config.document["comment"], "a comment");
    let history = config.document["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["created_by"], "test");
    assert_eq!(config.created(), "1970-01-01T00:00:00Z");

    // The unpacked layer holds the whiteout in overlay form again.
    let base_chain = Digest::parse(&config.diff_ids()[0]).unwrap();
    let chain = Digest::chain(
        Some(&base_chain),
        &Digest::parse(&config.diff_ids()[1]).unwrap(),
    );
    let diff = store.layer_diff(&chain);
    let mut content = String::new();
    std::fs::File::open(diff.join("etc/new"))
        .unwrap()
        .read_to_string(&mut content)
        .unwrap();
    assert_eq!(content, "n");
    let meta = std::fs::symlink_metadata(diff.join("etc/drop")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &meta.file_type()
    ));

    // The same commit again is the same image.
    let again = commit(&store, &request(&upper, Some(&base), &["again"])).unwrap();
    assert_eq!(again.id, child.id);
}

#[test]
fn a_step_without_a_layer_adds_an_empty_history_entry() {
    let (dir, store) = store();
    let tree = dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    let base = commit(&store, &request(&tree, None, &[])).unwrap();
    let mut req = request(&tree, Some(&base), &["cfg"]);
    req.layer = None;
    req.comment = None;
    let child = commit(&store, &req).unwrap();
    let (_, config) = store.config_of(&child).unwrap();
    assert_eq!(config.diff_ids().len(), 1);
    assert_eq!(config.document["history"][1]["empty_layer"], true);
    assert!(config.document.get("comment").is_none());
}
