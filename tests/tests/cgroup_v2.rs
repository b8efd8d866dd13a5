//! Pure cgroup v2 through the binary on this host's real cgroup2 hierarchy.

#[path = "cgroup_support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::*;

/// Pure cgroup v2 through the binary, on this hybrid host's real cgroup2 hierarchy
/// (`--cgroup-root /sys/fs/cgroup/unified` is detected as v2; it has no memory/pids
/// controllers here, but cgroup.freeze, cgroup.kill, placement and the BPF device filter
/// all work on it).
#[test]
fn v2_on_a_real_cgroup2_hierarchy() {
    need_root!();
    let unified = Path::new(CGROUP_ROOT).join("unified");
    let root = if rustix::fs::statfs(CGROUP_ROOT).map(|s| s.f_type) == Ok(0x6367_7270) {
        PathBuf::from(CGROUP_ROOT)
    } else if unified.join("cgroup.controllers").exists() {
        unified
    } else {
        eprintln!("skipped: no cgroup2 hierarchy");
        return;
    };
    let root_arg = root.to_str().unwrap().to_string();
    let mut host = Host::new("v2");
    let record = host.create(&["--cgroup-root", &root_arg]);
    assert_eq!(mode_of(&record), "v2");
    let id = record["container"]["id"].as_str().unwrap();
    let dir = path_of(&record, "unified");
    assert_eq!(dir, root.join(&host.parent).join(id));
    assert_eq!(record["cgroup"]["paths"].as_object().unwrap().len(), 1);

    // The device filter: our own nodes, kmsg (1:11) denied, null (1:3) allowed.
    let tmp = tempfile::tempdir().unwrap();
    let kmsg = tmp.path().join("kmsg");
    let null = tmp.path().join("null");
    for (path, minor) in [(&kmsg, 11), (&null, 3)] {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o600),
            rustix::fs::makedev(1, minor),
        )
        .unwrap();
    }
    let status = tmp.path().join("status");
    let script = format!(
        "true < {k} 2>/dev/null; a=$?; echo x > {n}; echo \"$a $?\" > {s}; exec sleep 30",
        k = kmsg.display(),
        n = null.display(),
        s = status.display()
    );
    let child = host.spawn_gated(&script);
    host.place(&record, host.pid(child));
    host.release(child);
    let start = Instant::now();
    while !status.exists() || read(&status).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        read(&status),
        "2 0",
        "kmsg refused (sh exit 2), null allowed"
    );

    let frozen = host.run(&["freeze"], Some(&record));
    assert_eq!(frozen.json()["state"], "frozen", "{}", frozen.stderr);
    assert!(read(&dir.join("cgroup.events")).contains("frozen 1"));
    assert_eq!(host.run(&["thaw"], Some(&record)).json()["state"], "thawed");
    assert!(read(&dir.join("cgroup.events")).contains("frozen 0"));
    let stats = host.run(&["stats"], Some(&record)).json();
    assert!(stats["cpu_usage_ns"].as_u64().is_some(), "{stats}");

    let kill = host.run(&["kill"], Some(&record));
    assert_eq!(kill.code, 0, "{}", kill.stderr);
    assert_eq!(host.wait_signal(child, Duration::from_secs(10)), Some(9));
    assert_eq!(host.run(&["down"], Some(&record)).code, 0);
    assert!(host.leftovers().is_empty());

    // A limit whose controller the hierarchy lacks is an error naming it, leaving nothing.
    let controllers = read(&root.join("cgroup.controllers"));
    if !controllers.split_whitespace().any(|c| c == "pids") {
        let out = host.run(
            &["--cgroup-root", &root_arg, "--pids-limit", "10"],
            Some(&minimal_record()),
        );
        assert_eq!(out.code, 125);
        assert!(
            out.json()["error"]
                .as_str()
                .unwrap()
                .contains("pids controller"),
            "{}",
            out.stdout
        );
        assert!(host.leftovers().is_empty());
    }
}
