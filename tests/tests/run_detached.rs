//! Detached containers (`-d`) under their monitor, managed with no daemon:
//! `ps`, `logs`, `stop`, `kill`, `rm`, `exec` (`attach` is in run_attach.rs).

use std::time::{Duration, Instant};

use berth_tests::container::Sandbox;
use berth_tests::store::describe;
use berth_tests::wait_for;

#[test]
fn detached_container_logs_stops_and_is_removed() {
    let sandbox = Sandbox::with_probe();
    let id = sandbox.detach(&[
        "--name",
        "ticker",
        "probe:latest",
        "sh",
        "-c",
        "echo out; echo err >&2; trap 'exit 3' TERM; while true; do sleep 0.1; done",
    ]);
    let ps = sandbox.ok(["ps"]);
    assert!(
        ps.contains(&id[..12]) && ps.contains("ticker") && ps.contains("Up"),
        "{ps}"
    );
    wait_for("the logs", || {
        sandbox.run(["logs", "ticker"]).stdout.starts_with(b"out")
    });
    let logs = sandbox.run(["logs", "ticker"]);
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "out\n");
    assert_eq!(
        String::from_utf8_lossy(&logs.stderr),
        "err\n",
        "stderr is kept apart"
    );
    let log_file = sandbox
        .store
        .root()
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let out_line = lines
        .iter()
        .find(|l| l["stream"] == "stdout")
        .expect("a stdout line");
    assert_eq!(out_line["log"], "out\n", "json-file format: {out_line}");
    assert!(out_line["time"].as_str().unwrap().ends_with('Z'));

    let refused = sandbox.run(["rm", "ticker"]);
    assert_eq!(
        refused.status.code(),
        Some(125),
        "a running container is not removed without --force: {}",
        describe(&refused)
    );
    sandbox.ok(["stop", "ticker"]);
    let ps = sandbox.ok(["ps", "-a"]);
    assert!(
        ps.contains("Exited (3)"),
        "the trap's exit code is kept: {ps}"
    );
    assert!(
        !sandbox.ok(["ps"]).contains("ticker"),
        "ps without -a lists running containers only"
    );
    sandbox.ok(["rm", "ticker"]);
    assert!(!sandbox.ok(["ps", "-a"]).contains("ticker"));
    assert!(!sandbox.store.root().join("containers").join(&id).exists());
    assert!(sandbox.leftover_mounts().is_empty() && sandbox.leftover_cgroups().is_empty());
}

#[test]
fn stop_escalates_to_sigkill_and_kill_sends_signals() {
    let sandbox = Sandbox::with_probe();
    let stubborn = sandbox.detach(&[
        "probe:latest",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]);
    let start = Instant::now();
    sandbox.ok(["stop", "-t", "1", &stubborn]);
    assert!(start.elapsed() < Duration::from_secs(8));
    assert!(
        sandbox.ok(["ps", "-a"]).contains("Exited (137)"),
        "SIGKILL after the timeout"
    );
    let listener = sandbox.detach(&["probe:latest", "probe", "signals"]);
    wait_for("the probe's handlers", || {
        sandbox
            .run(["logs", &listener])
            .stdout
            .starts_with(b"{\"ready\"")
    });
    sandbox.ok(["kill", "-s", "USR1", &listener]);
    wait_for("SIGUSR1 in the logs", || {
        String::from_utf8_lossy(&sandbox.run(["logs", &listener]).stdout).contains("SIGUSR1")
    });
    sandbox.ok(["kill", "-s", "TERM", &listener]);
    wait_for("the exit", || {
        sandbox.ok(["ps", "-a"]).contains("Exited (143)")
    });
    sandbox.ok(["rm", "-f", &stubborn, &listener]);
    assert!(sandbox.leftover_mounts().is_empty() && sandbox.leftover_cgroups().is_empty());
}

#[test]
fn rm_force_kills_a_running_container_and_cleans_up() {
    let sandbox = Sandbox::with_probe();
    let id = sandbox.detach(&["--rm", "probe:latest", "probe", "sleep", "600"]);
    sandbox.ok(["rm", "-f", &id[..12]]);
    assert!(sandbox.ok(["ps", "-a"]).lines().count() <= 1);
    assert!(sandbox.leftover_mounts().is_empty() && sandbox.leftover_cgroups().is_empty());
}

#[test]
fn exec_joins_a_running_container() {
    let sandbox = Sandbox::with_probe();
    let id = sandbox.detach(&[
        "--name",
        "host",
        "-e",
        "FROM_RUN=1",
        "probe:latest",
        "sh",
        "-c",
        "echo marker > /tmp/m; while true; do sleep 0.1; done",
    ]);
    let out = sandbox.ok([
        "exec",
        "host",
        "sh",
        "-c",
        "cat /tmp/m; echo $FROM_RUN; echo $$",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "marker", "same filesystem as the container");
    assert_eq!(lines[1], "1", "the container's environment");
    assert_ne!(
        lines[2], "1",
        "not the container's pid 1, but in its pid namespace"
    );
    let status = berth_tests::probe::Status::parse(
        sandbox.ok(["exec", "host", "probe", "status"]).as_bytes(),
    );
    assert_eq!(status.cap_eff, Some(0xa80425fb));
    assert_eq!(status.seccomp, Some(2));
    assert_eq!(status.fds, vec![0, 1, 2]);
    assert!(
        status.cgroup.iter().any(|l| l.contains(&id)),
        "in the container's cgroup: {:?}",
        status.cgroup
    );
    let user = sandbox.ok(["exec", "-u", "65534", "host", "probe", "status"]);
    assert_eq!(
        berth_tests::probe::Status::parse(user.as_bytes()).uid,
        65534
    );
    assert_eq!(
        sandbox
            .run(["exec", "host", "no-such-command"])
            .status
            .code(),
        Some(127)
    );
    // berth-enter --join is the same thing.
    let enter = std::process::Command::new(berth_tests::berth_bin("berth-enter"))
        .arg("--root")
        .arg(sandbox.store.root())
        .arg("--run-dir")
        .arg(sandbox.store.run_dir())
        .args(["--join", "host", "--", "cat", "/tmp/m"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&enter.stdout),
        "marker\n",
        "{}",
        describe(&enter)
    );
    sandbox.ok(["rm", "-f", "host"]);
    assert_eq!(
        sandbox.run(["exec", "host", "true"]).status.code(),
        Some(125),
        "no such container"
    );
}

#[test]
fn a_killed_foreground_berth_run_leaves_a_container_that_rm_cleans_up() {
    let sandbox = Sandbox::with_probe();
    let mut child = sandbox
        .run_command(["--name", "orphan", "probe:latest", "probe", "sleep", "600"])
        .spawn()
        .unwrap();
    wait_for("the container in ps", || {
        sandbox.ok(["ps"]).contains("orphan")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        sandbox.ok(["ps"]).contains("orphan"),
        "the container outlives its berth-run"
    );
    sandbox.ok(["rm", "-f", "orphan"]);
    assert!(!sandbox.ok(["ps", "-a"]).contains("orphan"));
    assert!(
        sandbox.leftover_mounts().is_empty(),
        "{:?}",
        sandbox.leftover_mounts()
    );
    assert!(
        sandbox.leftover_cgroups().is_empty(),
        "{:?}",
        sandbox.leftover_cgroups()
    );
}

#[test]
fn foreground_containers_without_rm_are_listed_as_exited() {
    let sandbox = Sandbox::with_probe();
    sandbox.run(["--name", "done", "probe:latest", "sh", "-c", "exit 4"]);
    assert!(sandbox.ok(["ps", "-a"]).contains("Exited (4)"));
    sandbox.ok(["rm", "done"]);
    assert!(sandbox.leftover_mounts().is_empty() && sandbox.leftover_cgroups().is_empty());
}
