//! Healthchecks through berthd with the real docker CLI: the test runs inside the container
//! at the interval; inspect shows State.Health, `ps` the status, `health=` filters; a new
//! berthd on the same root shows the recorded health and probes on.

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::formats::{write_images, Format};
use berth_tests::probe::probe_image_spec;
use berth_tests::wait_for;
use serde_json::{json, Value};

fn health(daemon: &Daemon, name: &str) -> Value {
    let out = daemon.docker_ok(["inspect", "-f", "{{json .State.Health}}", name]);
    serde_json::from_str(out.trim()).unwrap_or(Value::Null)
}

fn wait_status(daemon: &Daemon, name: &str, want: &str) -> Value {
    let mut last = Value::Null;
    wait_for(&format!("{name} {want}"), || {
        last = health(daemon, name);
        last["Status"] == want
    });
    last
}

fn ps(daemon: &Daemon, filter: &str) -> String {
    daemon.docker_ok([
        "ps",
        "--filter",
        filter,
        "--format",
        "{{.Names}} {{.Status}}",
    ])
}

#[test]
fn a_check_is_unhealthy_until_it_passes_and_survives_a_restart_of_berthd() {
    let sandbox = Sandbox::with_probe();
    let mut daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        "probe:latest",
        "busybox",
        "sleep",
        "300",
    ]);
    // A slow check stays "starting" for its first interval.
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "true",
        "--health-interval",
        "60s",
        "probe:latest",
        "busybox",
        "sleep",
        "300",
    ]);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "plain",
        "probe:latest",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(health(&daemon, "slow")["Status"], "starting");
    assert!(ps(&daemon, "name=slow").contains("(health: starting)"));
    assert_eq!(health(&daemon, "plain"), Value::Null, "no check, no Health");

    let sick = wait_status(&daemon, "hc", "unhealthy");
    assert!(sick["FailingStreak"].as_u64().unwrap() >= 2, "{sick}");
    let last = sick["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 1, "{sick}");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    assert!(ps(&daemon, "name=hc").contains("(unhealthy)"));
    assert_eq!(
        ps(&daemon, "health=unhealthy").trim().split(' ').next(),
        Some("hc")
    );
    assert!(ps(&daemon, "health=none").starts_with("plain "));

    daemon.docker_ok(["exec", "hc", "sh", "-c", ": > /tmp/ok"]);
    let well = wait_status(&daemon, "hc", "healthy");
    assert_eq!(well["FailingStreak"], 0);
    let log = well["Log"].as_array().unwrap();
    assert!(log.len() <= 5, "{well}");
    assert_eq!(log.last().unwrap()["ExitCode"], 0);
    assert!(ps(&daemon, "name=hc").contains("(healthy)"));
    assert_eq!(
        ps(&daemon, "health=healthy").trim().split(' ').next(),
        Some("hc")
    );
    wait_for("a full log", || {
        health(&daemon, "hc")["Log"].as_array().map_or(0, Vec::len) == 5
    });

    // A new berthd shows what was recorded, and probes on.
    daemon.stop();
    let daemon = Daemon::start(&sandbox);
    assert_eq!(health(&daemon, "hc")["Status"], "healthy");
    daemon.docker_ok(["exec", "hc", "busybox", "rm", "/tmp/ok"]);
    wait_status(&daemon, "hc", "unhealthy");

    // Each change of health is an event (the first check fails: starting → unhealthy).
    std::thread::sleep(std::time::Duration::from_secs(1));
    let events = daemon.docker_ok([
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "--filter",
        "container=hc",
        "--format",
        "{{.Action}}",
    ]);
    let changes: Vec<&str> = events
        .lines()
        .filter(|a| a.starts_with("health_status"))
        .collect();
    assert_eq!(
        changes,
        [
            "health_status: unhealthy",
            "health_status: healthy",
            "health_status: unhealthy"
        ],
        "{events}"
    );

    daemon.docker_ok(["rm", "-f", "hc", "slow", "plain"]);
    sandbox.assert_nothing_left();
}

#[test]
fn a_probe_past_its_timeout_fails_and_is_killed_in_the_container() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "stuck",
        "--health-cmd",
        "busybox sleep 77",
        "--health-timeout",
        "1s",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "probe:latest",
        "busybox",
        "sleep",
        "300",
    ]);
    wait_status(&daemon, "stuck", "unhealthy");
    wait_for("three timed-out probes", || {
        health(&daemon, "stuck")["Log"]
            .as_array()
            .map_or(0, Vec::len)
            >= 3
    });
    let state = health(&daemon, "stuck");
    for probe in state["Log"].as_array().unwrap() {
        assert_eq!(probe["ExitCode"], -1, "{state}");
        assert_eq!(
            probe["Output"], "Health check exceeded timeout (1s)",
            "{state}"
        );
    }
    // Killed probes are not left behind: at most the one running now.
    let top = daemon.docker_ok(["top", "stuck"]);
    let probes = top.lines().filter(|l| l.ends_with("sleep 77")).count();
    assert!(probes <= 1, "{top}");
    daemon.docker_ok(["rm", "-f", "stuck"]);
    sandbox.assert_nothing_left();
}

#[test]
fn the_images_check_applies_unless_the_container_changes_or_turns_it_off() {
    let sandbox = Sandbox::with_probe();
    let mut spec = probe_image_spec().name("checked:1");
    spec.config["Healthcheck"] = json!({
        "Test": ["CMD-SHELL", "test -f /tmp/ok"],
        "Interval": 1_000_000_000u64,
        "Retries": 1,
    });
    let path = sandbox.store.work("checked.tar");
    write_images(Format::OciArchive, &[spec.build()], &path);
    sandbox.store.load(&path);
    let daemon = Daemon::start(&sandbox);
    let run = |name: &str, extra: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["checked:1", "busybox", "sleep", "300"]);
        daemon.docker_ok(args);
    };
    run("inherits", &[]);
    run("off", &["--no-healthcheck"]);
    // The container's interval over the image's test: no probe for a minute.
    run("slower", &["--health-interval", "60s"]);
    wait_status(&daemon, "inherits", "unhealthy");
    assert_eq!(health(&daemon, "off"), Value::Null);
    assert_eq!(health(&daemon, "slower")["Status"], "starting");
    assert!(health(&daemon, "slower")["Log"]
        .as_array()
        .unwrap()
        .is_empty());
    daemon.docker_ok(["rm", "-f", "inherits", "off", "slower"]);
    sandbox.assert_nothing_left();
}
