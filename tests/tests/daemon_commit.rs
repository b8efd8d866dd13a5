//! `docker commit` through berthd with the real docker CLI: a container's writes and
//! deletions become a layer of a new image that runs with them, `--change` and the
//! author and message reach the config and history, and a running container is committed
//! as it is.

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;

#[test]
fn a_committed_container_runs_with_its_changes_and_the_changed_config() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);

    daemon.docker_ok([
        "run",
        "--name",
        "writer",
        "probe:latest",
        "sh",
        "-c",
        "busybox mkdir -p /data/sub && echo kept > /data/sub/file && busybox rm /bin/ls \
         && echo gone > /tmp/x && busybox rm /tmp/x",
    ]);
    let id = daemon.docker_ok([
        "commit",
        "--change",
        "CMD [\"cat\", \"/data/sub/file\"]",
        "--change",
        "ENV COMMITTED=yes",
        "-a",
        "someone",
        "-m",
        "a message",
        "writer",
        "committed:v1",
    ]);
    let id = id.trim();
    assert!(id.starts_with("sha256:"), "{id}");

    // The new CMD runs and sees the file the container wrote.
    let out = daemon.docker_ok(["run", "--rm", "committed:v1"]);
    assert_eq!(out, "kept\n");
    // What the container deleted is gone; the environment has the change.
    let out = daemon.docker_ok([
        "run",
        "--rm",
        "committed:v1",
        "sh",
        "-c",
        "test -e /bin/ls && echo present || echo absent; busybox ls /tmp; echo $COMMITTED",
    ]);
    assert_eq!(out, "absent\nyes\n");

    let inspect = daemon.docker_ok([
        "image",
        "inspect",
        "--format",
        "{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}|{{len .RootFS.Layers}}",
        "committed:v1",
    ]);
    let base_layers = daemon.docker_ok([
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}}",
        "probe:latest",
    ]);
    let base: usize = base_layers.trim().parse().unwrap();
    assert_eq!(
        inspect.trim(),
        format!(
            "someone|a message|[\"cat\",\"/data/sub/file\"]|{}",
            base + 1
        )
    );
    let history = daemon.docker_ok(["history", "--no-trunc", "committed:v1"]);
    assert!(history.contains("a message"), "{history}");

    // The commit was recorded as an event of the container (until a second from now: the
    // CLI sends whole seconds, and the event may be of this one).
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let events = daemon.docker_ok([
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "event=commit",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    assert_eq!(events.trim(), "writer");

    daemon.docker_ok(["rm", "writer"]);
    daemon.docker_ok(["rmi", "committed:v1"]);
    sandbox.assert_nothing_left();
}

#[test]
fn a_running_container_is_committed_while_it_runs() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "live",
        "probe:latest",
        "sh",
        "-c",
        "echo live > /state; while true; do sleep 0.1; done",
    ]);
    berth_tests::wait_for("the file", || {
        daemon
            .docker(["exec", "live", "cat", "/state"])
            .status
            .success()
    });
    daemon.docker_ok(["commit", "live", "live-image"]);
    // Still running after the pause of the commit.
    let state = daemon.docker_ok(["inspect", "--format", "{{.State.Running}}", "live"]);
    assert_eq!(state.trim(), "true");
    let out = daemon.docker_ok(["run", "--rm", "live-image", "cat", "/state"]);
    assert_eq!(out, "live\n");
    let missing = daemon.docker(["commit", "no-such-container"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("No such container"),
        "{:?}",
        missing
    );
    daemon.docker_ok(["rm", "-f", "live"]);
    daemon.docker_ok(["rmi", "live-image"]);
    sandbox.assert_nothing_left();
}

#[test]
fn a_container_in_a_user_namespace_is_committed_with_its_own_view_of_owners() {
    let sandbox = Sandbox::with_probe();
    // berth's subordinate ranges for this test alone: container 0 is host 200000.
    std::fs::write(sandbox.store.work("subuid"), "berth:200000:65536\n").unwrap();
    std::fs::write(sandbox.store.work("subgid"), "berth:300000:65536\n").unwrap();
    let out = sandbox
        .run_command([
            "--name",
            "remapped",
            "--userns-remap",
            "default",
            "probe:latest",
            "sh",
            "-c",
            "echo r > /by-root && echo u > /by-user && busybox chown 1000:1001 /by-user && \
             busybox mkdir /dir && busybox chown 7:8 /dir && busybox stat -c %u:%g /by-root /by-user /dir && busybox cat /proc/self/uid_map",
        ])
        .env("BERTH_SUBUID_FILE", sandbox.store.work("subuid"))
        .env("BERTH_SUBGID_FILE", sandbox.store.work("subgid"))
        .output()
        .expect("spawn berth-run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (owners, map) = stdout.split_at(stdout.find(":8\n").expect("three owners") + 3);
    assert_eq!(owners, "0:0\n1000:1001\n7:8\n", "the container's own view");
    let map: Vec<&str> = map.split_whitespace().collect();
    assert_eq!(map, ["0", "200000", "65536"], "in a user namespace");
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok(["commit", "remapped", "remapped:1"]);
    // Run without a user namespace, the image shows the ids the container saw, not the
    // host's shifted ones (200000, 201000, 300000…).
    let owners = daemon.docker_ok([
        "run",
        "--rm",
        "remapped:1",
        "busybox",
        "stat",
        "-c",
        "%u:%g",
        "/by-root",
        "/by-user",
        "/dir",
    ]);
    assert_eq!(owners, "0:0\n1000:1001\n7:8\n");
    daemon.docker_ok(["rm", "remapped"]);
    sandbox.assert_nothing_left();
}
