//! v2 and v1 logic against FAKE cgroupfs trees in temp dirs: the test creates the files
//! the kernel would (cgroup.controllers, cgroup.subtree_control, the limit files of the
//! container's directory), runs the library, and reads back what it wrote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_common::Limits;

use crate::*;

const ID: &str = "0123456789abcdef";

fn put(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn get(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn config(root: &Path, mode: Mode) -> HostConfig {
    HostConfig {
        root: root.to_path_buf(),
        parent: "berth-fake".into(),
        parent_pids_max: 8192,
        mode: Some(mode),
        device_filter: false,
    }
}

/// A v2 root, the parent and the container directory as the kernel would make them.
fn fake_v2(root: &Path, io_bfq: bool) -> PathBuf {
    put(
        &root.join("cgroup.controllers"),
        "cpuset cpu io memory hugetlb pids rdma misc",
    );
    put(&root.join("cgroup.subtree_control"), "");
    let parent = root.join("berth-fake");
    put(
        &parent.join("cgroup.controllers"),
        "cpuset cpu io memory pids",
    );
    put(&parent.join("cgroup.subtree_control"), "");
    put(&parent.join("pids.max"), "max");
    let dir = parent.join(ID);
    for (file, text) in [
        ("cgroup.procs", ""),
        ("cgroup.freeze", "0"),
        ("cgroup.events", "populated 0\nfrozen 0\n"),
        ("cgroup.kill", ""),
        ("memory.max", "max"),
        ("memory.swap.max", "max"),
        ("memory.current", "4096"),
        ("memory.peak", "8192"),
        (
            "memory.events",
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
        ),
        ("cpu.max", "max 100000"),
        ("cpu.weight", "100"),
        (
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        ),
        ("cpuset.cpus", ""),
        ("pids.max", "max"),
        ("pids.current", "2"),
        ("io.weight", "default 100"),
    ] {
        put(&dir.join(file), text);
    }
    if io_bfq {
        put(&dir.join("io.bfq.weight"), "default 100");
    }
    dir
}

fn all_limits() -> Limits {
    Limits {
        memory: Some(64 << 20),
        memory_swap: Some(96 << 20),
        cpus: Some(0.5),
        cpu_shares: Some(1024),
        cpuset_cpus: Some("0-1".into()),
        pids_limit: Some(100),
        blkio_weight: Some(500),
    }
}

#[test]
fn v2_create_enables_controllers_and_writes_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = fake_v2(root, false);
    let part = create(&config(root, Mode::V2), ID, &all_limits()).unwrap();
    assert_eq!(part.mode, "v2");
    assert_eq!(part.paths.get("unified"), Some(&dir));
    assert_eq!(part.limits.memory_swap, Some(96 << 20));
    // One write per controller (the fake keeps the last), in V2_CONTROLLERS order.
    assert_eq!(get(&root.join("cgroup.subtree_control")), "+io");
    assert_eq!(get(&root.join("berth-fake/cgroup.subtree_control")), "+io");
    assert_eq!(get(&root.join("berth-fake/pids.max")), "8192");
    assert_eq!(get(&dir.join("memory.max")), (64u64 << 20).to_string());
    assert_eq!(get(&dir.join("memory.swap.max")), (32u64 << 20).to_string());
    assert_eq!(get(&dir.join("cpu.max")), "50000 100000");
    assert_eq!(get(&dir.join("cpu.weight")), "39");
    assert_eq!(get(&dir.join("cpuset.cpus")), "0-1");
    assert_eq!(get(&dir.join("pids.max")), "100");
    assert_eq!(
        get(&dir.join("io.weight")),
        format!("default {}", limits::blkio_to_io_weight(500))
    );
}

#[test]
fn v2_prefers_bfq_weight_and_skips_enabled_controllers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = fake_v2(root, true);
    put(
        &root.join("cgroup.subtree_control"),
        "cpuset cpu io memory pids",
    );
    let limits = Limits {
        blkio_weight: Some(300),
        pids_limit: Some(-1),
        ..Limits::default()
    };
    create(&config(root, Mode::V2), ID, &limits).unwrap();
    assert_eq!(
        get(&root.join("cgroup.subtree_control")),
        "cpuset cpu io memory pids"
    );
    assert_eq!(get(&dir.join("io.bfq.weight")), "300");
    assert_eq!(get(&dir.join("io.weight")), "default 100");
    assert_eq!(get(&dir.join("pids.max")), "max");
}

#[test]
fn v2_refuses_a_missing_controller_and_a_busy_leftover() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = fake_v2(root, false);
    put(&root.join("cgroup.controllers"), "cpu io pids");
    let err = create(&config(root, Mode::V2), ID, &all_limits()).unwrap_err();
    assert!(
        matches!(err, CgroupError::NoController { ref controller, .. } if controller == "memory"),
        "{err}"
    );
    put(&dir.join("cgroup.procs"), "4242\n");
    let err = create(&config(root, Mode::V2), ID, &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("4242"), "{err}");
}

#[test]
fn v2_operations_from_the_record_part() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = fake_v2(root, false);
    let part = create(&config(root, Mode::V2), ID, &Limits::default()).unwrap();

    place(&part, 4242).unwrap();
    assert_eq!(get(&dir.join("cgroup.procs")), "4242");
    assert_eq!(procs(&part).unwrap(), vec![4242]);
    put(&dir.join("cgroup.procs"), "");

    let s = stats(&part).unwrap();
    assert_eq!(s.memory_usage, Some(4096));
    assert_eq!(s.memory_max_usage, Some(8192));
    assert_eq!(s.memory_limit, None, "max is no limit");
    assert_eq!(s.cpu_usage_ns, Some(1_500_000));
    assert_eq!(s.pids_current, Some(2));

    let oom = oom_killed(&part).unwrap();
    assert!(oom.oom_killed);
    assert_eq!((oom.oom_kills, oom.limit_hits), (1, 3));

    // The fake kernel "settles" at once: cgroup.events already says frozen 1.
    put(&dir.join("cgroup.events"), "populated 1\nfrozen 1\n");
    freeze(&part, Duration::from_millis(200)).unwrap();
    assert_eq!(get(&dir.join("cgroup.freeze")), "1");
    assert_eq!(
        manager(&part).unwrap().freezer_state().unwrap(),
        FreezerState::Frozen
    );
    // A thaw that never settles times out, naming the file.
    let err = thaw(&part, Duration::from_millis(50)).unwrap_err();
    assert!(
        matches!(err, CgroupError::Timeout { ref path, .. } if path.ends_with("cgroup.events")),
        "{err}"
    );
    put(&dir.join("cgroup.events"), "populated 1\nfrozen 0\n");
    thaw(&part, Duration::from_millis(200)).unwrap();
    assert_eq!(get(&dir.join("cgroup.freeze")), "0");

    kill_all(&part, Duration::from_millis(200)).unwrap();
    assert_eq!(get(&dir.join("cgroup.kill")), "1");

    // The fake directory holds files, so rmdir fails with ENOTEMPTY, reported by path.
    let err = remove(&part, Duration::from_millis(50)).unwrap_err();
    assert!(err.to_string().contains(ID), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    remove(&part, Duration::from_millis(50)).expect("already gone is success");
    down(&part, Duration::from_millis(50)).expect("down of a gone cgroup is success");
}

/// A v1 tree: the hierarchies, with cpuset's root initialised and everything below empty.
fn fake_v1(root: &Path) -> PathBuf {
    for ctrl in detect::V1_CONTROLLERS {
        put(&root.join(ctrl).join("cgroup.procs"), "");
    }
    put(&root.join("cpuset/cpuset.cpus"), "0-3");
    put(&root.join("cpuset/cpuset.mems"), "0");
    for file in ["cpuset.cpus", "cpuset.mems"] {
        put(&root.join("cpuset/berth-fake").join(file), "");
        put(&root.join("cpuset/berth-fake").join(ID).join(file), "");
    }
    put(&root.join("pids/berth-fake/pids.max"), "max");
    let files = [
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.memsw.limit_in_bytes"),
        ("memory", "memory.usage_in_bytes"),
        ("memory", "memory.max_usage_in_bytes"),
        ("memory", "memory.oom_control"),
        ("memory", "memory.failcnt"),
        ("cpu", "cpu.cfs_period_us"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.shares"),
        ("cpuacct", "cpuacct.usage"),
        ("pids", "pids.max"),
        ("pids", "pids.current"),
        ("blkio", "blkio.bfq.weight"),
        ("freezer", "freezer.state"),
        ("devices", "devices.allow"),
        ("devices", "devices.deny"),
    ];
    for ctrl in detect::V1_CONTROLLERS {
        put(
            &root
                .join(ctrl)
                .join("berth-fake")
                .join(ID)
                .join("cgroup.procs"),
            "",
        );
    }
    for (ctrl, file) in files {
        put(&root.join(ctrl).join("berth-fake").join(ID).join(file), "0");
    }
    put(
        &root
            .join("memory/berth-fake")
            .join(ID)
            .join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    );
    put(
        &root
            .join("freezer/berth-fake")
            .join(ID)
            .join("freezer.state"),
        "THAWED",
    );
    put(
        &root
            .join("unified/berth-fake")
            .join(ID)
            .join("cgroup.procs"),
        "",
    );
    root.to_path_buf()
}

#[test]
fn v1_hybrid_create_initialises_cpuset_and_writes_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fake_v1(tmp.path());
    let mut cfg = config(&root, Mode::Hybrid);
    cfg.device_filter = true;
    let limits = Limits {
        cpuset_cpus: None,
        ..all_limits()
    };
    let part = create(&cfg, ID, &limits).unwrap();
    assert_eq!(part.mode, "hybrid");
    assert_eq!(part.paths.len(), detect::V1_CONTROLLERS.len() + 1);
    let c = |ctrl: &str, file: &str| get(&root.join(ctrl).join("berth-fake").join(ID).join(file));
    // The parent's cpuset comes from the root, the container's from the parent.
    assert_eq!(get(&root.join("cpuset/berth-fake/cpuset.cpus")), "0-3");
    assert_eq!(get(&root.join("cpuset/berth-fake/cpuset.mems")), "0");
    assert_eq!(c("cpuset", "cpuset.cpus"), "0-3");
    assert_eq!(c("cpuset", "cpuset.mems"), "0");
    assert_eq!(get(&root.join("pids/berth-fake/pids.max")), "8192");
    assert_eq!(
        c("memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        c("memory", "memory.memsw.limit_in_bytes"),
        (96u64 << 20).to_string()
    );
    assert_eq!(c("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(c("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(c("cpu", "cpu.shares"), "1024");
    assert_eq!(c("pids", "pids.max"), "100");
    assert_eq!(c("blkio", "blkio.bfq.weight"), "500");
    assert_eq!(c("devices", "devices.deny"), "c 10:229 rwm");

    let oom = oom_killed(&part).unwrap();
    assert!(oom.oom_killed && oom.oom_kills == 2);
    let s = stats(&part).unwrap();
    assert_eq!(s.memory_limit, Some(64 << 20));
    put(
        &root
            .join("memory/berth-fake")
            .join(ID)
            .join("memory.limit_in_bytes"),
        "9223372036854771712",
    );
    let s = stats(&part).unwrap();
    assert_eq!(s.memory_limit, None, "v1's huge number means unlimited");

    place(&part, 77).unwrap();
    for dir in part.paths.values() {
        assert_eq!(get(&dir.join("cgroup.procs")), "77", "{}", dir.display());
    }
}

#[test]
fn v1_cpuset_explicit_and_parent_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fake_v1(tmp.path());
    let limits = Limits {
        cpuset_cpus: Some("1".into()),
        ..Limits::default()
    };
    create(&config(&root, Mode::V1), ID, &limits).unwrap();
    assert_eq!(
        get(&root.join("cpuset/berth-fake").join(ID).join("cpuset.cpus")),
        "1"
    );
    for bad in ["", "..", "a/../b", "/"] {
        let mut cfg = config(&root, Mode::V1);
        cfg.parent = bad.into();
        assert!(create(&cfg, ID, &limits).is_err(), "{bad:?}");
    }
    assert!(create(&config(&root, Mode::V1), "../x", &limits).is_err());
}

#[test]
fn records_with_relative_paths_are_refused() {
    let part = berth_common::CgroupPart {
        mode: "v2".into(),
        paths: [("unified".to_string(), PathBuf::from("../../etc"))].into(),
        limits: Limits::default(),
    };
    assert!(manager(&part).is_err());
    let part = berth_common::CgroupPart {
        mode: "v2".into(),
        paths: Default::default(),
        limits: Limits::default(),
    };
    assert!(matches!(
        manager(&part).err(),
        Some(CgroupError::MissingPath { .. })
    ));
}

#[test]
fn down_removes_what_it_can_reports_every_failure_and_can_run_again() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fake_v1(tmp.path());
    let cfg = config(&root, Mode::Hybrid);
    let made = create(&cfg, ID, &Limits::default()).unwrap();
    // `down --id` finds the same directories from the layout alone.
    let part = part_for(&cfg, ID).unwrap();
    assert_eq!(part.paths, made.paths);
    assert_eq!(part.mode, made.mode);
    // Every directory but memory's and pids' can go (a fake one holding files cannot).
    let stuck = ["memory", "pids"];
    for (key, dir) in &part.paths {
        if !stuck.contains(&key.as_str()) {
            std::fs::remove_dir_all(dir).unwrap();
            std::fs::create_dir(dir).unwrap();
        }
    }
    let err = down(&part, Duration::from_millis(50)).unwrap_err();
    let CgroupError::Many(list) = &err else {
        panic!("one error per failed step expected: {err}");
    };
    assert_eq!(list.len(), 2, "{err}");
    let text = err.to_string();
    for key in stuck {
        assert!(text.contains(&format!("{key}/berth-fake/{ID}")), "{text}");
    }
    for (key, dir) in &part.paths {
        assert_eq!(
            dir.exists(),
            stuck.contains(&key.as_str()),
            "{}",
            dir.display()
        );
    }
    for key in stuck {
        std::fs::remove_dir_all(&part.paths[key]).unwrap();
    }
    down(&part, Duration::from_millis(50)).expect("the rest goes");
    down(&part, Duration::from_millis(50)).expect("and again: already gone is success");
}

/// Empties a fake parent as the kernel would once its last container is gone: its
/// interface files vanish with rmdir in cgroupfs, but a plain directory keeps them.
fn strip_fake_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[test]
fn reset_refuses_while_containers_remain_then_removes_the_v2_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let container = fake_v2(tmp.path(), false);
    let parent = container.parent().unwrap().to_path_buf();
    let config = config(tmp.path(), Mode::V2);
    let err = reset(&config).unwrap_err();
    assert!(
        matches!(&err, CgroupError::ParentInUse { path, children, .. }
            if *path == parent && children == &[ID.to_string()]),
        "{err}"
    );
    assert!(err.to_string().contains(&ID[..12]), "{err}");
    assert!(container.is_dir(), "a refused reset removes nothing");

    std::fs::remove_dir_all(&container).unwrap();
    put(&parent.join("cgroup.procs"), "4242\n");
    let err = reset(&config).unwrap_err();
    assert!(err.to_string().contains("pids 4242"), "{err}");

    strip_fake_files(&parent);
    let report = reset(&config).unwrap();
    assert_eq!(report.removed, vec![parent.clone()]);
    assert!(!parent.exists());
    assert!(
        tmp.path().join("cgroup.controllers").exists(),
        "the root stays"
    );
    assert_eq!(
        reset(&config).unwrap(),
        ResetReport::default(),
        "idempotent"
    );
}

#[test]
fn reset_covers_every_v1_and_hybrid_hierarchy_and_checks_all_before_removing() {
    for mode in [Mode::V1, Mode::Hybrid] {
        let tmp = tempfile::tempdir().unwrap();
        let root = fake_v1(tmp.path());
        let config = config(&root, mode);
        let mut hierarchies: Vec<PathBuf> = detect::V1_CONTROLLERS
            .iter()
            .map(|c| root.join(c))
            .collect();
        if mode == Mode::Hybrid {
            hierarchies.push(root.join(detect::UNIFIED));
        }
        // The container is gone from every hierarchy but the last: still refused, and
        // the parents already empty are kept.
        for hierarchy in &hierarchies[..hierarchies.len() - 1] {
            let parent = hierarchy.join("berth-fake");
            std::fs::remove_dir_all(parent.join(ID)).unwrap();
            strip_fake_files(&parent);
        }
        let last = hierarchies.last().unwrap().join("berth-fake");
        let err = reset(&config).unwrap_err();
        assert!(
            matches!(&err, CgroupError::ParentInUse { path, .. } if *path == last),
            "{mode}: {err}"
        );
        assert!(hierarchies.iter().all(|h| h.join("berth-fake").is_dir()));

        std::fs::remove_dir_all(last.join(ID)).unwrap();
        strip_fake_files(&last);
        let report = reset(&config).unwrap();
        let expected: Vec<PathBuf> = hierarchies.iter().map(|h| h.join("berth-fake")).collect();
        assert_eq!(report.removed, expected, "{mode}");
        assert!(hierarchies
            .iter()
            .all(|h| h.is_dir() && !h.join("berth-fake").exists()));
    }
}

#[test]
fn reset_on_v1_leaves_the_unified_hierarchy_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fake_v1(tmp.path());
    // fake_v1 puts a container under unified too; a pure v1 reset must not look there.
    for ctrl in detect::V1_CONTROLLERS {
        let parent = root.join(ctrl).join("berth-fake");
        std::fs::remove_dir_all(parent.join(ID)).unwrap();
        strip_fake_files(&parent);
    }
    reset(&config(&root, Mode::V1)).unwrap();
    assert!(root.join("unified/berth-fake").join(ID).is_dir());
}
