//! Whole containers in berth's pure cgroup v2 mode on this hybrid host's real cgroup2
//! hierarchy: each berth-run runs in a private mount namespace where the cgroup2 hierarchy
//! (the host's /sys/fs/cgroup/unified) is mounted at /sys/fs/cgroup, as on a pure v2 host.
//! The kernel's v2 behaviour is real (clone3 into the cgroup, the cgroup namespace,
//! cgroup.kill, removal); only the controllers are missing, as v1 holds them here.

use std::path::{Path, PathBuf};
use std::process::Output;

use berth_tests::container::Sandbox;
use berth_tests::store::describe;

const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// `berth-run ARGS` (with the sandbox's root, run dir and cgroup parent) in a private mount
/// namespace whose /sys/fs/cgroup is the cgroup2 hierarchy.
fn run_v2(sandbox: &Sandbox, args: &[&str]) -> Output {
    sandbox.run_in_namespaces(
        &["--mount", "--propagation", "private"],
        "mount -t cgroup2 cgroup2 /sys/fs/cgroup",
        args,
    )
}

fn ok_v2(sandbox: &Sandbox, args: &[&str]) -> String {
    let out = run_v2(sandbox, args);
    assert!(
        out.status.success(),
        "berth-run {args:?}: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cgroup2_available() -> bool {
    rustix::fs::statfs(UNIFIED).is_ok_and(|s| s.f_type == 0x6367_7270)
}

#[test]
fn a_container_in_v2_mode_gets_its_own_cgroup_and_cgroup_namespace() {
    if !cgroup2_available() {
        eprintln!("skipped: no cgroup2 hierarchy at {UNIFIED}");
        return;
    }
    let sandbox = Sandbox::with_probe();
    let inside = ok_v2(
        &sandbox,
        &[
            "--rm",
            "--network",
            "none",
            "probe:latest",
            "sh",
            "-c",
            "cat /proc/self/cgroup; echo --; grep ' /sys/fs/cgroup ' /proc/self/mountinfo",
        ],
    );
    let (cgroups, mounts) = inside.split_once("--\n").expect("two parts");
    // Docker gives a container its own cgroup namespace on v2: its cgroup is its root.
    assert!(
        cgroups.lines().any(|l| l == "0::/"),
        "cgroup namespace: {inside}"
    );
    let mount = mounts.trim();
    assert!(
        mount.contains(" - cgroup2 ") && mount.split(' ').nth(5).unwrap_or("").starts_with("ro"),
        "/sys/fs/cgroup is the container's cgroup2, read-only: {inside}"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn a_detached_v2_container_is_placed_and_rm_kills_and_removes_its_cgroup() {
    if !cgroup2_available() {
        eprintln!("skipped: no cgroup2 hierarchy at {UNIFIED}");
        return;
    }
    let sandbox = Sandbox::with_probe();
    let id = ok_v2(
        &sandbox,
        &[
            "-d",
            "--network",
            "none",
            "probe:latest",
            "sh",
            "-c",
            "sleep 60 & sleep 60",
        ],
    )
    .trim()
    .to_string();
    let cgroup: PathBuf = Path::new(UNIFIED).join(&sandbox.cgroup_parent).join(&id);
    let procs = || std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
    berth_tests::wait_for("the container's two processes in its cgroup", || {
        procs().lines().count() == 2
    });
    let pids: Vec<i32> = procs().lines().map(|l| l.parse().unwrap()).collect();
    ok_v2(&sandbox, &["rm", "-f", &id]);
    assert!(!cgroup.exists(), "{} is removed", cgroup.display());
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} was killed"
        );
    }
    sandbox.assert_nothing_left();
}
