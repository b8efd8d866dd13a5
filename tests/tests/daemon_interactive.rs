//! Interactive containers through berthd with the real docker CLI: `docker run -i` with
//! piped input (the end of the input is the container's: StdinOnce), and `docker run -it`
//! on a pseudo-terminal the test owns (typed input, window size, exit code, detach keys,
//! reattach).

use std::io::Write;
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::{collected_text, wait_for};

/// `docker ARGS` with `input` on its stdin, closed after; its output, or a failure after
/// 60 s (a container whose stdin never ends would hang here).
fn docker_with_input(daemon: &Daemon, args: &[&str], input: &[u8]) -> Output {
    let mut child = daemon
        .docker_command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn docker");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    wait_output(child, Duration::from_secs(60), daemon)
}

fn wait_output(mut child: Child, limit: Duration, daemon: &Daemon) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "docker did not end in {limit:?}: stdout {:?} stderr {:?}\nberthd log:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                daemon.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_end_of_piped_input_ends_the_containers_stdin() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);

    let out = docker_with_input(
        &daemon,
        &["run", "-i", "--rm", "probe:latest", "cat"],
        b"data\n",
    );
    assert_eq!(
        (
            String::from_utf8_lossy(&out.stdout).as_ref(),
            out.status.code()
        ),
        ("data\n", Some(0)),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = docker_with_input(
        &daemon,
        &["run", "-i", "--rm", "probe:latest", "busybox", "wc", "-l"],
        b"a\nb\n",
    );
    assert_eq!(
        (
            String::from_utf8_lossy(&out.stdout).trim(),
            out.status.code()
        ),
        ("2", Some(0)),
        "stderr: {}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        daemon.log_text()
    );

    // More than one frame of input, all of it before the end.
    let big: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let out = docker_with_input(
        &daemon,
        &["run", "-i", "--rm", "probe:latest", "busybox", "wc", "-c"],
        &big,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        big.len().to_string()
    );

    // No input at all: an empty stdin, not a hang.
    let out = docker_with_input(&daemon, &["run", "-i", "--rm", "probe:latest", "cat"], b"");
    assert_eq!((out.stdout.len(), out.status.code()), (0, Some(0)));

    wait_for("the removals", || {
        daemon.docker_ok(["ps", "-aq"]).trim().is_empty()
    });
    sandbox.assert_nothing_left();
}

/// `docker ARGS` on a terminal of the test's that is its controlling terminal (so a
/// window size change signals it, as a user's terminal would): the client, the master
/// to type into, and what the terminal shows.
fn docker_on_terminal(
    daemon: &Daemon,
    args: &[&str],
) -> (Child, std::fs::File, Arc<Mutex<Vec<u8>>>) {
    berth_tests::pty::spawn_on_terminal(daemon.docker_command(args))
}

fn wait_shown(seen: &Arc<Mutex<Vec<u8>>>, what: &str, daemon: &Daemon) {
    let start = Instant::now();
    while !collected_text(seen).contains(what) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what:?} never showed; the terminal shows {:?}\nberthd log:\n{}",
            collected_text(seen),
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn exit_code(child: &mut Child, daemon: &Daemon) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("docker did not end\nberthd log:\n{}", daemon.log_text());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_it_is_a_terminal_session_with_sizes_exit_codes_and_detach_keys() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);

    let (mut child, mut term, seen) =
        docker_on_terminal(&daemon, &["run", "-it", "--rm", "probe:latest", "sh"]);
    term.write_all(b"busybox tty; stty size; echo answer-$((6*7))\n")
        .unwrap();
    wait_shown(&seen, "answer-42", &daemon);
    let text = collected_text(&seen);
    // berth's terminal is the host's pty, bound at the container's /dev/console (ttyname
    // finds it there); runc's would be /dev/pts/0.
    assert!(
        text.contains("/dev/pts/") || text.contains("/dev/console"),
        "{text}"
    );
    assert!(!text.contains("not a tty"), "{text}");
    assert!(
        text.contains("33 101"),
        "the size of the user's terminal: {text}"
    );
    // The user's window changes: docker hears SIGWINCH and resizes the container's.
    berth_tests::pty::set_size(&term, 40, 120);
    wait_for("the new size", || {
        term.write_all(b"echo size-$(stty size | busybox tr ' ' x)\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        collected_text(&seen).contains("size-40x120")
    });
    term.write_all(b"exit 3\n").unwrap();
    assert_eq!(exit_code(&mut child, &daemon), Some(3));

    // ctrl-p ctrl-q leaves it running; `docker attach` takes it up again.
    let (mut child, mut term, seen) = docker_on_terminal(
        &daemon,
        &["run", "-it", "--name", "held", "probe:latest", "sh"],
    );
    term.write_all(b"echo first-$((1+1))\n").unwrap();
    wait_shown(&seen, "first-2", &daemon);
    term.write_all(b"\x10\x11").unwrap();
    assert_eq!(
        exit_code(&mut child, &daemon),
        Some(0),
        "{}",
        collected_text(&seen)
    );
    let running = daemon.docker_ok(["inspect", "-f", "{{.State.Running}}", "held"]);
    assert_eq!(running.trim(), "true");

    let (mut child, mut term, seen) = docker_on_terminal(&daemon, &["attach", "held"]);
    // The attach is made once docker shows nothing more; typing before it would be lost.
    wait_for("the attach", || {
        term.write_all(b"echo again-$((2+2))\n").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        collected_text(&seen).contains("again-4")
    });
    term.write_all(b"exit 4\n").unwrap();
    assert_eq!(
        exit_code(&mut child, &daemon),
        Some(4),
        "{}",
        collected_text(&seen)
    );
    let code = daemon.docker_ok(["inspect", "-f", "{{.State.ExitCode}}", "held"]);
    assert_eq!(code.trim(), "4");
    daemon.docker_ok(["rm", "held"]);
    sandbox.assert_nothing_left();
}
