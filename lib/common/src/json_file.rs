//! The small JSON files berth keeps its state in (network definitions, volume and container
//! metadata), read whole and written whole: a reader, or the next boot after a crash, sees
//! the old file or the new one, never a part of either.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a JSON file could not be read or written; `op` is `reading`, `parsing` or `writing`.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct JsonFileError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// The file at `path` parsed as `T`, or `None` when there is no such file.
pub fn read_if_exists<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, JsonFileError> {
    let fail = |op, source| JsonFileError {
        op,
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| fail("parsing", io::Error::new(io::ErrorKind::InvalidData, e))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail("reading", e)),
    }
}

/// Writes `value` to `path` as JSON, atomically and durably: a temp file beside it (same
/// directory, so the rename cannot cross filesystems), fsync'd, renamed over `path`, then
/// the directory fsync'd so the rename itself survives a crash. The directory must exist.
pub fn write_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), JsonFileError> {
    write_atomic_as(path, value, Durability::Durable)
}

/// Whether a state file must survive a crash of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync'd, file and directory: the state outlives a power cut.
    Durable,
    /// Atomic (no reader sees half a file) but not fsync'd: for state that a crash makes
    /// worthless anyway, such as that of a container removed when it stops (`--rm`), whose
    /// overlay is mounted `volatile` too. Each fsync costs a start about 0.25 ms.
    Volatile,
}

/// [`write_atomic`], with the fsyncs only when `durability` asks for them.
pub fn write_atomic_as<T: Serialize + ?Sized>(
    path: &Path,
    value: &T,
    durability: Durability,
) -> Result<(), JsonFileError> {
    let bytes = serde_json::to_vec(value).map_err(|e| JsonFileError {
        op: "writing",
        path: path.to_path_buf(),
        source: io::Error::other(e),
    })?;
    write_bytes_atomic(path, &bytes, durability)
}

/// Writes `bytes` to `path` whole or not at all, as [`write_atomic_as`] writes JSON: for the
/// small non-JSON files other programs read (a pid file).
pub fn write_bytes_atomic(
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), JsonFileError> {
    let durable = durability == Durability::Durable;
    write_bytes(path, bytes, durable, 0o644)
}

/// [`write_atomic`] for a file that holds secrets and that people read and edit (docker's
/// config.json with its `auths`): mode 0600 from its first byte, indented.
pub fn write_private<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<(), JsonFileError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| JsonFileError {
        op: "writing",
        path: path.to_path_buf(),
        source: io::Error::other(e),
    })?;
    write_bytes(path, &bytes, true, 0o600)
}

fn write_bytes(path: &Path, bytes: &[u8], durable: bool, mode: u32) -> Result<(), JsonFileError> {
    let fail = |path: &Path, source| JsonFileError {
        op: "writing",
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let tmp = temp_path(path);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(&tmp, e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(path, e));
    }
    if !durable {
        return Ok(());
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(dir, e))
}

/// `.<name>.<pid>.<n>.tmp` beside `path`: unique per process and call, so concurrent
/// writers never share a temp file.
fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map_or_else(|| "state".into(), |n| n.to_string_lossy());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_is_none_and_bad_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        assert!(read_if_exists::<Vec<u32>>(&path).unwrap().is_none());
        std::fs::write(&path, "[1, 2]").unwrap();
        assert_eq!(read_if_exists::<Vec<u32>>(&path).unwrap(), Some(vec![1, 2]));
        std::fs::write(&path, "[1,").unwrap();
        let err = read_if_exists::<Vec<u32>>(&path).unwrap_err();
        assert_eq!(err.op, "parsing");
        assert!(err.to_string().contains("x.json"), "{err}");
        let err = read_if_exists::<Vec<u32>>(dir.path()).unwrap_err();
        assert_eq!(err.op, "reading");
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, &vec![1, 2, 3]).unwrap();
        write_atomic(&path, &vec![4]).unwrap();
        assert_eq!(read_if_exists::<Vec<u32>>(&path).unwrap(), Some(vec![4]));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
        let missing = dir.path().join("no-such-dir").join("x.json");
        let err = write_atomic(&missing, &1).unwrap_err();
        assert_eq!(err.op, "writing");
        assert!(err.to_string().contains("no-such-dir"), "{err}");
    }

    #[test]
    fn volatile_writes_are_atomic_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic_as(&path, &vec![1], Durability::Volatile).unwrap();
        write_atomic_as(&path, &vec![2, 3], Durability::Volatile).unwrap();
        assert_eq!(read_if_exists::<Vec<u32>>(&path).unwrap(), Some(vec![2, 3]));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
    }
}
