//! Reading and writing cgroup files, with errors that name the file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{CgroupError, Result};

/// Reads a cgroup file, trimmed.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// Reads a file that may be absent (`None` then).
pub fn read_opt(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes one value to an existing cgroup file (never creates it: in cgroupfs every file
/// exists already, and in a fake tree a missing file is a missing feature).
pub fn write(path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    let err = |source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    // cgroupfs takes one value per write(2).
    file.write_all(value.as_bytes()).map_err(err)
}

/// Reads an unsigned number, `max` being `None`.
pub fn read_u64_or_max(path: &Path) -> Result<Option<u64>> {
    let text = read(path)?;
    if text == "max" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        content: text,
    })
}

/// `key value` lines (memory.events, cgroup.events, memory.oom_control, cpu.stat).
pub fn read_keyed(path: &Path, key: &str) -> Result<Option<u64>> {
    let Some(text) = read_opt(path)? else {
        return Ok(None);
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some(key) {
            let value = words.next().unwrap_or_default();
            return value.parse().map(Some).map_err(|_| CgroupError::Parse {
                path: path.to_path_buf(),
                content: line.to_string(),
            });
        }
    }
    Ok(None)
}

/// Pids listed in a cgroup.procs file (absent file: none).
pub fn read_pids(path: &Path) -> Result<Vec<i32>> {
    let Some(text) = read_opt(path)? else {
        return Ok(Vec::new());
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim().parse().map_err(|_| CgroupError::Parse {
                path: path.to_path_buf(),
                content: l.to_string(),
            })
        })
        .collect()
}

/// mkdir that accepts an existing directory.
pub fn mkdir(path: &Path) -> Result<bool> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(CgroupError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// rmdir of a cgroup: absent is success, EBUSY is retried until `timeout`.
pub fn rmdir(path: &Path, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        match rustix::fs::rmdir(path) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(rustix::io::Errno::BUSY) if start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(CgroupError::Remove {
                    path: path.to_path_buf(),
                    source: e.into(),
                })
            }
        }
    }
}

/// Polls `check` every 10 ms until it is true or `timeout` passes.
pub fn wait_until(
    timeout: Duration,
    what: &str,
    path: &Path,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let start = Instant::now();
    loop {
        if check()? {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(CgroupError::Timeout {
                what: what.to_string(),
                path: PathBuf::from(path),
                waited_ms: start.elapsed().as_millis(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
