//! Restart policies and adoption through berthd with the docker CLI: `on-failure:2`
//! restarts exactly twice, `always` comes back when the daemon does, `docker stop` keeps
//! an `always` container down, and a container outlives a SIGKILLed berthd whole (logs,
//! exit code, its policy watched again).

use std::time::{Duration, Instant, SystemTime};

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::wait_for;

fn inspect(daemon: &Daemon, name: &str, format: &str) -> String {
    daemon
        .docker_ok(["inspect", "-f", format, name])
        .trim()
        .to_string()
}

/// Kills a container's process behind berthd's back, as if it crashed.
fn sigkill(pid: i32) {
    let pid = rustix::process::Pid::from_raw(pid).expect("a container's pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill");
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The actions of `name`'s events since `since` (whole seconds, as the CLI sends them).
fn actions(daemon: &Daemon, name: &str, since: u64) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(1000));
    daemon
        .docker_ok([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            "0s",
            "--filter",
            &format!("container={name}"),
            "--format",
            "{{.Action}}",
        ])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn on_failure_2_restarts_exactly_twice() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let since = unix_now() - 1;
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "rs-fail",
        "--restart",
        "on-failure:2",
        "probe:latest",
        "sh",
        "-c",
        "exit 1",
    ]);
    wait_for("two restarts and a last exit", || {
        inspect(&daemon, "rs-fail", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    });
    // Nothing more comes: the back-off (100 ms, 200 ms) is long over after a second.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        inspect(
            &daemon,
            "rs-fail",
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}} {{.State.Restarting}}"
        ),
        "2 exited 1 false"
    );
    let seen = actions(&daemon, "rs-fail", since);
    let count = |a: &str| seen.iter().filter(|s| *s == a).count();
    assert_eq!((count("start"), count("die")), (3, 3), "{seen:?}");
    daemon.docker_ok(["rm", "rs-fail"]);
    sandbox.assert_nothing_left();
}

#[test]
fn docker_stop_keeps_an_always_container_stopped() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "rs-stop",
        "--restart",
        "always",
        "probe:latest",
        "sh",
        "-c",
        "sleep 100",
    ]);
    daemon.docker_ok(["stop", "-t", "1", "rs-stop"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        inspect(&daemon, "rs-stop", "{{.State.Running}} {{.RestartCount}}"),
        "false 0"
    );
    // Its process exiting on its own is restarted: the policy is still there.
    daemon.docker_ok(["start", "rs-stop"]);
    let pid: i32 = inspect(&daemon, "rs-stop", "{{.State.Pid}}")
        .parse()
        .unwrap();
    sigkill(pid);
    wait_for("the restart", || {
        inspect(&daemon, "rs-stop", "{{.State.Running}} {{.RestartCount}}") == "true 1"
    });
    daemon.docker_ok(["rm", "-f", "rs-stop"]);
    sandbox.assert_nothing_left();
}

#[test]
fn an_always_container_comes_back_with_the_daemon() {
    let sandbox = Sandbox::with_probe();
    let mut daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "rs-back",
        "--restart",
        "always",
        "probe:latest",
        "sh",
        "-c",
        "sleep 100",
    ]);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "rs-none",
        "probe:latest",
        "sh",
        "-c",
        "sleep 100",
    ]);
    let pids: Vec<i32> = ["rs-back", "rs-none"]
        .iter()
        .map(|n| inspect(&daemon, n, "{{.State.Pid}}").parse().unwrap())
        .collect();
    daemon.stop();
    // Both end while no daemon watches.
    for pid in &pids {
        sigkill(*pid);
    }
    let begin = Instant::now();
    while pids
        .iter()
        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
        && begin.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let daemon = Daemon::start(&sandbox);
    wait_for("rs-back started with the daemon", || {
        inspect(&daemon, "rs-back", "{{.State.Running}}") == "true"
    });
    assert_eq!(inspect(&daemon, "rs-none", "{{.State.Running}}"), "false");
    daemon.docker_ok(["rm", "-f", "rs-back", "rs-none"]);
    sandbox.assert_nothing_left();
}

#[test]
fn a_container_outlives_a_sigkilled_daemon_whole() {
    let sandbox = Sandbox::with_probe();
    let mut daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "rs-adopt",
        "--restart",
        "on-failure:1",
        "probe:latest",
        "sh",
        "-c",
        "echo one; sleep 2; echo two; sleep 2; echo three; exit 7",
    ]);
    wait_for("the first line", || {
        daemon.docker_ok(["logs", "rs-adopt"]).contains("one")
    });
    daemon.kill();
    // "two" is written while no daemon runs.
    std::thread::sleep(Duration::from_millis(2500));
    let daemon = Daemon::start(&sandbox);
    let ps = daemon.docker_ok(["ps", "--filter", "name=rs-adopt", "--format", "{{.Status}}"]);
    assert!(ps.starts_with("Up"), "{ps:?}");
    let logs = daemon.docker_ok(["logs", "rs-adopt"]);
    assert_eq!(logs, "one\ntwo\n");
    let code = daemon.docker_ok(["wait", "rs-adopt"]);
    assert_eq!(code.trim(), "7");
    // The adopted container's policy is watched: one restart, then it stays down.
    wait_for("the one restart and its end", || {
        inspect(&daemon, "rs-adopt", "{{.RestartCount}} {{.State.Status}}") == "1 exited"
    });
    let logs = daemon.docker_ok(["logs", "rs-adopt"]);
    assert_eq!(logs, "one\ntwo\nthree\none\ntwo\nthree\n");
    assert_eq!(inspect(&daemon, "rs-adopt", "{{.State.ExitCode}}"), "7");
    daemon.docker_ok(["rm", "rs-adopt"]);
    sandbox.assert_nothing_left();
}

#[test]
fn auto_remove_with_a_restart_policy_is_refused() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let body = r#"{"Image":"probe:latest","Cmd":["true"],"HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#;
    let answer = daemon.http("POST", "/containers/create", body);
    assert!(answer.starts_with("HTTP/1.0 400"), "{answer}");
    assert!(answer.contains("can't create 'AutoRemove' container with restart policy"));
    assert!(daemon.docker_ok(["ps", "-aq"]).trim().is_empty());
    sandbox.assert_nothing_left();
}
