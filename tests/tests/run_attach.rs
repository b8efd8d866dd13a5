//! A detached container's monitor: its size, and `attach` through its socket (the
//! terminal case is in run_tty.rs).

use std::io::Write;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_tests::container::Sandbox;
use berth_tests::store::describe;
use berth_tests::{collect, collected_text, wait_for};

#[test]
fn the_monitor_is_small_and_outlives_berth_run() {
    let sandbox = Sandbox::with_probe();
    let id = sandbox.detach(&["probe:latest", "probe", "sleep", "600"]);
    let state = sandbox.run_state(&id);
    let monitor = state["monitor_pid"].as_i64().unwrap();
    // The forked berth-run writes the state, then execs the monitor program.
    let mut status = String::new();
    wait_for("the monitor program", || {
        status = std::fs::read_to_string(format!("/proc/{monitor}/status")).unwrap_or_default();
        status.contains("Name:\tberth-monitor")
    });
    let private_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(
        private_kb < 1024,
        "the monitor's own memory is under 1 MB ({private_kb} kB)"
    );
    // Its whole resident set, shared code included, once it has trimmed its start-up pages.
    let rss_kb = || -> u64 {
        std::fs::read_to_string(format!("/proc/{monitor}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(u64::MAX)
    };
    wait_for("the monitor's RSS under 1 MB", || rss_kb() < 1024);
    let idle = rss_kb();
    // And with a client attached (the socket, the client's buffers, the code serving it).
    let fds = || {
        std::fs::read_dir(format!("/proc/{monitor}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = fds();
    let client = Client::start(&sandbox, &[&id], Stdio::null());
    wait_for("the monitor to take the client", || fds() > before);
    std::thread::sleep(Duration::from_millis(200));
    let attached = rss_kb();
    eprintln!("monitor VmRSS: {idle} kB idle, {attached} kB with a client attached");
    assert!(
        attached < 1024,
        "the monitor stays under 1 MB with a client attached ({attached} kB)"
    );
    drop(client);
    sandbox.ok(["rm", "-f", &id]);
}

/// An attached client: the process and what it printed on stdout and stderr.
struct Client {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

impl Client {
    fn start(sandbox: &Sandbox, args: &[&str], stdin: Stdio) -> Client {
        let mut all = vec!["attach"];
        all.extend(args);
        let mut child = sandbox
            .run_command(&all)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Client { child, out, err }
    }

    /// Waits for its end (20 s at most); its exit code.
    fn exit_code(&mut self) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the attached client did not end");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The numbers of the `PREFIX-N` lines in `text`.
fn numbers(text: &str, prefix: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|n| n.parse().ok())
        .collect()
}

#[test]
fn attach_streams_output_to_several_clients_from_now_on() {
    let sandbox = Sandbox::with_probe();
    let name = format!("chatty-{}", std::process::id());
    let id = sandbox.detach(&[
        "--name",
        &name,
        "probe:latest",
        "sh",
        "-c",
        "trap 'exit 7' TERM; i=0; while true; do i=$((i+1)); echo out-$i; echo err-$i >&2; \
             sleep 0.1; done",
    ]);
    let socket = sandbox.attach_socket(&id);
    let meta = std::fs::metadata(&socket).expect("the monitor's attach socket");
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "root only");
    wait_for("a few lines in the log", || {
        numbers(
            &String::from_utf8_lossy(&sandbox.run(["logs", &name]).stdout),
            "out-",
        )
        .contains(&5)
    });

    let first = Client::start(&sandbox, &[&name], Stdio::null());
    let second = Client::start(&sandbox, &[&id[..12]], Stdio::null());
    for client in [&first, &second] {
        wait_for("stdout and stderr through attach", || {
            numbers(&collected_text(&client.out), "out-").len() >= 3
                && numbers(&collected_text(&client.err), "err-").len() >= 3
        });
        let out = collected_text(&client.out);
        assert!(!out.contains("err-"), "the streams stay apart: {out}");
        assert!(
            numbers(&out, "out-")[0] >= 5,
            "output from the moment of attach, not the past log: {out}"
        );
    }
    // A client killed outright never blocks the container or the other clients.
    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let seen = numbers(&collected_text(&second.out), "out-").len();
    wait_for("more output for the other client", || {
        numbers(&collected_text(&second.out), "out-").len() >= seen + 5
    });
    assert!(sandbox.ok(["ps"]).contains(&name), "the container runs on");
    // The log is written all along, exactly as without clients.
    let last = *numbers(&collected_text(&second.out), "out-")
        .last()
        .unwrap();
    wait_for("the attached output in the log too", || {
        numbers(
            &String::from_utf8_lossy(&sandbox.run(["logs", &name]).stdout),
            "out-",
        )
        .contains(&last)
    });

    // When the container exits, attach exits with its code.
    let mut second = second;
    sandbox.ok(["stop", &name]);
    assert_eq!(
        second.exit_code(),
        Some(7),
        "{}",
        collected_text(&second.err)
    );
    assert!(!socket.exists(), "the socket goes when the container ends");
    sandbox.ok(["rm", &name]);
    sandbox.assert_nothing_left();
}

#[test]
fn attach_writes_to_the_stdin_of_a_d_i_container() {
    let sandbox = Sandbox::with_probe();
    let name = format!("echo-{}", std::process::id());
    sandbox.detach(&["-i", "--rm", "--name", &name, "probe:latest", "cat"]);
    let mut client = Client::start(
        &sandbox,
        &["--detach-keys", "ctrl-a,d", &name],
        Stdio::piped(),
    );
    let mut stdin = client.child.stdin.take().unwrap();
    stdin.write_all(b"ping-through-attach\n").unwrap();
    wait_for("cat's echo", || {
        collected_text(&client.out).contains("ping-through-attach\n")
    });
    // The detach keys end the client, not the container, whose stdin stays open.
    stdin.write_all(b"\x01d").unwrap();
    assert_eq!(
        client.exit_code(),
        Some(0),
        "{}",
        collected_text(&client.err)
    );
    assert!(sandbox.ok(["ps"]).contains(&name), "cat still runs");
    let mut again = Client::start(&sandbox, &[&name], Stdio::piped());
    again
        .child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"second-client\n")
        .unwrap();
    wait_for("the echo to the second client", || {
        collected_text(&again.out).contains("second-client\n")
    });
    assert!(
        !collected_text(&again.out).contains("ping-through-attach"),
        "output from the moment of attach: {}",
        collected_text(&again.out)
    );
    // --no-stdin: output only.
    let watcher = Client::start(&sandbox, &["--no-stdin", &name], Stdio::piped());
    std::thread::sleep(Duration::from_millis(300));
    again
        .child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"seen-by-both\n")
        .unwrap();
    wait_for("the echo to the watcher", || {
        collected_text(&watcher.out).contains("seen-by-both\n")
    });
    // The end of a client's stdin ends neither the session nor the container's stdin, and
    // leaves the client idle (not spinning on a hung-up pipe).
    drop(again.child.stdin.take());
    let cpu_ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command's name.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu_ticks(again.child.id());
    std::thread::sleep(Duration::from_secs(1));
    assert!(again.child.try_wait().unwrap().is_none(), "still attached");
    assert!(
        cpu_ticks(again.child.id()) - before < 20,
        "an attached client at rest uses no CPU"
    );
    assert!(sandbox.ok(["ps"]).contains(&name), "cat still runs");
    sandbox.ok(["rm", "-f", &name]);
    assert_eq!(again.exit_code(), Some(137), "killed by rm -f");
    drop(watcher);
    sandbox.assert_nothing_left();
}

#[test]
fn attach_refuses_stopped_foreground_and_unknown_containers() {
    let sandbox = Sandbox::with_probe();
    sandbox.detach(&["--name", "done", "probe:latest", "sh", "-c", "exit 0"]);
    wait_for("the exit", || {
        sandbox.ok(["ps", "-a"]).contains("Exited (0)")
    });
    let stopped = sandbox.run(["attach", "done"]);
    assert_eq!(stopped.status.code(), Some(1), "{}", describe(&stopped));
    assert!(
        String::from_utf8_lossy(&stopped.stderr)
            .contains("You cannot attach to a stopped container, start it first"),
        "{}",
        describe(&stopped)
    );
    let mut foreground = sandbox
        .run_command(["--name", "fg", "probe:latest", "probe", "sleep", "600"])
        .spawn()
        .unwrap();
    wait_for("the foreground container", || {
        sandbox.ok(["ps"]).contains("fg")
    });
    let refused = sandbox.run(["attach", "fg"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("only containers started with -d"),
        "{}",
        describe(&refused)
    );
    let unknown = sandbox.run(["attach", "no-such-container"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", describe(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("No such container: no-such-container")
    );
    let bad_keys = sandbox.run(["attach", "--detach-keys", "ctrl-1", "fg"]);
    assert_eq!(bad_keys.status.code(), Some(1), "{}", describe(&bad_keys));
    foreground.kill().unwrap();
    foreground.wait().unwrap();
    sandbox.ok(["rm", "-f", "fg", "done"]);
    sandbox.assert_nothing_left();
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_nothing_waits_for_it() {
    let sandbox = Sandbox::with_probe();
    let name = format!("flood-{}", std::process::id());
    // About half a megabyte a second: more than a stalled client's socket and the monitor's
    // buffer for it hold within a few seconds.
    let id = sandbox.detach(&[
        "--name",
        &name,
        "probe:latest",
        "sh",
        "-c",
        "while true; do seq 1 10000; sleep 0.1; done",
    ]);
    let mut stalled = Client::start(&sandbox, &[&name], Stdio::null());
    let reader = Client::start(&sandbox, &[&name], Stdio::null());
    wait_for("output for both", || {
        !collected_text(&stalled.out).is_empty() && !collected_text(&reader.out).is_empty()
    });
    let pid = rustix::process::Pid::from_raw(stalled.child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let state = sandbox.run_state(&id);
    let monitor = state["monitor_pid"].as_i64().unwrap();
    let sockets = || {
        std::fs::read_dir(format!("/proc/{monitor}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
            })
            .count()
    };
    // The listener and two clients, then one client fewer.
    assert_eq!(sockets(), 3);
    wait_for("the stalled client to be dropped", || sockets() == 2);
    let got = collected_text(&reader.out).len();
    wait_for("more output for the other client", || {
        collected_text(&reader.out).len() > got + 100_000
    });
    assert!(sandbox.ok(["ps"]).contains(&name), "the container runs on");
    // Woken up, the dropped client reads what it had and learns it was dropped.
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    assert_eq!(stalled.exit_code(), Some(1));
    assert!(
        collected_text(&stalled.err).contains("closed the connection"),
        "{}",
        collected_text(&stalled.err)
    );
    sandbox.ok(["rm", "-f", &name]);
    drop(reader);
    sandbox.assert_nothing_left();
}
