//! `-it`: an interactive session on a pseudo-terminal, driven from a pty the test owns (as
//! a user's terminal would be); `attach` to a detached one (`-dit`).

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_tests::container::Sandbox;
use berth_tests::{collect, collected_text, wait_for};
use rustix::pty::{grantpt, ioctl_tiocgptpeer, openpt, unlockpt, OpenptFlags};

fn terminal() -> (OwnedFd, OwnedFd) {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let slave = ioctl_tiocgptpeer(&master, OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    let size = rustix::termios::Winsize {
        ws_row: 33,
        ws_col: 101,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&master, size).unwrap();
    (master, slave)
}

#[test]
fn interactive_shell_on_a_terminal() {
    let sandbox = Sandbox::with_probe();
    let (master, slave) = terminal();
    let mut child = sandbox
        .run_command(["--rm", "-it", "probe:latest", "sh"])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let mut term = std::fs::File::from(master);
    term.write_all(b"test -t 0 && echo stdin-is-a-tty; stty size; echo answer-$((6*7)); exit 5\n")
        .unwrap();
    let mut seen = Vec::new();
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = term.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("answer-42") {
                break;
            }
        }
        seen
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the session did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(5), "the shell's exit code");
    let text = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    assert!(text.contains("stdin-is-a-tty"), "{text}");
    assert!(
        text.contains("33 101"),
        "the window size follows the user's terminal: {text}"
    );
    assert!(text.contains("answer-42"), "{text}");
}

#[test]
fn without_i_stdin_is_empty() {
    let sandbox = Sandbox::with_probe();
    let mut child = sandbox
        .run_command(["--rm", "probe:latest", "sh", "-c", "cat; echo end"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"should not arrive\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "end\n");
    let mut child = sandbox
        .run_command(["--rm", "-i", "probe:latest", "sh", "-c", "cat; echo end"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"arrives\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "arrives\nend\n");
}

/// Waits for the process to end (20 s at most) and returns its exit code.
fn exit_code(child: &mut std::process::Child) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the attached client did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `berth-run attach` on a terminal of the test's, as a user would run it.
fn attach_on_terminal(
    sandbox: &Sandbox,
    container: &str,
) -> (std::process::Child, std::fs::File, Arc<Mutex<Vec<u8>>>) {
    let (master, slave) = terminal();
    let child = sandbox
        .run_command(["attach", container])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let term = std::fs::File::from(master);
    let seen = collect(term.try_clone().unwrap());
    (child, term, seen)
}

#[test]
fn attach_to_a_detached_terminal_detach_and_exit() {
    let sandbox = Sandbox::with_probe();
    let name = format!("tty-attach-{}", std::process::id());
    let out = sandbox.ok([
        "-d",
        "-i",
        "-t",
        "--rm",
        "--name",
        &name,
        "probe:latest",
        "sh",
    ]);
    let id = out.trim().to_string();
    let socket = sandbox.attach_socket(&id);

    let (mut client, mut term, seen) = attach_on_terminal(&sandbox, &name);
    // The marker is computed, so the echo of the typed line does not count as the answer.
    let marker = format!("{}", std::process::id() % 10_000);
    term.write_all(format!("echo hello-$((6*7))-{marker}; stty size\r").as_bytes())
        .unwrap();
    let expected = format!("hello-42-{marker}");
    wait_for("the command's output through attach", || {
        collected_text(&seen).contains(&expected)
    });
    wait_for("the window size sent on attach", || {
        collected_text(&seen).contains("33 101")
    });
    // The window size follows the user's terminal (SIGWINCH).
    let bigger = rustix::termios::Winsize {
        ws_row: 44,
        ws_col: 132,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&term, bigger).unwrap();
    let pid = rustix::process::Pid::from_raw(client.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::WINCH).unwrap();
    let mut resized = false;
    let start = Instant::now();
    while !resized && start.elapsed() < Duration::from_secs(10) {
        term.write_all(b"stty size\r").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        resized = collected_text(&seen).contains("44 132");
    }
    assert!(
        resized,
        "the new window size reaches the container: {}",
        collected_text(&seen)
    );
    // ctrl-p ctrl-q: detached, exit 0, the container still runs.
    term.write_all(b"\x10\x11").unwrap();
    assert_eq!(exit_code(&mut client), Some(0), "{}", collected_text(&seen));
    assert!(
        sandbox.ok(["ps"]).contains(&name),
        "detaching leaves the container running"
    );
    assert!(socket.exists(), "the socket lives as long as the container");

    // Again: the shell's exit ends the session with its code, and --rm removes it all.
    let (mut client, mut term, seen) = attach_on_terminal(&sandbox, &name);
    term.write_all(b"exit 3\r").unwrap();
    assert_eq!(exit_code(&mut client), Some(3), "{}", collected_text(&seen));
    let state = sandbox.store.root().join("containers").join(&id);
    wait_for("the container's removal", || !state.exists());
    assert!(!sandbox.ok(["ps", "-a"]).contains(&name));
    assert!(!socket.exists(), "the socket goes with the container");
    sandbox.assert_nothing_left();
}
