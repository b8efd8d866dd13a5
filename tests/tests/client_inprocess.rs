//! The `berth` client with no host: the API in-process over the sandbox's store. Load
//! with progress, images, run (output, exit codes, 127), ps with templates, a detached
//! container's logs and exec, rm; a bad template; `-it` on a pseudo-terminal; and a
//! container of `berth run -d` that a berthd on the same root then serves.

use std::io::Write;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_tests::client::{berth_command, berth_local, client_config, ok, output};
use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::formats::{write_images, Format, ImageSpec};
use berth_tests::{collect, collected_text, wait_for};

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn load_run_ps_logs_exec_rm_in_process() {
    let sandbox = Sandbox::new();
    let archive = sandbox.store.work("busybox.tar");
    let image = ImageSpec::busybox().name("bb:1").cmd(&["sh"]).build();
    write_images(Format::Docker25, std::slice::from_ref(&image), &archive);

    let loaded = ok(berth_local(&sandbox, ["load", "-i"]).arg(&archive));
    assert!(loaded.contains("Loaded image: bb:1"), "{loaded}");
    let images = ok(berth_local(
        &sandbox,
        ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
    ));
    assert_eq!(
        images.trim(),
        format!("bb:1 {}", &image.id()["sha256:".len()..][..12])
    );
    let table = ok(berth_local(&sandbox, ["images"]));
    assert!(
        table.starts_with("REPOSITORY   TAG       IMAGE ID"),
        "{table}"
    );

    let out = output(berth_local(
        &sandbox,
        [
            "run",
            "--rm",
            "bb:1",
            "sh",
            "-c",
            "echo hi; echo err >&2; exit 3",
        ],
    ));
    let (stdout, stderr) = text(&out);
    assert_eq!((stdout.as_str(), stderr.as_str()), ("hi\n", "err\n"));
    assert_eq!(out.status.code(), Some(3));
    let out = output(berth_local(
        &sandbox,
        ["run", "--rm", "bb:1", "/no/such/command"],
    ));
    assert_eq!(out.status.code(), Some(127), "{:?}", text(&out));
    let out = output(berth_local(
        &sandbox,
        [
            "run",
            "--rm",
            "-e",
            "X=42",
            "-w",
            "/tmp",
            "bb:1",
            "sh",
            "-c",
            "echo $X $(pwd)",
        ],
    ));
    assert_eq!(text(&out).0, "42 /tmp\n", "{:?}", text(&out));

    let id = ok(berth_local(
        &sandbox,
        [
            "run",
            "-d",
            "--name",
            "ticker",
            "--label",
            "role=test",
            "bb:1",
            "sh",
            "-c",
            "echo started; while true; do sleep 0.1; done",
        ],
    ));
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let ps = ok(berth_local(
        &sandbox,
        [
            "ps",
            "--format",
            "{{.ID}} {{.Names}} {{.Label \"role\"}} {{.State}}",
        ],
    ));
    assert_eq!(ps.trim(), format!("{} ticker test running", &id[..12]));
    let ps = ok(berth_local(
        &sandbox,
        ["ps", "--format", "table {{.Names}}\t{{upper .State}}"],
    ));
    assert_eq!(ps, "NAMES     STATE\nticker    RUNNING\n");
    let ps = ok(berth_local(&sandbox, ["ps", "--format", "{{json .Names}}"]));
    assert_eq!(ps.trim(), "\"ticker\"");
    let running = ok(berth_local(
        &sandbox,
        [
            "inspect",
            "-f",
            "{{.State.Running}} {{index .Config.Labels \"role\"}}",
            "ticker",
        ],
    ));
    assert_eq!(running.trim(), "true test");
    wait_for("the logs", || {
        ok(berth_local(&sandbox, ["logs", "ticker"])) == "started\n"
    });
    let out = output(berth_local(
        &sandbox,
        [
            "exec",
            "-e",
            "Y=7",
            "ticker",
            "sh",
            "-c",
            "echo in-$Y; exit 5",
        ],
    ));
    assert_eq!(text(&out).0, "in-7\n");
    assert_eq!(out.status.code(), Some(5));
    let piped = {
        let mut cmd = berth_local(&sandbox, ["exec", "-i", "ticker", "cat"]);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"through stdin\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert_eq!(String::from_utf8_lossy(&piped.stdout), "through stdin\n");

    // A bad template is the user's error: 125, the template and where in it.
    let out = output(berth_local(
        &sandbox,
        ["ps", "--format", "{{.ID}} {{.Names"],
    ));
    assert_eq!(out.status.code(), Some(125));
    let stderr = text(&out).1;
    assert!(
        stderr.starts_with("template parsing error at line 1, column 9 of \"{{.ID}} {{.Names\""),
        "{stderr}"
    );
    let bad = "{{.Id}}\n{{index .Config}}";
    let out = output(berth_local(
        &sandbox,
        ["inspect", "--format", bad, "ticker"],
    ));
    assert_eq!(out.status.code(), Some(125));
    let stderr = text(&out).1;
    assert!(
        stderr.contains("template execution error at line 2, column 1")
            && stderr.contains("index requires"),
        "{stderr}"
    );

    let out = output(berth_local(&sandbox, ["rm", "ticker"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.starts_with("Error response from daemon:"),
        "{:?}",
        text(&out)
    );
    assert_eq!(
        ok(berth_local(&sandbox, ["rm", "-f", "ticker"])).trim(),
        "ticker"
    );
    let out = output(berth_local(&sandbox, ["logs", "ticker"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("No such container: ticker"),
        "{:?}",
        text(&out)
    );
    assert!(ok(berth_local(&sandbox, ["ps", "-aq"])).trim().is_empty());
    sandbox.assert_nothing_left();
}

#[test]
fn a_detached_container_of_berth_is_the_daemons_and_the_reverse() {
    let sandbox = Sandbox::with_probe();
    let id = ok(berth_local(
        &sandbox,
        [
            "run",
            "-d",
            "--name",
            "early",
            "probe:latest",
            "sh",
            "-c",
            "echo early; while true; do sleep 0.1; done",
        ],
    ));
    let id = id.trim().to_string();
    // The in-process berth has exited: the container runs on under its monitor.
    let daemon = Daemon::start(&sandbox);
    let ps = daemon.docker_ok(["ps", "--format", "{{.ID}} {{.Names}}"]);
    assert_eq!(ps.trim(), format!("{} early", &id[..12]));
    wait_for("the logs", || {
        daemon.docker_ok(["logs", "early"]) == "early\n"
    });
    // The docker CLI's container is berth's, through the same daemon.
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "late",
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
    let host = format!("unix://{}", daemon.socket.display());
    let mut cmd = berth_command(&client_config(&sandbox));
    cmd.args(["-H", &host, "ps", "--format", "{{.Names}}"]);
    let names = ok(cmd);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["early", "late"]);
    let docker_names = daemon.docker_ok(["ps", "--format", "{{.Names}}"]);
    let mut docker_names: Vec<&str> = docker_names.lines().collect();
    docker_names.sort();
    assert_eq!(names, docker_names);
    let mut cmd = berth_command(&client_config(&sandbox));
    cmd.args(["-H", &host, "rm", "-f", "early", "late"]);
    ok(cmd);
    assert!(daemon.docker_ok(["ps", "-aq"]).trim().is_empty());
    drop(daemon);
    sandbox.assert_nothing_left();
}

/// `berth ARGS` in-process on a terminal that is its controlling terminal (a size change
/// signals it): the client, the master to type into, what the terminal shows.
fn berth_on_terminal(
    sandbox: &Sandbox,
    args: &[&str],
) -> (Child, std::fs::File, Arc<Mutex<Vec<u8>>>) {
    berth_tests::pty::spawn_on_terminal(berth_local(sandbox, args))
}

fn wait_shown(seen: &Arc<Mutex<Vec<u8>>>, what: &str) {
    let start = Instant::now();
    while !collected_text(seen).contains(what) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what:?} never showed; the terminal shows {:?}",
            collected_text(seen)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn exit_code(child: &mut Child) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_it_in_process_is_a_terminal_session() {
    let sandbox = Sandbox::with_probe();
    let (mut child, mut term, seen) =
        berth_on_terminal(&sandbox, &["run", "-it", "--rm", "probe:latest", "sh"]);
    term.write_all(b"stty size; echo answer-$((6*7))\n")
        .unwrap();
    wait_shown(&seen, "answer-42");
    assert!(
        collected_text(&seen).contains("33 101"),
        "{}",
        collected_text(&seen)
    );
    berth_tests::pty::set_size(&term, 40, 120);
    wait_for("the new size", || {
        term.write_all(b"echo size-$(stty size | busybox tr ' ' x)\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        collected_text(&seen).contains("size-40x120")
    });
    term.write_all(b"exit 3\n").unwrap();
    assert_eq!(exit_code(&mut child), Some(3));

    // ctrl-p ctrl-q leaves it running.
    let (mut child, mut term, seen) = berth_on_terminal(
        &sandbox,
        &["run", "-it", "--name", "held", "probe:latest", "sh"],
    );
    term.write_all(b"echo first-$((1+1))\n").unwrap();
    wait_shown(&seen, "first-2");
    term.write_all(b"\x10\x11").unwrap();
    assert_eq!(exit_code(&mut child), Some(0), "{}", collected_text(&seen));
    let running = ok(berth_local(
        &sandbox,
        ["inspect", "-f", "{{.State.Running}}", "held"],
    ));
    assert_eq!(running.trim(), "true");
    ok(berth_local(&sandbox, ["rm", "-f", "held"]));
    sandbox.assert_nothing_left();
}

#[test]
fn piped_stdin_signals_and_start_attach_in_process() {
    let sandbox = Sandbox::with_probe();
    // -i: the end of the piped input is the container's.
    let mut cmd = berth_local(
        &sandbox,
        [
            "run",
            "-i",
            "--rm",
            "--",
            "probe:latest",
            "sh",
            "-c",
            "cat; echo done",
        ],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out).0, "line one\ndone\n", "{:?}", text(&out));
    assert_eq!(out.status.code(), Some(0));

    // --sig-proxy (the default without a tty): berth's SIGTERM is the container's.
    let mut cmd = berth_local(
        &sandbox,
        [
            "run",
            "--rm",
            "probe:latest",
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.1; done",
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let seen = collect(child.stdout.take().unwrap());
    let start = Instant::now();
    while !collected_text(&seen).contains("ready") {
        assert!(start.elapsed() < Duration::from_secs(30), "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert_eq!(exit_code(&mut child), Some(7));
    wait_for("the output", || collected_text(&seen).contains("got-term"));

    // create, then start -a: the output and the code.
    let id = ok(berth_local(
        &sandbox,
        [
            "create",
            "--name",
            "later",
            "probe:latest",
            "sh",
            "-c",
            "echo from-start; exit 9",
        ],
    ));
    assert_eq!(id.trim().len(), 64);
    let out = output(berth_local(&sandbox, ["start", "-a", "later"]));
    assert_eq!(text(&out).0, "from-start\n");
    assert_eq!(out.status.code(), Some(9));
    // The exit is recorded before the monitor's teardown ends; a start in between is
    // refused by the engine (the rootfs is still mounted), so it is retried.
    wait_for("a second start", || {
        output(berth_local(&sandbox, ["start", "later"]))
            .status
            .success()
    });
    assert_eq!(ok(berth_local(&sandbox, ["wait", "later"])).trim(), "9");
    ok(berth_local(&sandbox, ["rm", "later"]));

    // run -d --rm: this berth exits at once; the removal is handed to a helper of its own.
    ok(berth_local(
        &sandbox,
        ["run", "-d", "--rm", "probe:latest", "sh", "-c", "sleep 0.5"],
    ));
    assert_eq!(ok(berth_local(&sandbox, ["ps", "-aq"])).trim().len(), 12);
    wait_for("the removal", || {
        ok(berth_local(&sandbox, ["ps", "-aq"])).trim().is_empty()
            && std::fs::read_dir(sandbox.store.root().join("containers"))
                .map(|d| d.count() == 0)
                .unwrap_or(true)
    });
    sandbox.assert_nothing_left();
}

/// The supervisor helpers of containers on this sandbox's store (found by their --root,
/// which is this test's own).
fn supervisors(sandbox: &Sandbox) -> Vec<String> {
    let root = sandbox.store.root().display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("__supervise") && c.contains(&root))
        .collect()
}

#[test]
fn restart_policies_and_healthchecks_without_a_daemon() {
    let sandbox = Sandbox::with_probe();
    let b = |args: &[&str]| ok(berth_local(&sandbox, args));
    let inspect = |name: &str| -> serde_json::Value {
        let text = b(&["inspect", name]);
        serde_json::from_str::<serde_json::Value>(&text).unwrap()[0].clone()
    };
    // berth has exited when the container does: its helper restarts it, twice, then lets it be.
    b(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--network",
        "none",
        "--restart",
        "on-failure:2",
        "probe:latest",
        "sh",
        "-c",
        "exit 3",
    ]);
    wait_for("two restarts by the policy", || {
        let c = inspect("flaky");
        c["RestartCount"] == 2 && c["State"]["Running"] == false && c["State"]["ExitCode"] == 3
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        inspect("flaky")["RestartCount"],
        2,
        "on-failure:2 stops at 2"
    );

    // A healthcheck is probed with no daemon: healthy, then unhealthy once its test fails.
    b(&[
        "run",
        "-d",
        "--name",
        "checked",
        "--network",
        "none",
        "--health-cmd",
        "test -s /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "probe:latest",
        "sh",
        "-c",
        "echo ok > /tmp/ok; while true; do sleep 0.1; done",
    ]);
    let health = |name: &str| inspect(name)["State"]["Health"]["Status"].clone();
    wait_for("healthy", || health("checked") == "healthy");
    b(&["exec", "checked", "sh", "-c", ": > /tmp/ok"]);
    wait_for("unhealthy", || health("checked") == "unhealthy");
    assert!(
        b(&["ps", "--format", "{{.Status}}"]).contains("(unhealthy)"),
        "ps shows the health"
    );

    b(&["rm", "-f", "flaky", "checked"]);
    wait_for("the supervisors to end with their containers", || {
        supervisors(&sandbox).is_empty()
    });
}
