//! `docker events` against berthd: the journal's past events between `--since` and
//! `--until` with docker's attributes, filters, a stream that sees what happens after it
//! connected, and events that outlive a daemon restart.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::wait_for;
use serde_json::Value;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `docker events --since SINCE --until 0s` with `extra` flags, one JSON value a line.
/// The CLI sends a duration as whole seconds (as dockerd takes it), so "now" is the start
/// of this second: the query waits for the next one to see what happened just before.
fn past_events(daemon: &Daemon, since: &str, extra: &[&str]) -> Vec<Value> {
    std::thread::sleep(Duration::from_millis(1000));
    let mut args = vec![
        "events",
        "--since",
        since,
        "--until",
        "0s",
        "--format",
        "{{json .}}",
    ];
    args.extend_from_slice(extra);
    daemon
        .docker_ok(args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn actions_of(events: &[Value], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["Actor"]["ID"] == id)
        .map(|e| e["Action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_run_rm_records_create_start_die_destroy_with_docker_attributes() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let since = (unix_now() - 1).to_string();
    let out = daemon.docker([
        "run",
        "--rm",
        "--name",
        "ev-rm",
        "--label",
        "tier=front",
        "probe:latest",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let mut events = Vec::new();
    wait_for("the destroy event", || {
        events = past_events(&daemon, &since, &[]);
        events.iter().any(|e| e["Action"] == "destroy")
    });
    let create = events
        .iter()
        .find(|e| e["Action"] == "create")
        .expect("create");
    let id = create["Actor"]["ID"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    // attach comes from the CLI attaching before the start.
    let actions: Vec<String> = actions_of(&events, &id)
        .into_iter()
        .filter(|a| a != "attach")
        .collect();
    assert_eq!(
        actions,
        ["create", "start", "die", "destroy"],
        "{events:#?}"
    );
    for event in events.iter().filter(|e| e["Actor"]["ID"] == id.as_str()) {
        assert_eq!(event["Type"], "container");
        assert_eq!(event["scope"], "local");
        let attrs = &event["Actor"]["Attributes"];
        assert_eq!(attrs["name"], "ev-rm", "{event}");
        assert_eq!(attrs["image"], "probe:latest", "{event}");
        assert_eq!(attrs["tier"], "front", "{event}");
        let nanos = event["timeNano"].as_i64().unwrap();
        assert_eq!(event["time"].as_i64().unwrap(), nanos / 1_000_000_000);
    }
    let die = events.iter().find(|e| e["Action"] == "die").unwrap();
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "3");

    // An until before the run shows none of it.
    let early = past_events(&daemon, &(unix_now() - 3600).to_string(), &[]);
    assert!(!early.is_empty());
    let none = daemon.docker_ok([
        "events",
        "--since",
        "1h",
        "--until",
        &(unix_now() - 3000).to_string(),
        "--format",
        "{{json .}}",
    ]);
    assert!(none.trim().is_empty(), "{none}");
    sandbox.assert_nothing_left();
}

#[test]
fn filters_by_type_container_and_event() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let since = (unix_now() - 1).to_string();
    daemon.docker_ok([
        "create",
        "--name",
        "ev-a",
        "probe:latest",
        "sh",
        "-c",
        "exit 0",
    ]);
    daemon.docker_ok([
        "create",
        "--name",
        "ev-b",
        "probe:latest",
        "sh",
        "-c",
        "exit 0",
    ]);
    daemon.docker_ok(["tag", "probe:latest", "ev-tagged:1"]);
    daemon.docker_ok(["start", "ev-a"]);
    daemon.docker_ok(["wait", "ev-a"]);

    let images = past_events(&daemon, &since, &["--filter", "type=image"]);
    assert!(!images.is_empty());
    assert!(images.iter().all(|e| e["Type"] == "image"), "{images:#?}");
    let tag = images
        .iter()
        .find(|e| e["Action"] == "tag")
        .expect("tag event");
    assert_eq!(tag["Actor"]["Attributes"]["name"], "ev-tagged:1");

    let only_a = past_events(&daemon, &since, &["--filter", "container=ev-a"]);
    assert!(!only_a.is_empty());
    assert!(
        only_a
            .iter()
            .all(|e| e["Actor"]["Attributes"]["name"] == "ev-a"),
        "{only_a:#?}"
    );
    let actions: Vec<&str> = only_a
        .iter()
        .map(|e| e["Action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "start", "die"]);

    let creates = past_events(
        &daemon,
        &since,
        &["--filter", "event=create", "--filter", "type=container"],
    );
    let names: Vec<&str> = creates
        .iter()
        .map(|e| e["Actor"]["Attributes"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ev-a", "ev-b"]);

    let bad = daemon.docker([
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "colour=red",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid filter 'colour'"));

    daemon.docker_ok(["rm", "ev-a", "ev-b"]);
    daemon.docker_ok(["rmi", "ev-tagged:1"]);
    sandbox.assert_nothing_left();
}

#[test]
fn a_stream_sees_a_start_after_it_connected_and_events_survive_a_restart() {
    let sandbox = Sandbox::with_probe();
    let mut daemon = Daemon::start(&sandbox);
    let since = (unix_now() - 1).to_string();
    daemon.docker_ok([
        "create",
        "--name",
        "ev-live",
        "probe:latest",
        "sh",
        "-c",
        "exit 0",
    ]);
    let mut stream = daemon
        .docker_command([
            "events",
            "--filter",
            "container=ev-live",
            "--format",
            "{{json .}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = stream.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The stream is connected once berthd counts a request in flight; give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    daemon.docker_ok(["start", "ev-live"]);
    let mut seen = Vec::new();
    while !seen.iter().any(|e: &Value| e["Action"] == "die") {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no die event streamed; saw {seen:#?}"));
        seen.push(serde_json::from_str(&line).unwrap());
    }
    let actions: Vec<&str> = seen.iter().map(|e| e["Action"].as_str().unwrap()).collect();
    // No create: that was before the stream connected and it asked for no past.
    assert_eq!(actions, ["start", "die"], "{seen:#?}");
    let _ = stream.kill();
    let _ = stream.wait();
    let _ = reader.join();

    daemon.stop();
    let daemon = Daemon::start(&sandbox);
    let after = past_events(&daemon, &since, &["--filter", "container=ev-live"]);
    let actions: Vec<&str> = after
        .iter()
        .map(|e| e["Action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create", "start", "die"]);
    daemon.docker_ok(["rm", "ev-live"]);
    sandbox.assert_nothing_left();
}

#[test]
fn exec_records_create_start_and_die_with_its_command_and_code() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let since = (unix_now() - 1).to_string();
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "ev-exec",
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
    let out = daemon.docker(["exec", "ev-exec", "sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    let starts = past_events(&daemon, &since, &["--filter", "event=exec_start"]);
    let actions: Vec<&str> = starts
        .iter()
        .map(|e| e["Action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["exec_start: sh -c exit 4"]);
    let all = past_events(&daemon, &since, &["--filter", "container=ev-exec"]);
    let die = all
        .iter()
        .find(|e| e["Action"] == "exec_die")
        .expect("exec_die");
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "4");
    assert_eq!(die["Actor"]["Attributes"]["name"], "ev-exec");
    let exec_id = &die["Actor"]["Attributes"]["execID"];
    assert!(all
        .iter()
        .any(|e| e["Action"] == "exec_create: sh -c exit 4"
            && &e["Actor"]["Attributes"]["execID"] == exec_id));
    daemon.docker_ok(["rm", "-f", "ev-exec"]);
    sandbox.assert_nothing_left();
}

#[test]
fn volume_create_and_remove_are_events_of_type_volume() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let since = (unix_now() - 1).to_string();
    daemon.docker_ok(["volume", "create", "ev-vol"]);
    daemon.docker_ok(["volume", "rm", "ev-vol"]);
    let events = past_events(&daemon, &since, &["--filter", "type=volume"]);
    assert_eq!(actions_of(&events, "ev-vol"), ["create", "destroy"]);
    assert!(events.iter().all(|e| e["Type"] == "volume"), "{events:?}");
    assert_eq!(events[0]["Actor"]["Attributes"]["driver"], "local");
}

#[test]
fn rename_and_update_are_events_with_the_old_name() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let since = (unix_now() - 1).to_string();
    let id = daemon
        .docker_ok(["create", "--name", "ev-old", "probe:latest", "true"])
        .trim()
        .to_string();
    daemon.docker_ok(["rename", "ev-old", "ev-new"]);
    daemon.docker_ok(["update", "--memory", "64m", "ev-new"]);
    let filter = format!("container={id}");
    let events = past_events(&daemon, &since, &["--filter", &filter]);
    assert_eq!(actions_of(&events, &id), ["create", "rename", "update"]);
    let rename = &events[1]["Actor"]["Attributes"];
    assert_eq!(rename["oldName"], "/ev-old");
    assert_eq!(rename["name"], "ev-new");
    daemon.docker_ok(["rm", "ev-new"]);
}
