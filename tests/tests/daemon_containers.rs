//! Containers through berthd with the real docker CLI: `docker run` in the foreground
//! and detached, exit codes, ps, logs, stop, start, restart, rm, inspect, name conflicts,
//! bad input, and containers made by `berth-run -d` on the same root.

use std::process::Output;
use std::time::Duration;

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::wait_for;

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn docker_run_rm_prints_the_output_and_exits_with_the_containers_code() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);

    let out = daemon.docker(["run", "--rm", "probe:latest", "sh", "-c", "echo hi"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        stdout,
        "hi\n",
        "stderr: {stderr}\nlog: {}",
        daemon.log_text()
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    let out = daemon.docker([
        "run",
        "--rm",
        "probe:latest",
        "sh",
        "-c",
        "echo err >&2; exit 3",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr, "err\n");

    let out = daemon.docker(["run", "--rm", "probe:latest", "/no/such/command"]);
    assert_eq!(out.status.code(), Some(127), "{:?}", text(&out));
    let out = daemon.docker(["run", "--rm", "probe:latest", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{:?}", text(&out));

    // --rm removed every one of them, the failed starts too.
    wait_for("the removals", || {
        daemon.docker_ok(["ps", "-aq"]).trim().is_empty()
    });
    sandbox.assert_nothing_left();
}

#[test]
fn a_detached_container_is_listed_logged_stopped_started_and_removed() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);

    let id = daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "ticker",
        "probe:latest",
        "sh",
        "-c",
        "echo out; echo err >&2; trap 'exit 3' TERM; while true; do sleep 0.1; done",
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let ps = daemon.docker_ok(["ps"]);
    assert!(
        ps.contains(&id[..12]) && ps.contains("ticker") && ps.contains("Up"),
        "{ps}"
    );
    wait_for("the logs", || {
        daemon.docker(["logs", "ticker"]).stdout.starts_with(b"out")
    });
    let (out, err) = text(&daemon.docker(["logs", "ticker"]));
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));

    let inspect = daemon.docker_ok(["inspect", "ticker"]);
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let c = &inspect[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/ticker");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert!(c["State"]["Pid"].as_i64().unwrap() > 0, "{c}");
    assert_eq!(c["Path"], "sh");
    assert_eq!(c["Config"]["Image"], "probe:latest");
    assert!(c["Image"].as_str().unwrap().starts_with("sha256:"), "{c}");

    // A second start of a running container is a 304, which the CLI takes as done.
    daemon.docker_ok(["start", "ticker"]);
    let refused = daemon.docker(["rm", "ticker"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused)
            .1
            .contains("You cannot remove a running container"),
        "{:?}",
        text(&refused)
    );

    daemon.docker_ok(["stop", "ticker"]);
    let state = daemon.docker_ok([
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "ticker",
    ]);
    assert_eq!(state.trim(), "exited 3");
    let ps = daemon.docker_ok(["ps", "-a"]);
    assert!(ps.contains("Exited (3)"), "{ps}");
    assert!(!daemon.docker_ok(["ps"]).contains("ticker"));

    // Started again: the same container, its log goes on.
    daemon.docker_ok(["start", "ticker"]);
    wait_for("the second run's output", || {
        text(&daemon.docker(["logs", "ticker"])).0 == "out\nout\n"
    });
    daemon.docker_ok(["restart", "-t", "5", "ticker"]);
    let state = daemon.docker_ok(["inspect", "-f", "{{.State.Running}}", "ticker"]);
    assert_eq!(state.trim(), "true");

    daemon.docker_ok(["rm", "-f", "ticker"]);
    assert!(daemon.docker_ok(["ps", "-aq"]).trim().is_empty());
    sandbox.assert_nothing_left();
}

#[test]
fn logs_follow_ends_when_the_container_does() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "brief",
        "probe:latest",
        "sh",
        "-c",
        "echo one; sleep 1; echo two",
    ]);
    let begin = std::time::Instant::now();
    let out = daemon.docker(["logs", "-f", "brief"]);
    assert!(begin.elapsed() < Duration::from_secs(20));
    assert_eq!(text(&out).0, "one\ntwo\n");
    let code = daemon.docker_ok(["wait", "brief"]);
    assert_eq!(code.trim(), "0");
    daemon.docker_ok(["rm", "brief"]);
    sandbox.assert_nothing_left();
}

#[test]
fn names_conflict_once_and_bad_input_gets_dockers_errors() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let body = r#"{"Image":"probe:latest","Cmd":["true"]}"#;
    let answers: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| daemon.http("POST", "/v1.43/containers/create?name=one", body)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = answers.iter().filter(|a| a.contains(" 201 ")).count();
    let conflicts: Vec<_> = answers.iter().filter(|a| a.contains(" 409 ")).collect();
    assert_eq!(created, 1, "{answers:?}");
    assert_eq!(conflicts.len(), 19, "{answers:?}");
    assert!(
        conflicts[0].contains(r#"The container name \"/one\" is already in use by container"#),
        "{}",
        conflicts[0]
    );
    let created = daemon.docker_ok(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert_eq!(created.trim(), "one Created");

    let bad = daemon.http("POST", "/v1.43/containers/create", "{not json");
    assert!(bad.contains(" 400 "), "{bad}");
    let missing = daemon.http("GET", "/v1.43/containers/nosuch/json", "");
    assert!(
        missing.contains(" 404 ") && missing.contains("No such container: nosuch"),
        "{missing}"
    );
    // No pull, no lookup anywhere: the CLI would try a pull, which is not this endpoint's.
    let no_image = daemon.http(
        "POST",
        "/v1.43/containers/create",
        r#"{"Image":"no-such-image:1"}"#,
    );
    assert!(
        no_image.contains(" 404 ") && no_image.contains("No such image: no-such-image:1"),
        "{no_image}"
    );

    daemon.docker_ok(["rm", "one"]);
    sandbox.assert_nothing_left();
}

#[test]
fn containers_of_berth_run_on_the_same_root_are_dockers_too() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let id = sandbox.detach(&[
        "--name",
        "native",
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
    let ps = daemon.docker_ok(["ps"]);
    assert!(ps.contains(&id[..12]) && ps.contains("native"), "{ps}");
    daemon.docker_ok(["stop", "-t", "1", "native"]);
    assert!(daemon.docker_ok(["ps", "-a"]).contains("Exited"));
    daemon.docker_ok(["rm", "native"]);
    assert!(daemon.docker_ok(["ps", "-aq"]).trim().is_empty());
    sandbox.assert_nothing_left();
}
