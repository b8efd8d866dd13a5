//! `berth-mount`: volumes (named, anonymous, the image's VOLUMEs), seeding from the image,
//! binds, tmpfs, mountpoints resolved inside the rootfs, and `volume` subcommands.

#[path = "mount_support.rs"]
mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_tests::image::{busybox_entries, Entry, Layer};
use berth_tests::ImageSpec;
use serde_json::{json, Value};
use support::{expect_command_failure, expect_failure, is_hex64, MountEnv};

/// busybox plus /data holding a file (0640, 1000:1000), a symlink, a nested dir (0700),
/// and an image VOLUME /data.
fn image_with_data() -> ImageSpec {
    let mut entries = busybox_entries();
    entries.extend([
        Entry::dir("data").mode(0o750).owner(1000, 1000),
        Entry::file("data/conf", "setting=1")
            .mode(0o640)
            .owner(1000, 1000),
        Entry::symlink("data/link", "/etc/passwd"),
        Entry::dir("data/sub").mode(0o700),
        Entry::file("data/sub/deep", "deep"),
        Entry::dir("srv"),
        Entry::file("srv/index", "srv"),
    ]);
    let mut spec = ImageSpec::new(vec![Layer::new(entries)]);
    spec.config["Volumes"] = json!({"/data": {}});
    spec
}

fn mounts(record: &Value) -> Vec<Value> {
    record["rootfs"]["mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn mount_at<'a>(list: &'a [Value], target: &str) -> &'a Value {
    list.iter()
        .find(|m| m["target"] == target)
        .unwrap_or_else(|| panic!("no mount at {target}: {list:?}"))
}

fn assert_seeded(data: &Path) {
    assert_eq!(std::fs::read(data.join("conf")).unwrap(), b"setting=1");
    let meta = std::fs::symlink_metadata(data.join("conf")).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o640, 1000, 1000)
    );
    assert_eq!(
        std::fs::read_link(data.join("link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        std::fs::metadata(data.join("sub")).unwrap().mode() & 0o7777,
        0o700
    );
    assert_eq!(std::fs::read(data.join("sub/deep")).unwrap(), b"deep");
    let top = std::fs::metadata(data).unwrap();
    assert_eq!(
        (top.mode() & 0o7777, top.uid()),
        (0o750, 1000),
        "the volume takes the image dir's mode and owner"
    );
}

#[test]
fn image_volume_becomes_a_seeded_anonymous_volume() {
    let env = MountEnv::new();
    let record = env.load(&image_with_data().build());
    let m = env.mount(&record, &[]);
    let list = mounts(&m.record);
    assert_eq!(list.len(), 1, "{list:?}");
    let v = mount_at(&list, "/data");
    assert_eq!(v["kind"], "volume");
    assert_eq!(v["anonymous"], true);
    let name = v["volume"].as_str().unwrap();
    assert!(is_hex64(name), "{name}");
    let data = env.root().join("volumes").join(name).join("_data");
    assert_eq!(v["source"], data.display().to_string());
    assert_seeded(&data);
    // down --remove deletes the anonymous volume with the container.
    env.ok(&["down", "--remove"], m.record.to_string().as_bytes());
    assert!(!env.root().join("volumes").join(name).exists());
}

#[test]
fn named_volume_is_seeded_once_and_kept() {
    let env = MountEnv::new();
    let record = env.load(&image_with_data().build());
    let m = env.mount(
        &record,
        &["-v", "appdata:/data", "-v", "empty:/srv:nocopy,ro"],
    );
    let list = mounts(&m.record);
    assert_eq!(list.len(), 2, "-v covers the image's /data: {list:?}");
    let v = mount_at(&list, "/data");
    assert_eq!(
        (v["volume"].as_str(), v.get("anonymous")),
        (Some("appdata"), None)
    );
    let data = env.root().join("volumes/appdata/_data");
    assert_seeded(&data);
    let e = mount_at(&list, "/srv");
    assert_eq!(e["readonly"], true);
    assert_eq!(
        std::fs::read_dir(env.root().join("volumes/empty/_data"))
            .unwrap()
            .count(),
        0,
        "nocopy"
    );
    // The volume's own content survives the container and is not re-seeded.
    std::fs::write(data.join("conf"), "mine").unwrap();
    env.ok(&["down", "--remove", "--id", &m.id], b"");
    assert!(data.is_dir(), "named volumes outlive the container");
    let m2 = env.mount(&record, &["-v", "appdata:/data"]);
    assert_eq!(std::fs::read(data.join("conf")).unwrap(), b"mine");
    // volume subcommands
    let ls = env.ok(&["volume", "ls", "-q"], b"");
    let names = String::from_utf8_lossy(&ls.stdout).to_string();
    assert_eq!(names.lines().collect::<Vec<_>>(), ["appdata", "empty"]);
    let out = env.run(&["volume", "rm", "appdata"], b"");
    let message = expect_command_failure(&out);
    assert!(
        message.contains("appdata") && message.contains(&m2.id),
        "{message}"
    );
    let inspect = env.ok(&["volume", "inspect", "appdata"], b"");
    let v: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(v[0]["Mountpoint"], data.display().to_string());
    env.ok(&["down", "--remove", "--id", &m2.id], b"");
    env.ok(&["volume", "rm", "appdata", "empty"], b"");
    let created = env.ok(&["volume", "create", "made"], b"");
    assert_eq!(String::from_utf8_lossy(&created.stdout).trim(), "made");
    assert!(env.root().join("volumes/made/_data").is_dir());
    let message = expect_command_failure(&env.run(&["volume", "inspect", "nope"], b""));
    assert!(message.contains("no such volume: nope"), "{message}");
}

#[test]
fn binds_tmpfs_and_read_only_are_recorded_and_mountpoints_made() {
    let env = MountEnv::new();
    let record = env.load(&ImageSpec::busybox().build());
    let host_dir = env.store.work("hostdir");
    std::fs::create_dir(&host_dir).unwrap();
    let host_file = env.store.work("hostname");
    std::fs::write(&host_file, "box\n").unwrap();
    let bind_dir = format!("{}:/mnt/a/b:ro", host_dir.display());
    let bind_file = format!("{}:/etc/hostname", host_file.display());
    let m = env.mount(
        &record,
        &[
            "-v",
            &bind_dir,
            "-v",
            &bind_file,
            "--tmpfs",
            "/run:size=1m,mode=1777",
            "--read-only",
            "-v",
            "/cache",
        ],
    );
    assert_eq!(m.record["rootfs"]["readonly"], true);
    let list = mounts(&m.record);
    let b = mount_at(&list, "/mnt/a/b");
    assert_eq!(
        (b["kind"].as_str(), b["readonly"].as_bool()),
        (Some("bind"), Some(true))
    );
    assert_eq!(b["source"], host_dir.display().to_string());
    let f = mount_at(&list, "/etc/hostname");
    assert_eq!(f["kind"], "bind");
    let t = mount_at(&list, "/run");
    assert_eq!(t["kind"], "tmpfs");
    let opts: Vec<&str> = t["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert!(
        opts.contains(&"size=1m") && opts.contains(&"mode=1777") && opts.contains(&"nosuid"),
        "{opts:?}"
    );
    let c = mount_at(&list, "/cache");
    assert_eq!(
        (c["kind"].as_str(), c["anonymous"].as_bool()),
        (Some("volume"), Some(true))
    );
    // Parents come before children.
    let depth = |m: &Value| m["target"].as_str().unwrap().matches('/').count();
    assert!(
        list.windows(2).all(|w| depth(&w[0]) <= depth(&w[1])),
        "{list:?}"
    );
    // Mountpoints exist in the rootfs: a dir for dir binds, an empty file for file binds.
    assert!(m.rootfs.join("mnt/a/b").is_dir());
    assert!(m.rootfs.join("etc/hostname").is_file());
    assert!(m.rootfs.join("run").is_dir() && m.rootfs.join("cache").is_dir());
    // berth-mount mounts nothing but the overlay on the host.
    assert_eq!(
        support::mounts_under(env.store.base()),
        vec![m.rootfs.clone()]
    );
}

#[test]
fn missing_bind_source_is_named_and_nothing_is_left() {
    let env = MountEnv::new();
    let record = env.load(&ImageSpec::busybox().build());
    let missing = env.store.work("does-not-exist");
    let spec = format!("{}:/x", missing.display());
    let out = env.run(&["-v", &spec], record.to_string().as_bytes());
    let message = expect_failure(&out);
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(
        env.tree(&env.run_dir()).is_empty(),
        "{:?}",
        env.tree(&env.run_dir())
    );
    assert!(!env.root().join("containers").exists());
    assert!(support::mounts_under(env.store.base()).is_empty());
}

#[test]
fn failure_after_mounting_undoes_everything() {
    let env = MountEnv::new();
    let record = env.load(&image_with_data().build());
    let host_file = env.store.work("f");
    std::fs::write(&host_file, "x").unwrap();
    // A file bound onto /bin, a directory in the image: found only after the overlay is up
    // and the volumes are made.
    let spec = format!("{}:/bin", host_file.display());
    let out = env.run(
        &["-v", "/anon", "-v", "named:/data", "-v", &spec],
        record.to_string().as_bytes(),
    );
    let message = expect_failure(&out);
    assert!(
        message.contains("/bin") && message.contains("directory"),
        "{message}"
    );
    assert!(
        support::mounts_under(env.store.base()).is_empty(),
        "left mounted"
    );
    assert!(
        env.tree(&env.run_dir()).is_empty(),
        "{:?}",
        env.tree(&env.run_dir())
    );
    assert!(!env.root().join("containers").exists());
    assert!(
        env.tree(&env.root().join("volumes")).is_empty(),
        "{:?}",
        env.tree(&env.root().join("volumes"))
    );
    for (args, needle) in [
        (
            vec!["-v", "vol:/d", "--tmpfs", "/d"],
            "duplicate mount point: /d",
        ),
        (vec!["-v", "bad name:/d"], "valid volume name"),
        (vec!["--tmpfs", "relative"], "absolute"),
        (vec!["--name=bad/name"], "container name"),
    ] {
        let message = expect_failure(&env.run(&args, record.to_string().as_bytes()));
        assert!(message.contains(needle), "{args:?}: {message}");
    }
    assert!(support::mounts_under(env.store.base()).is_empty());
}

#[test]
fn mount_targets_through_symlinks_stay_inside_the_rootfs() {
    let env = MountEnv::new();
    let outside: PathBuf = env.store.work("outside-target");
    let outside_rel = outside.strip_prefix("/").unwrap().display().to_string();
    let mut entries = busybox_entries();
    entries.extend([
        Entry::symlink("evil", outside.display().to_string()),
        Entry::symlink("up", "../../../.."),
        Entry::symlink("slash", "/"),
    ]);
    let record = env.load(&ImageSpec::new(vec![Layer::new(entries)]).build());
    let m = env.mount(
        &record,
        &["-v", "v1:/evil/x", "--tmpfs", "/up/t", "-v", "v2:/slash/s"],
    );
    assert!(
        !outside.exists(),
        "created {} on the host",
        outside.display()
    );
    assert!(m.rootfs.join(&outside_rel).join("x").is_dir());
    assert!(m.upper.join(&outside_rel).join("x").is_dir());
    assert!(m.rootfs.join("t").is_dir() && m.rootfs.join("s").is_dir());
    // Seeding through the symlink reads the rootfs, not the host.
    std::fs::create_dir_all(env.store.work("hostdata")).unwrap();
    std::fs::write(env.store.work("hostdata/secret"), "host").unwrap();
    let mut entries = busybox_entries();
    entries.push(Entry::symlink(
        "leak",
        env.store.work("hostdata").display().to_string(),
    ));
    let record = env.load(&ImageSpec::new(vec![Layer::new(entries)]).build());
    env.mount(&record, &["-v", "leaky:/leak"]);
    assert!(
        !env.root().join("volumes/leaky/_data/secret").exists(),
        "host file copied into a volume"
    );
}

#[test]
fn concurrent_first_use_of_a_volume_seeds_it_once() {
    let env = MountEnv::new();
    let record = env.load(&image_with_data().build());
    let input = record.to_string();
    let outs: Vec<std::process::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| env.run(&["-v", "shared:/data"], input.as_bytes())))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in &outs {
        assert!(
            out.status.success(),
            "{}",
            berth_tests::store::describe(out)
        );
    }
    assert_seeded(&env.root().join("volumes/shared/_data"));
    let names: Vec<String> = env.tree(&env.root().join("volumes"));
    assert!(
        names.iter().all(|n| n.starts_with("shared")),
        "temp dirs left: {names:?}"
    );
    assert_eq!(support::mounts_under(env.store.base()).len(), 4);
}
