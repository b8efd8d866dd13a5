//! Limits hold and are reported: memory (OOM), pids, CPU.

use berth_tests::container::Sandbox;
use berth_tests::store::describe;

#[test]
fn memory_hog_is_oom_killed_and_reported() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.run([
        "--rm",
        "--memory",
        "32m",
        "probe:latest",
        "probe",
        "alloc",
        "256",
    ]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "SIGKILL by the OOM killer: {}",
        describe(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OOMKilled"), "berth-run says so: {stderr}");
}

#[test]
fn fork_bomb_stops_at_the_pids_limit() {
    let sandbox = Sandbox::with_probe();
    let result = sandbox.probe(&["--pids-limit", "20"], &["fork-bomb", "200"]);
    let forked = result["forked"].as_u64().unwrap();
    assert!(
        forked < 20,
        "at most 20 processes in the container, forked {forked}: {result}"
    );
    assert_eq!(result["errno"], 11, "fork fails with EAGAIN: {result}");
}

#[test]
fn half_a_cpu_holds_a_busy_loop_near_half_a_core() {
    let sandbox = Sandbox::with_probe();
    let result = sandbox.probe(&["--cpus", "0.5"], &["spin", "2"]);
    let ratio = result["cpu_ms"].as_f64().unwrap() / result["wall_ms"].as_f64().unwrap();
    assert!(
        (0.2..0.6).contains(&ratio),
        "CPU time / wall time {ratio:.2} should be near 0.5: {result}"
    );
}

#[test]
fn the_container_sees_its_own_cgroup_read_only() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.ok(["--rm", "--memory", "48m", "probe:latest", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; echo 1 > /sys/fs/cgroup/pids/pids.max 2>/dev/null || echo read-only"]);
    assert!(
        out.contains("50331648"),
        "its own memory limit is visible: {out}"
    );
    assert!(out.contains("read-only"), "and cannot be changed: {out}");
}
