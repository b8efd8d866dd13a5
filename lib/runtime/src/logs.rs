//! Container logs in Docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2026-11-29T01:02:03.456789012Z"}`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::RunError;

/// How often a follow looks for new lines and for the container's end.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// What `logs` copies, and until when (docker logs' flags as plain values, and a way for a
/// library caller to stop a follow).
#[derive(Debug, Clone, Default)]
pub struct LogsRequest {
    /// Keep copying new lines until the container ends (`-f`).
    pub follow: bool,
    /// Set from any thread to end a follow (a daemon whose client went away).
    pub cancel: Cancel,
}

/// A flag that ends a follow within one poll of being set; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Copies the log at `path` to `out` and `err` by stream; with `request.follow`, new lines
/// too until the container ends (`running` says so: what it wrote last is copied first),
/// the request is cancelled, or a writer fails (a closed pipe: the reader went away), which
/// is [`RunError::Output`].
pub(crate) fn copy(
    path: &Path,
    request: &LogsRequest,
    running: &mut dyn FnMut() -> bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), RunError> {
    let (mut out, mut err) = (CallerWriter::new(out), CallerWriter::new(err));
    let mut replay = |seen| {
        replay(path, seen, &mut out, &mut err).map_err(|source| {
            if out.failed || err.failed {
                RunError::Output(source)
            } else {
                RunError::Log {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })
    };
    let mut seen = replay(0)?;
    if !request.follow {
        return Ok(());
    }
    while !request.cancel.is_cancelled() {
        let still = running();
        std::thread::sleep(FOLLOW_POLL);
        seen = replay(seen)?;
        if !still {
            break;
        }
    }
    Ok(())
}

/// The caller's writer, remembering whether it failed: a full disk or a closed pipe on the
/// caller's side is not the log file's fault.
struct CallerWriter<'a> {
    inner: &'a mut dyn Write,
    failed: bool,
}

impl<'a> CallerWriter<'a> {
    fn new(inner: &'a mut dyn Write) -> Self {
        CallerWriter {
            inner,
            failed: false,
        }
    }
}

impl Write for CallerWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.failed |= result.is_err();
        result
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.failed |= result.is_err();
        result
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LogLine {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Copies `from` into the log, a line at a time (a partial last line is kept as is).
pub fn pump(from: impl Read, stream: &'static str, log: Arc<Mutex<File>>) {
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let entry = LogLine {
                    log: String::from_utf8_lossy(&line).into_owned(),
                    stream: stream.to_string(),
                    time: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
                };
                let mut text = serde_json::to_vec(&entry).expect("log line serialises");
                text.push(b'\n');
                if let Ok(mut file) = log.lock() {
                    let _ = file.write_all(&text);
                }
            }
        }
    }
}

/// Writes the log's lines from `skip` on to `stdout`/`stderr` by stream; returns how many
/// lines were read.
pub fn replay(
    path: &Path,
    skip: usize,
    stdout: &mut impl Write,
    stderr: &mut impl Write,
) -> std::io::Result<usize> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut count = 0;
    for line in BufReader::new(file).lines() {
        let line = line?;
        count += 1;
        if count <= skip {
            continue;
        }
        // A line being written right now may be incomplete: stop before it.
        let Ok(entry) = serde_json::from_str::<LogLine>(&line) else {
            count -= 1;
            break;
        };
        if entry.stream == "stderr" {
            stderr.write_all(entry.log.as_bytes())?;
        } else {
            stdout.write_all(entry.log.as_bytes())?;
        }
    }
    stdout.flush()?;
    stderr.flush()?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    fn line(text: &str) -> String {
        format!(
            "{}\n",
            serde_json::json!({"log": text, "stream": "stdout", "time": "2026-12-07T10:00:01Z"})
        )
    }

    fn append(path: &Path, text: &str) {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(line(text).as_bytes()).unwrap();
    }

    /// Follows `path` of a container that never ends, on a thread; the result, or None if
    /// the follow did not end within `limit`.
    fn follow_forever(
        path: &Path,
        request: &LogsRequest,
        mut out: impl Write + Send + 'static,
        limit: Duration,
    ) -> Option<(Result<(), RunError>, Duration)> {
        let (path, request) = (path.to_path_buf(), request.clone());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let begin = Instant::now();
            let result = copy(&path, &request, &mut || true, &mut out, &mut Vec::new());
            let _ = tx.send((result, begin.elapsed()));
        });
        rx.recv_timeout(limit).ok()
    }

    struct Gone;
    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_follow_ends_when_the_reader_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let request = LogsRequest {
            follow: true,
            ..Default::default()
        };
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(250));
                append(&path, "late\n");
            })
        };
        let (result, _) = follow_forever(&path, &request, Gone, Duration::from_secs(10))
            .expect("the follow ends once a write fails");
        writer.join().unwrap();
        match result {
            Err(RunError::Output(e)) => assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_follow_ends_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        append(&path, "first\n");
        let request = LogsRequest {
            follow: true,
            ..Default::default()
        };
        let out = Arc::new(Mutex::new(Vec::new()));
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let cancel = request.cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            cancel.cancel();
        });
        let (result, took) = follow_forever(
            &path,
            &request,
            Shared(out.clone()),
            Duration::from_secs(10),
        )
        .expect("the follow ends once cancelled");
        result.unwrap();
        assert!(
            took >= Duration::from_millis(300),
            "ended before the cancel: {took:?}"
        );
        assert_eq!(
            String::from_utf8(out.lock().unwrap().clone()).unwrap(),
            "first\n"
        );
    }

    #[test]
    fn a_follow_ends_with_the_container_after_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        append(&path, "one\n");
        let request = LogsRequest {
            follow: true,
            ..Default::default()
        };
        let mut polls = 0;
        // Running for two polls, writing a line on the second, then gone.
        let mut running = || {
            polls += 1;
            if polls == 2 {
                append(&path, "two\n");
            }
            polls < 3
        };
        let mut out = Vec::new();
        copy(&path, &request, &mut running, &mut out, &mut Vec::new()).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "one\ntwo\n");
        assert_eq!(polls, 3);
    }
}
