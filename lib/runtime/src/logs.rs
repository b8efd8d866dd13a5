//! Container logs in Docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2026-11-29T01:02:03.456789012Z"}`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

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
