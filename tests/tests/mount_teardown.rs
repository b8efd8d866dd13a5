//! `berth-mount down` / `rm`: unmounting (also after a crash, from mountinfo), removing
//! the container's dirs and anonymous volumes, and leaving nothing behind.

#[path = "mount_support.rs"]
mod support;

use berth_tests::image::{busybox_entries, Entry, Layer};
use berth_tests::ImageSpec;
use serde_json::json;
use support::{expect_command_failure, expect_failure, MountEnv};

#[test]
fn down_remove_leaves_nothing_but_the_store() {
    let env = MountEnv::new();
    let mut spec = ImageSpec::busybox();
    spec.config["Volumes"] = json!({"/v1": {}, "/v2": {}});
    let record = env.load(&spec.build());
    let before = env.store.snapshot();
    let m = env.mount(&record, &["-v", "/anon", "--tmpfs", "/run"]);
    assert_eq!(
        env.tree(&env.root().join("volumes"))
            .iter()
            .filter(|p| !p.contains('/'))
            .count(),
        3
    );
    let out = env.ok(&["down", "--remove"], m.record.to_string().as_bytes());
    let passed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        passed.get("rootfs").is_none() && passed.get("container").is_none(),
        "{passed}"
    );
    assert_eq!(passed["image"], record["image"]);
    assert!(support::mounts_under(env.store.base()).is_empty());
    let diff = before.diff(&env.store.snapshot());
    // What may stay: the emptied containers/ and volumes/ dirs; locks are not snapshotted.
    let allowed = ["+ containers (", "+ volumes ("];
    let unexpected: Vec<&String> = diff
        .iter()
        .filter(|d| !allowed.iter().any(|a| d.starts_with(a)))
        .collect();
    assert!(unexpected.is_empty(), "left in the store: {unexpected:#?}");
    let run_left: Vec<String> = env.tree(&env.run_dir());
    assert!(
        run_left.iter().all(|p| p == "containers"),
        "left in the run dir: {run_left:?}"
    );
}

#[test]
fn down_after_a_crash_finds_the_mount_in_mountinfo() {
    let env = MountEnv::new();
    let record = env.load(&ImageSpec::busybox().build());
    for method in ["fsconfig", "links"] {
        let m = env.mount(&record, &["--overlay-method", method]);
        // As if berth-mount died before writing its state: only mountinfo knows.
        std::fs::remove_file(
            env.root()
                .join("containers")
                .join(&m.id)
                .join("rootfs.json"),
        )
        .unwrap();
        assert!(env.is_mounted(&m.rootfs));
        env.ok(&["down", "--id", &m.id], b"");
        assert!(!env.is_mounted(&m.rootfs), "{method}");
        // Again: "not mounted" is fine.
        env.ok(&["down", "--id", &m.id], b"");
        env.ok(&["rm", "--id", &m.id], b"");
        assert!(!env.root().join("containers").join(&m.id).exists());
    }
    // Stacked mounts at the rootfs (e.g. a second overlay) all go.
    let m = env.mount(&record, &[]);
    let fs = rustix::mount::fsopen("tmpfs", rustix::mount::FsOpenFlags::FSOPEN_CLOEXEC).unwrap();
    rustix::mount::fsconfig_create(&fs).unwrap();
    let mnt = rustix::mount::fsmount(
        &fs,
        rustix::mount::FsMountFlags::FSMOUNT_CLOEXEC,
        rustix::mount::MountAttrFlags::empty(),
    )
    .unwrap();
    let inner = m.rootfs.join("bin");
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        &inner,
        rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .unwrap();
    assert_eq!(support::mounts_under(&m.rootfs).len(), 2);
    env.ok(&["down", "--remove", "--id", &m.id], b"");
    assert!(support::mounts_under(env.store.base()).is_empty());
}

#[test]
fn down_refuses_bad_ids_and_unknown_names() {
    let env = MountEnv::new();
    let message = expect_command_failure(&env.run(&["down", "--id", "../../etc"], b""));
    assert!(message.contains("../../etc"), "{message}");
    let message = expect_failure(&env.run(&["down"], br#"{"version":1,"root":"/r","image":{"id":"sha256:a","manifest":"sha256:b","config":{},"layers":[]}}"#));
    assert!(message.contains("no container"), "{message}");
    let message = expect_command_failure(&env.run(&["-v", "/x", "down", "--id", "web"], b""));
    assert!(message.contains("subcommands"), "{message}");
}

#[test]
fn down_then_mount_again_keeps_the_container() {
    let env = MountEnv::new();
    let record = env.load(&ImageSpec::busybox().build());
    let m = env.mount(&record, &["-v", "/cache", "--name", "keeper"]);
    std::fs::write(m.rootfs.join("state"), "kept").unwrap();
    let out = env.ok(&["down"], m.record.to_string().as_bytes());
    let downed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(downed["container"]["id"], m.id.as_str());
    assert!(downed.get("rootfs").is_none());
    assert!(!env.is_mounted(&m.rootfs));
    // Changing the mounts of an existing container is refused, and leaves it unmounted.
    let message = expect_failure(&env.run(&["-v", "/other"], downed.to_string().as_bytes()));
    assert!(message.contains("keeps the mounts"), "{message}");
    assert!(support::mounts_under(env.store.base()).is_empty());
    // Another image under the same container is refused.
    let other = env.load(
        &ImageSpec::new(vec![
            Layer::new(busybox_entries()),
            Layer::new(vec![Entry::file("extra", "x")]),
        ])
        .build(),
    );
    let mut swapped = downed.clone();
    swapped["image"] = other["image"].clone();
    let message = expect_failure(&env.run(&[], swapped.to_string().as_bytes()));
    assert!(message.contains("other layers"), "{message}");
    let again = env.mount(&downed, &["--read-only"]);
    assert_eq!(again.id, m.id);
    assert_eq!(again.record["container"]["name"], "keeper");
    assert_eq!(
        again.record["rootfs"]["mounts"],
        m.record["rootfs"]["mounts"]
    );
    assert_eq!(again.record["rootfs"]["readonly"], true);
    assert_eq!(std::fs::read(again.rootfs.join("state")).unwrap(), b"kept");
    // Mounting it twice is refused.
    let message = expect_failure(&env.run(&[], downed.to_string().as_bytes()));
    assert!(message.contains("already mounted"), "{message}");
    env.ok(&["rm", "--id", "keeper"], b"");
    assert!(support::mounts_under(env.store.base()).is_empty());
    assert!(!env.root().join("containers").join(&m.id).exists());
}

#[test]
fn run_dir_behind_a_symlink_still_unmounts() {
    let env = MountEnv::new();
    let real = env.store.base().join("real-run");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, env.run_dir()).unwrap();
    let record = env.load(&ImageSpec::busybox().build());
    let m = env.mount(&record, &[]);
    assert!(m.rootfs.starts_with(&real), "{}", m.rootfs.display());
    assert!(env.is_mounted(&m.rootfs));
    env.ok(&["down", "--id", &m.id], b"");
    assert!(support::mounts_under(env.store.base()).is_empty());
}
