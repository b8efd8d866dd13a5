//! berthd's container operations beyond the run path, on containers `berth-run -d` made on
//! the same root (the store is what berthd reads), driven by the real docker CLI.

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;

#[test]
fn docker_top_lists_the_containers_processes_and_only_them() {
    let sandbox = Sandbox::with_probe();
    let id = sandbox.detach(&[
        "--name",
        "topped",
        "probe:latest",
        "sh",
        "-c",
        "sleep 4242 & sleep 4343 & wait",
    ]);
    let daemon = Daemon::start(&sandbox);

    // The children may take a moment to exec.
    let mut top = String::new();
    for _ in 0..50 {
        top = daemon.docker_ok(["top", "topped"]);
        if top.contains("sleep 4242") && top.contains("sleep 4343") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut lines = top.lines();
    let titles = lines.next().unwrap_or_default();
    assert!(titles.contains("PID") && titles.contains("CMD"), "{top}");
    assert!(
        top.contains("sleep 4242") && top.contains("sleep 4343"),
        "{top}"
    );
    // sh and its two children; nothing of the host (the daemon, the test).
    assert_eq!(lines.count(), 3, "{top}");

    // ps_args reach ps; the PID column is found wherever it is.
    let custom = daemon.docker_ok(["top", &id[..12], "-o", "pid,comm"]);
    assert!(
        custom.lines().next().unwrap().contains("COMMAND"),
        "{custom}"
    );
    assert_eq!(custom.lines().filter(|l| l.contains("sleep")).count(), 2);

    let missing = daemon.docker(["top", "no-such-one"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("No such container: no-such-one"),
        "{stderr}"
    );

    sandbox.ok(["rm", "-f", &id]);
    let stopped = daemon.http("GET", &format!("/containers/{id}/top"), "");
    assert!(
        stopped.contains(" 404 ") || stopped.contains(" 409 "),
        "{stopped}"
    );
}

#[test]
fn docker_top_of_a_stopped_container_is_a_conflict() {
    let sandbox = Sandbox::with_probe();
    let id = sandbox.detach(&["--name", "done", "probe:latest", "sh", "-c", "exit 0"]);
    let daemon = Daemon::start(&sandbox);
    let mut answer = String::new();
    for _ in 0..50 {
        answer = daemon.http("GET", "/containers/done/top", "");
        if answer.contains(" 409 ") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(answer.contains(" 409 "), "{answer}");
    assert!(
        answer.contains(&format!("Container {id} is not running")),
        "{answer}"
    );
    sandbox.ok(["rm", "-f", &id]);
}

#[test]
fn docker_stats_reads_the_containers_cgroup() {
    let sandbox = Sandbox::with_probe();
    let id = sandbox.detach(&[
        "--name",
        "busy",
        "--memory",
        "48m",
        "probe:latest",
        "sh",
        "-c",
        "sleep 4444 & while true; do :; done",
    ]);
    let daemon = Daemon::start(&sandbox);

    let line = daemon.docker_ok(["stats", "--no-stream", "--format", "{{json .}}", "busy"]);
    let stats: serde_json::Value = serde_json::from_str(line.trim()).expect("stats JSON");
    assert_eq!(stats["Name"], "busy", "{stats}");
    assert_eq!(stats["ID"], &id[..12], "{stats}");
    // The CLI's "usage / limit": the cgroup's 48 MiB limit, not the host's memory.
    let mem = stats["MemUsage"].as_str().unwrap();
    assert!(mem.ends_with("/ 48MiB"), "{stats}");
    // sh, the busy loop's shell and sleep: at least two pids; a spinning shell uses CPU.
    let pids: u64 = stats["PIDs"].as_str().unwrap().parse().unwrap();
    assert!(pids >= 2, "{stats}");
    let cpu: f64 = stats["CPUPerc"]
        .as_str()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(cpu > 5.0, "a busy loop shows CPU use: {stats}");

    // The stream sends a document a second; the second's precpu is the first's cpu.
    let docs = first_stream_documents(&daemon, &format!("/containers/{id}/stats"), 2);
    assert_eq!(
        docs[1]["precpu_stats"]["cpu_usage"]["total_usage"],
        docs[0]["cpu_stats"]["cpu_usage"]["total_usage"]
    );
    assert!(docs[1]["memory_stats"]["usage"].as_u64().unwrap() > 0);

    sandbox.ok(["rm", "-f", &id]);
    let gone = daemon.http("GET", "/containers/busy/stats?stream=0", "");
    assert!(
        gone.contains(" 404 ") && gone.contains("No such container: busy"),
        "{gone}"
    );
}

/// The first `count` JSON lines of a streaming answer; the connection is then dropped.
fn first_stream_documents(daemon: &Daemon, path: &str, count: usize) -> Vec<serde_json::Value> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: berth\r\n\r\n").unwrap();
    let mut docs = Vec::new();
    for line in BufReader::new(stream).lines() {
        let line = line.expect("a line of the stream");
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&line) {
            docs.push(doc);
            if docs.len() == count {
                break;
            }
        }
    }
    assert_eq!(docs.len(), count, "{docs:?}");
    docs
}

#[test]
fn docker_pause_freezes_the_container_and_unpause_thaws_it() {
    let sandbox = Sandbox::with_probe();
    let id = sandbox.detach(&[
        "--name",
        "ticking",
        "probe:latest",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/tick; done",
    ]);
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok(["pause", "ticking"]);
    let again = daemon.docker(["pause", "ticking"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("is already paused"), "{stderr}");
    // Frozen: the loop's pid stays in the cgroup and its counter does not move. Read it
    // from the host through /proc, as an exec would be frozen too.
    let state = sandbox.run_state(&id);
    let pid = state["pid"].as_i64().unwrap();
    let root = format!("/proc/{pid}/root/tmp/tick");
    let before = std::fs::read_to_string(&root).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(std::fs::read_to_string(&root).unwrap(), before);

    daemon.docker_ok(["unpause", "ticking"]);
    // Thawed: the counter moves again (a read may catch the file mid-write, so retry).
    let moved = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::fs::read_to_string(&root).is_ok_and(|now| !now.is_empty() && now != before)
    });
    assert!(moved, "the loop never ran again after unpause");
    let not_paused = daemon.http("POST", "/containers/ticking/unpause", "");
    assert!(
        not_paused.contains(" 409 ") && not_paused.contains("is not paused"),
        "{not_paused}"
    );

    sandbox.ok(["rm", "-f", &id]);
}
