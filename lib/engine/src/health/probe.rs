//! One probe: the check's command run inside the container by `berth-run exec` (the path
//! `POST /exec` takes), its output (stdout and stderr together, at most 4 KiB as docker
//! keeps) and exit code, killed past the timeout.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_common::{ContainerId, Paths};

use super::{Check, ProbeResult};

const MAX_OUTPUT: usize = 4096;

fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

pub fn run(paths: &Paths, id: &ContainerId, check: &Check) -> ProbeResult {
    let start = now();
    let result = |exit_code: i64, output: String| ProbeResult {
        start: start.clone(),
        end: now(),
        exit_code,
        output,
    };
    let (reader, writer) = match std::io::pipe() {
        Ok(pair) => pair,
        Err(e) => return result(-1, format!("cannot make a pipe for the probe: {e}")),
    };
    let spawned = writer.try_clone().and_then(|err| {
        Command::new(crate::exec::berth_run_exe())
            .arg("--root")
            .arg(paths.root())
            .arg("--run-dir")
            .arg(paths.run_dir())
            .arg("exec")
            .arg(id.as_str())
            .args(&check.argv)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(err)
            .spawn()
    });
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return result(-1, format!("cannot run the probe: {e}")),
    };
    // The pipe's write ends are the child's alone now: the reader ends with it.
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = reader.take(MAX_OUTPUT as u64).read_to_end(&mut out);
        out
    });
    let deadline = Instant::now() + check.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                stop(&mut child);
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let Some(status) = status else {
        return result(
            -1,
            format!(
                "Health check exceeded timeout ({})",
                humantime::format_duration(check.timeout)
            ),
        );
    };
    // A process the probe left behind may hold the pipe: the output is what came by now.
    let output = if collector.is_finished() || wait_briefly(&collector) {
        collector.join().unwrap_or_default()
    } else {
        Vec::new()
    };
    result(
        status.code().map_or(-1, i64::from),
        String::from_utf8_lossy(&output).into_owned(),
    )
}

fn wait_briefly<T>(handle: &std::thread::JoinHandle<T>) -> bool {
    let until = Instant::now() + Duration::from_millis(500);
    while !handle.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    handle.is_finished()
}

/// A probe past its timeout: its process in the container is killed (as dockerd kills
/// it), then `berth-run exec`, which would otherwise leave it running there, is reaped.
fn stop(child: &mut std::process::Child) {
    let pid = child.id();
    // berth-run exec's children: the probe's process (seen by its host pid). Unreaped by
    // berth-run until it ends, so its pid names no other process meanwhile.
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for probe in children
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        if let Some(probe) = rustix::process::Pid::from_raw(probe) {
            let _ = rustix::process::kill_process(probe, rustix::process::Signal::KILL);
        }
    }
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
