//! `-it`: an interactive session on a pseudo-terminal, driven from a pty the test owns (as
//! a user's terminal would be).

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_tests::container::Sandbox;
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
