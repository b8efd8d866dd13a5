//! `berth-cgroup` on this host's real cgroup tree (hybrid here: v1 controllers plus the
//! unified hierarchy; a pure v2 host takes the v2 branches): limits read back, placement at
//! the root of each hierarchy, stats, an OOM kill, a pids limit against a fork loop,
//! freeze/thaw, kill and down.

#[path = "cgroup_support.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

#[test]
fn limits_are_written_and_a_process_is_placed_at_the_root() {
    need_root!();
    let mut host = Host::new("limits");
    let record = host.create(&[
        "--memory",
        "32m",
        "--memory-swap",
        "64m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "100",
        "--blkio-weight",
        "300",
    ]);
    let id = record["container"]["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64, "a container part is made for a bare record");
    let cgroup = &record["cgroup"];
    assert_eq!(cgroup["limits"]["memory"], 32 << 20);
    assert_eq!(cgroup["limits"]["pids_limit"], 100);
    let mode = mode_of(&record).to_string();
    if mode == "v2" {
        let dir = path_of(&record, "unified");
        assert_eq!(dir, Path::new(CGROUP_ROOT).join(&host.parent).join(&id));
        assert_eq!(read(&dir.join("memory.max")), (32u64 << 20).to_string());
        assert_eq!(read(&dir.join("cpu.max")), "50000 100000");
        assert_eq!(read(&dir.join("pids.max")), "100");
    } else {
        for (ctrl, _) in cgroup["paths"].as_object().unwrap() {
            assert_eq!(
                path_of(&record, ctrl),
                Path::new(CGROUP_ROOT)
                    .join(ctrl)
                    .join(&host.parent)
                    .join(&id),
                "absolute, under the parent at the hierarchy's root"
            );
        }
        let c = |ctrl: &str, file: &str| read(&path_of(&record, ctrl).join(file));
        assert_eq!(
            c("memory", "memory.limit_in_bytes"),
            (32u64 << 20).to_string()
        );
        if path_of(&record, "memory")
            .join("memory.memsw.limit_in_bytes")
            .exists()
        {
            assert_eq!(
                c("memory", "memory.memsw.limit_in_bytes"),
                (64u64 << 20).to_string()
            );
        }
        assert_eq!(c("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(c("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(c("cpu", "cpu.shares"), "512");
        assert_eq!(c("cpuset", "cpuset.cpus"), "0");
        assert!(
            !c("cpuset", "cpuset.mems").is_empty(),
            "mems copied from the parent"
        );
        assert_eq!(c("pids", "pids.max"), "100");
        let blkio = path_of(&record, "blkio");
        for file in ["blkio.weight", "blkio.bfq.weight"] {
            if blkio.join(file).exists() {
                assert!(read(&blkio.join(file)).contains("300"), "{file}");
                break;
            }
        }
        let devices = c("devices", "devices.list");
        assert!(
            devices.contains("c 1:3 rwm") && devices.contains("c 136:* rwm"),
            "{devices}"
        );
        assert!(!devices.contains("a *:* rwm"), "deny-all first: {devices}");
        let parent_pids = Path::new(CGROUP_ROOT)
            .join("pids")
            .join(&host.parent)
            .join("pids.max");
        assert_eq!(read(&parent_pids), "500", "the parent carries the pids cap");
    }

    let sleeper = host.spawn_gated("exec sleep 30");
    let pid = host.pid(sleeper);
    host.place(&record, pid);
    let own = read(Path::new(&format!("/proc/{pid}/cgroup")));
    let expected = format!("/{}/{}", host.parent, id);
    assert!(
        own.lines().all(|l| l.ends_with(&expected)
            || !(l.contains(":memory:") || l.contains(":pids:") || l.starts_with("0::"))),
        "{own}"
    );
    assert!(own.lines().any(|l| l.ends_with(&expected)), "{own}");
    let stats = host.run(&["stats"], Some(&record));
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let stats = stats.json();
    assert_eq!(stats["pids_current"], 1, "{stats}");
    assert_eq!(stats["memory_limit"], 32 << 20, "{stats}");
    let procs = host.run(&["procs"], Some(&record)).json();
    assert_eq!(procs["pids"], serde_json::json!([pid]));

    let down = host.run(&["down"], Some(&record));
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    assert_eq!(host.wait_signal(sleeper, Duration::from_secs(10)), Some(9));
    assert!(
        host.leftovers().is_empty(),
        "down removed every cgroup: {:?}",
        host.leftovers()
    );
    let again = host.run(&["down"], Some(&record));
    assert_eq!(again.code, 0, "already gone is success: {}", again.stderr);
}

#[test]
fn an_oom_kill_is_reported() {
    need_root!();
    let mut host = Host::new("oom");
    let record = host.create(&["--memory", "32m", "--pids-limit", "20"]);
    let before = host.run(&["oom"], Some(&record)).json();
    assert_eq!(before["oom_killed"], false);
    // dash keeps a command substitution's output in memory: 200 MB against 32 MB.
    let hog = host.spawn_gated("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived");
    host.place(&record, host.pid(hog));
    host.release(hog);
    assert_eq!(
        host.wait_signal(hog, Duration::from_secs(60)),
        Some(9),
        "the hog is OOM-killed"
    );
    let out = host.run(&["oom"], Some(&record));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    assert_eq!(report["oom_killed"], true, "{report}");
    assert!(report["oom_kills"].as_u64().unwrap() >= 1, "{report}");
    let stats = host.run(&["stats"], Some(&record)).json();
    assert!(
        stats["memory_max_usage"].as_u64().unwrap_or(0) > 16 << 20,
        "{stats}"
    );
    assert_eq!(host.run(&["down"], Some(&record)).code, 0);
    assert!(host.leftovers().is_empty());
}

#[test]
fn the_pids_limit_stops_a_fork_loop() {
    need_root!();
    let mut host = Host::new("pids");
    let record = host.create(&["--pids-limit", "20"]);
    // Bounded: at most 100 forks, each a 20 s sleep; the shell waits at most 20 s.
    let forker =
        host.spawn_gated("i=0; while [ $i -lt 100 ]; do sleep 20 & i=$((i+1)); done; sleep 20");
    host.place(&record, host.pid(forker));
    host.release(forker);
    let pids_dir = if mode_of(&record) == "v2" {
        path_of(&record, "unified")
    } else {
        path_of(&record, "pids")
    };
    let start = Instant::now();
    let mut refused = 0;
    while start.elapsed() < Duration::from_secs(10) {
        refused = std::fs::read_to_string(pids_dir.join("pids.events"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("max ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        if refused > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(refused > 0, "forks were refused at the limit");
    let current: u64 = read(&pids_dir.join("pids.current")).parse().unwrap();
    assert!(
        current <= 20,
        "pids.current {current} stays within the limit"
    );
    let stats = host.run(&["stats"], Some(&record)).json();
    assert!(stats["pids_current"].as_u64().unwrap() <= 20);

    // kill empties it, orphaned sleeps included.
    let kill = host.run(&["kill"], Some(&record));
    assert_eq!(kill.code, 0, "{}{}", kill.stdout, kill.stderr);
    assert!(!kill.json()["killed"].as_array().unwrap().is_empty());
    let procs = host.run(&["procs"], Some(&record)).json();
    assert_eq!(
        procs["pids"],
        serde_json::json!([]),
        "kill empties the cgroup"
    );
    host.wait_signal(forker, Duration::from_secs(10));
    assert_eq!(host.run(&["down"], Some(&record)).code, 0);
    assert!(host.leftovers().is_empty());
}

#[test]
fn freeze_thaw_and_kill_all() {
    need_root!();
    let mut host = Host::new("freeze");
    let record = host.create(&["--pids-limit", "20"]);
    let family = host.spawn_gated("sleep 30 & sleep 30 & wait");
    host.place(&record, host.pid(family));
    host.release(family);
    let start = Instant::now();
    while host.run(&["procs"], Some(&record)).json()["pids"]
        .as_array()
        .unwrap()
        .len()
        < 3
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the shell's children appear"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let frozen = host.run(&["freeze"], Some(&record));
    assert_eq!(frozen.code, 0, "{}{}", frozen.stdout, frozen.stderr);
    assert_eq!(frozen.json()["state"], "frozen");
    if mode_of(&record) == "v2" {
        assert!(read(&path_of(&record, "unified").join("cgroup.events")).contains("frozen 1"));
    } else {
        assert_eq!(
            read(&path_of(&record, "freezer").join("freezer.state")),
            "FROZEN"
        );
    }
    let thawed = host.run(&["thaw"], Some(&record));
    assert_eq!(thawed.json()["state"], "thawed");
    if mode_of(&record) != "v2" {
        assert_eq!(
            read(&path_of(&record, "freezer").join("freezer.state")),
            "THAWED"
        );
    }

    // A signal other than KILL is sent once to each process.
    let term = host.run(&["kill", "--signal", "CONT"], Some(&record));
    assert_eq!(term.json()["signalled"], 3);

    // Kill while frozen: kill_all still empties it (it thaws so the kills land).
    assert_eq!(host.run(&["freeze"], Some(&record)).code, 0);
    let kill = host.run(&["kill"], Some(&record));
    assert_eq!(kill.code, 0, "{}{}", kill.stdout, kill.stderr);
    assert_eq!(kill.json()["killed"].as_array().unwrap().len(), 3);
    assert_eq!(
        host.run(&["procs"], Some(&record)).json()["pids"],
        serde_json::json!([])
    );
    assert_eq!(host.wait_signal(family, Duration::from_secs(10)), Some(9));

    // down through --path flags, as another process holding only the paths would.
    let mut args = vec!["down".to_string(), "--mode".into(), mode_of(&record).into()];
    for (key, dir) in record["cgroup"]["paths"].as_object().unwrap() {
        args.push("--path".into());
        args.push(format!("{key}={}", dir.as_str().unwrap()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let down = host.run(&args, None);
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    assert!(host.leftovers().is_empty());
}
