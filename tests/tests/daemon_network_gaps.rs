//! Networks as dockerd keeps them across a container's life, with the real docker CLI: a
//! `network connect` is joined again when the restart policy restarts the container, a stop
//! records a `disconnect` event for each network it left, and `network disconnect --force`
//! takes down the endpoint of a container that is gone.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::net::SubnetLease;
use berth_tests::private_netns::PrivateNetns;
use serde_json::Value;

fn now() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

fn networks(daemon: &Daemon, name: &str) -> Value {
    let out = daemon.docker_ok(["inspect", name]);
    let all: Value = serde_json::from_str(&out).unwrap();
    all[0]["NetworkSettings"]["Networks"].clone()
}

/// The network events between `since` and now, as `ACTION NETWORK CONTAINER` lines.
fn network_events(daemon: &Daemon, since: &str) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(1100));
    let out = daemon.docker_ok([
        "events",
        "--since",
        since,
        "--until",
        &now(),
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}",
    ]);
    out.lines().map(str::to_string).collect()
}

#[test]
fn a_connect_is_joined_again_when_the_restart_policy_restarts_the_container() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let (first, added) = (SubnetLease::take(), SubnetLease::take());
    daemon.docker_ok(["network", "create", "--subnet", &first.subnet, "rsfirst"]);
    daemon.docker_ok(["network", "create", "--subnet", &added.subnet, "rsadded"]);
    // Runs a while, fails, and is restarted once by its policy.
    let id = daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "bouncer",
        "--network",
        "rsfirst",
        "--restart",
        "on-failure:1",
        "probe:latest",
        "sh",
        "-c",
        "sleep 5; exit 3",
    ]);
    let id = id.trim().to_string();
    daemon.docker_ok(["network", "connect", "rsadded", "bouncer"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let count = daemon.docker_ok(["inspect", "-f", "{{.RestartCount}}", "bouncer"]);
        let running = daemon.docker_ok(["inspect", "-f", "{{.State.Running}}", "bouncer"]);
        if count.trim() == "1" && running.trim() == "true" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no restart:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The connect is joined just after the restarted start returns: within its run.
    let joined = |nets: &Value| {
        ["rsfirst", "rsadded"].iter().all(|net| {
            !nets[net]["IPAddress"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        })
    };
    let mut nets = networks(&daemon, "bouncer");
    while !joined(&nets) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        nets = networks(&daemon, "bouncer");
    }
    assert!(joined(&nets), "both joined after the restart: {nets}");
    daemon.docker_ok(["rm", "-f", &id]);
    daemon.docker_ok(["network", "rm", "rsfirst", "rsadded"]);
    sandbox.assert_nothing_left();
}

#[test]
fn a_stop_records_a_disconnect_event_for_each_network_it_left() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let (first, added) = (SubnetLease::take(), SubnetLease::take());
    daemon.docker_ok(["network", "create", "--subnet", &first.subnet, "evfirst"]);
    daemon.docker_ok(["network", "create", "--subnet", &added.subnet, "evadded"]);
    let id = daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "leaver",
        "--network",
        "evfirst",
        "probe:latest",
        "sh",
        "-c",
        "sleep 600",
    ]);
    let id = id.trim().to_string();
    daemon.docker_ok(["network", "connect", "evadded", "leaver"]);
    let since = now();
    daemon.docker_ok(["stop", "-t", "1", "leaver"]);
    let events = network_events(&daemon, &since);
    let mut left: Vec<&str> = events
        .iter()
        .filter(|l| l.starts_with("disconnect ") && l.ends_with(&id))
        .map(String::as_str)
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            format!("disconnect evadded {id}"),
            format!("disconnect evfirst {id}")
        ],
        "{events:?}"
    );
    // The removal of the stopped container leaves nothing more to disconnect.
    let since = now();
    daemon.docker_ok(["rm", "leaver"]);
    let events = network_events(&daemon, &since);
    assert!(
        !events.iter().any(|l| l.starts_with("disconnect ")),
        "{events:?}"
    );
    daemon.docker_ok(["network", "rm", "evfirst", "evadded"]);
    sandbox.assert_nothing_left();
}

#[test]
fn disconnect_force_takes_down_the_endpoint_of_a_container_that_is_gone() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let lease = SubnetLease::take();
    daemon.docker_ok(["network", "create", "--subnet", &lease.subnet, "stalenet"]);
    // An endpoint whose container no longer exists (its record lost in a crash).
    let ghost = "ab".repeat(32);
    let endpoints = sandbox
        .store
        .root()
        .join("networks")
        .join("stalenet")
        .join("endpoints");
    std::fs::create_dir_all(&endpoints).unwrap();
    let file = endpoints.join(format!("{ghost}.json"));
    let stale = serde_json::json!({
        "container_id": ghost,
        "name": "ghost",
        "ip": "10.254.254.2",
        "host_veth": "bhghost0",
    });
    std::fs::write(&file, stale.to_string()).unwrap();
    let plain = daemon.docker(["network", "disconnect", "stalenet", "ghost"]);
    assert!(!plain.status.success());
    let said = String::from_utf8_lossy(&plain.stderr);
    assert!(said.contains("No such container: ghost"), "{said}");
    assert!(file.exists(), "nothing done without --force");
    let since = now();
    daemon.docker_ok(["network", "disconnect", "--force", "stalenet", "ghost"]);
    assert!(!file.exists(), "the stale endpoint is gone");
    let events = network_events(&daemon, &since);
    assert!(
        events.contains(&format!("disconnect stalenet {ghost}")),
        "{events:?}"
    );
    // Nothing by that name is left: --force does not make an error a success.
    let again = daemon.docker(["network", "disconnect", "--force", "stalenet", "ghost"]);
    assert!(!again.status.success());
    daemon.docker_ok(["network", "rm", "stalenet"]);
    sandbox.assert_nothing_left();
}
