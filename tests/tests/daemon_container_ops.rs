//! berthd's container operations beyond the run path, on containers `berth-run -d` made on
//! the same root (the store is what berthd reads), driven by the real docker CLI.

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;

#[test]
fn docker_top_lists_the_containers_processes_and_only_them() {
    let sandbox = Sandbox::with_probe();
    let id = sandbox.detach(&[
        "--name",
        "topped",
        "probe:latest",
        "sh",
        "-c",
        "sleep 4242 & sleep 4343 & wait",
    ]);
    let daemon = Daemon::start(&sandbox);

    // The children may take a moment to exec.
    let mut top = String::new();
    for _ in 0..50 {
        top = daemon.docker_ok(["top", "topped"]);
        if top.contains("sleep 4242") && top.contains("sleep 4343") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut lines = top.lines();
    let titles = lines.next().unwrap_or_default();
    assert!(titles.contains("PID") && titles.contains("CMD"), "{top}");
    assert!(
        top.contains("sleep 4242") && top.contains("sleep 4343"),
        "{top}"
    );
    // sh and its two children; nothing of the host (the daemon, the test).
    assert_eq!(lines.count(), 3, "{top}");

    // ps_args reach ps; the PID column is found wherever it is.
    let custom = daemon.docker_ok(["top", &id[..12], "-o", "pid,comm"]);
    assert!(
        custom.lines().next().unwrap().contains("COMMAND"),
        "{custom}"
    );
    assert_eq!(custom.lines().filter(|l| l.contains("sleep")).count(), 2);

    let missing = daemon.docker(["top", "no-such-one"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("No such container: no-such-one"),
        "{stderr}"
    );

    sandbox.ok(["rm", "-f", &id]);
    let stopped = daemon.http("GET", &format!("/containers/{id}/top"), "");
    assert!(
        stopped.contains(" 404 ") || stopped.contains(" 409 "),
        "{stopped}"
    );
}

#[test]
fn docker_top_of_a_stopped_container_is_a_conflict() {
    let sandbox = Sandbox::with_probe();
    let id = sandbox.detach(&["--name", "done", "probe:latest", "sh", "-c", "exit 0"]);
    let daemon = Daemon::start(&sandbox);
    let mut answer = String::new();
    for _ in 0..50 {
        answer = daemon.http("GET", "/containers/done/top", "");
        if answer.contains(" 409 ") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(answer.contains(" 409 "), "{answer}");
    assert!(
        answer.contains(&format!("Container {id} is not running")),
        "{answer}"
    );
    sandbox.ok(["rm", "-f", &id]);
}
