//! `docker exec` through berthd: output and exit code, stdin, a terminal, inspect.

use std::io::Write;
use std::process::Stdio;

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;

fn start_sleeper(daemon: &Daemon, name: &str) {
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        name,
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
}

#[test]
fn exec_runs_in_the_container_with_its_output_and_code() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    start_sleeper(&daemon, "host");

    let out = daemon.docker([
        "exec",
        "host",
        "sh",
        "-c",
        "echo from-exec; echo err >&2; exit 4",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-exec\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert_eq!(out.status.code(), Some(4));

    // The process sees the container's filesystem and the -e/-w flags.
    let out = daemon.docker_ok([
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "host",
        "sh",
        "-c",
        "echo $X $(pwd)",
    ]);
    assert_eq!(out, "1 /tmp\n");

    // stdin reaches it, and its end ends the process's input.
    let mut child = daemon
        .docker_command([
            "exec",
            "-i",
            "host",
            "sh",
            "-c",
            "read line; echo got $line",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"data\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got data\n");

    // A missing command: docker's 126/127 words are the CLI's exit code.
    let out = daemon.docker(["exec", "host", "/no/such"]);
    assert_ne!(out.status.code(), Some(0));

    let missing = daemon.http("GET", "/v1.43/exec/nosuch/json", "");
    assert!(
        missing.contains(" 404 ") && missing.contains("No such exec instance"),
        "{missing}"
    );

    daemon.docker_ok(["rm", "-f", "host"]);
    let stopped = daemon.http(
        "POST",
        "/v1.43/containers/nosuch/exec",
        r#"{"Cmd":["true"]}"#,
    );
    assert!(stopped.contains(" 404 "), "{stopped}");
    sandbox.assert_nothing_left();
}

#[test]
fn exec_with_a_terminal_through_a_pty() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    start_sleeper(&daemon, "tty");
    let docker = daemon.docker_command([
        "exec",
        "-t",
        "tty",
        "sh",
        "-c",
        "test -t 1 && echo is-a-tty",
    ]);
    let args: Vec<String> = std::iter::once(docker.get_program())
        .chain(docker.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let envs: Vec<(String, String)> = docker
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_string_lossy().into(), v?.to_string_lossy().into())))
        .collect();
    let out = std::process::Command::new("script")
        .args(["-qec", &args.join(" "), "/dev/null"])
        .envs(envs)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("is-a-tty"),
        "{stdout:?} {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.docker_ok(["rm", "-f", "tty"]);
    sandbox.assert_nothing_left();
}
