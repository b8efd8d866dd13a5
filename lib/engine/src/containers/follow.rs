//! Output from the json-file log the monitor writes: `logs` (with follow) and the output
//! side of `attach`, which follows the log from where it ended when the client came, so
//! an attach made before the start loses nothing. Input and window sizes go to the
//! monitor's attach socket (`lib/runtime/monitor/protocol.rs`).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use berth_api::containers::{AttachStreams, LogsQuery};
use berth_api::stream::{InputReceiver, OutputSink, StreamKind};
use berth_common::Paths;
use berth_runtime::attach::{protocol, DetachKeys};
use berth_runtime::logs::LogLine;
use berth_runtime::state;

use super::entry::{Entry, Status};
use super::error::ContainerError;
use super::waker::Waker;

const POLL: Duration = Duration::from_millis(20);
/// The longest sleep between two looks at the log (a change wakes it at once): how soon a
/// detach or a client gone is seen.
const NAP: Duration = Duration::from_millis(50);
const UNRECORDED_GRACE: Duration = Duration::from_secs(1);

fn kind_of(line: &LogLine) -> StreamKind {
    if line.stream == "stderr" {
        StreamKind::Stderr
    } else {
        StreamKind::Stdout
    }
}

fn seconds_of(time: &str) -> Option<f64> {
    let t = humantime::parse_rfc3339_weak(time.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(time))
        .ok()?;
    t.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64())
}

/// Reads whole lines from `reader`; keeps a partial last line in `pending`.
fn read_lines(reader: &mut BufReader<File>, pending: &mut Vec<u8>) -> Vec<LogLine> {
    let mut lines = Vec::new();
    loop {
        match reader.read_until(b'\n', pending) {
            Ok(0) | Err(_) => return lines,
            Ok(_) if pending.ends_with(b"\n") => {
                if let Ok(line) = serde_json::from_slice::<LogLine>(pending) {
                    lines.push(line);
                }
                pending.clear();
            }
            Ok(_) => return lines,
        }
    }
}

/// Whether the run the caller follows is over: the container exited after `finished_before`
/// (its last end when the caller came), or is gone. Its process may be gone while the
/// monitor still copies the last output into the log: the run is over once the monitor
/// has recorded the exit, or (a monitor that died records none) a second after
/// `unrecorded_since`, when the caller first saw it so.
fn over(
    paths: &Paths,
    entry: &Entry,
    finished_before: &Option<String>,
    unrecorded_since: &mut Option<Instant>,
) -> bool {
    match Entry::read(paths, &entry.id) {
        Ok(Some(now)) if now.status() == Status::Exited && now.finished() != *finished_before => {
            now.recorded_exit().is_some()
                || unrecorded_since.get_or_insert_with(Instant::now).elapsed() > UNRECORDED_GRACE
        }
        Ok(Some(_)) => false,
        _ => true,
    }
}

pub fn logs(
    paths: &Paths,
    entry: &Entry,
    query: &LogsQuery,
    out: &OutputSink,
) -> Result<(), ContainerError> {
    let path = state::log_path(paths, &entry.id);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(ContainerError::Io { path, source }),
    };
    let mut reader = BufReader::new(file);
    let mut pending = Vec::new();
    let wanted = |line: &LogLine| {
        let stream_ok = match kind_of(line) {
            StreamKind::Stderr => query.stderr,
            _ => query.stdout,
        };
        let at = seconds_of(&line.time).unwrap_or(0.0);
        stream_ok && query.since.is_none_or(|s| at >= s) && query.until.is_none_or(|u| at <= u)
    };
    let send = |line: &LogLine| {
        let text = if query.timestamps {
            format!("{} {}", line.time, line.log)
        } else {
            line.log.clone()
        };
        out.send(kind_of(line), text.as_bytes())
    };
    let mut first: Vec<LogLine> = read_lines(&mut reader, &mut pending)
        .into_iter()
        .filter(|l| wanted(l))
        .collect();
    if let Some(tail) = query.tail {
        let skip = first.len().saturating_sub(tail);
        first.drain(..skip);
    }
    for line in &first {
        if !send(line) {
            return Ok(());
        }
    }
    if !query.follow || entry.status() != Status::Running {
        return Ok(());
    }
    let finished_before = entry.finished();
    let mut unrecorded = None;
    let mut waker = Waker::on_container(paths, &entry.id);
    loop {
        let done = over(paths, entry, &finished_before, &mut unrecorded);
        for line in read_lines(&mut reader, &mut pending) {
            if wanted(&line) && !send(&line) {
                return Ok(());
            }
        }
        if done || out.is_closed() {
            return Ok(());
        }
        waker.wait(NAP);
    }
}

pub fn attach(
    paths: &Paths,
    entry: &Entry,
    streams: AttachStreams,
    out: &OutputSink,
    input: Option<InputReceiver>,
) -> Result<(), ContainerError> {
    let path = state::log_path(paths, &entry.id);
    let mut file = File::open(&path).map_err(|source| ContainerError::Io {
        path: path.clone(),
        source,
    })?;
    // From the end as it is now: what the coming start (or the running container) writes.
    file.seek(SeekFrom::End(0))
        .map_err(|source| ContainerError::Io { path, source })?;
    let mut reader = BufReader::new(file);
    let mut pending = Vec::new();
    let finished_before = entry.finished();
    let detached = Arc::new(AtomicBool::new(false));
    if let Some(input) = input {
        let (paths, id) = (paths.clone(), entry.id.clone());
        let forward = Forward {
            finished_before: finished_before.clone(),
            // docker's StdinOnce (`run -i`): the client's end of input is the container's;
            // with a terminal the monitor ignores it.
            close_at_end: entry.created.as_ref().is_some_and(|c| c.body.stdin_once),
            keys: detach_keys(streams.detach_keys.as_deref()),
            detached: detached.clone(),
        };
        std::thread::spawn(move || forward_input(&paths, &id, input, forward));
    }
    let mut unrecorded = None;
    let mut waker = Waker::on_container(paths, &entry.id);
    loop {
        let done = over(paths, entry, &finished_before, &mut unrecorded);
        for line in read_lines(&mut reader, &mut pending) {
            let wanted = match kind_of(&line) {
                StreamKind::Stderr => streams.stderr,
                _ => streams.stdout,
            };
            if wanted && !out.send(kind_of(&line), line.log.as_bytes()) {
                return Ok(());
            }
        }
        if done || out.is_closed() || detached.load(Ordering::Relaxed) {
            return Ok(());
        }
        waker.wait(NAP);
    }
}

/// The client's detach keys, docker's default when it gave none or ones that do not parse
/// (the answer has gone by the time they are read: there is no 400 to give).
fn detach_keys(keys: Option<&str>) -> Vec<u8> {
    let keys = keys.unwrap_or(berth_runtime::attach::DEFAULT_DETACH_KEYS);
    berth_runtime::attach::parse_detach_keys(keys).unwrap_or_else(|e| {
        tracing::debug!("{e}; using {}", berth_runtime::attach::DEFAULT_DETACH_KEYS);
        vec![16, 17]
    })
}

/// How one attach's input is passed on.
struct Forward {
    finished_before: Option<String>,
    close_at_end: bool,
    keys: Vec<u8>,
    /// Set when the detach keys came: the output side ends the attach.
    detached: Arc<AtomicBool>,
}

/// Connects to the monitor's socket once the container runs (the client may attach before
/// the start), then passes the client's input on as stdin frames.
fn forward_input(
    paths: &Paths,
    id: &berth_common::ContainerId,
    input: InputReceiver,
    forward: Forward,
) {
    let finished_before = forward.finished_before;
    let mut unrecorded = None;
    let mut stream = loop {
        if let Ok(stream) = berth_runtime::attach::connect_monitor(paths, id) {
            break stream;
        }
        let entry = match Entry::read(paths, id) {
            Ok(Some(e)) => e,
            _ => return,
        };
        if over(paths, &entry, &finished_before, &mut unrecorded) {
            return;
        }
        std::thread::sleep(POLL);
    };
    // The monitor sends its output to every client; what this one does not read would
    // pile up until the monitor drops it, input and all. The reader ends with the socket.
    if let Ok(mut reader) = stream.try_clone() {
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    }
    let mut keys = DetachKeys::new(forward.keys);
    let send = |stream: &mut std::os::unix::net::UnixStream, data: &[u8]| {
        data.chunks(protocol::MAX_CLIENT_PAYLOAD).all(|chunk| {
            let mut frame = protocol::header(protocol::STDIN, chunk.len()).to_vec();
            frame.extend_from_slice(chunk);
            stream.write_all(&frame).is_ok()
        })
    };
    while let Ok(data) = input.recv() {
        let mut passed = Vec::with_capacity(data.len());
        let detach = keys.feed(&data, &mut passed);
        if !send(&mut stream, &passed) {
            return;
        }
        if detach {
            // The container's stdin stays open: a detach is no end of input.
            forward.detached.store(true, Ordering::Relaxed);
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
    let mut rest = Vec::new();
    keys.flush(&mut rest);
    if !send(&mut stream, &rest) {
        return;
    }
    // The client closed its input. Without StdinOnce the container's stdin stays open
    // while it runs, as with `berth-run attach`.
    if forward.close_at_end {
        let _ = stream.write_all(&protocol::header(protocol::STDIN_END, 0));
    }
    // Both ways, so the reader above ends too: the monitor reads what is left in the
    // socket before it forgets a client that hung up.
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Sets the container's terminal size through its monitor; a container without one
/// ignores it.
pub fn resize(paths: &Paths, entry: &Entry, height: u16, width: u16) {
    if height == 0 || width == 0 {
        return;
    }
    // A socket path past sockaddr_un's 108 bytes (a deep run dir) is reached through the
    // runtime's own connect.
    if let Ok(mut stream) = berth_runtime::attach::connect_monitor(paths, &entry.id) {
        let mut frame = protocol::header(protocol::RESIZE, 4).to_vec();
        frame.extend_from_slice(&height.to_be_bytes());
        frame.extend_from_slice(&width.to_be_bytes());
        let _ = stream.write_all(&frame);
    }
}
