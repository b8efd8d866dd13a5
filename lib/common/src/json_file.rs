//! The small JSON files berth keeps its state in (network definitions, volume and container
//! metadata), read whole.

use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a JSON file could not be read; `op` is `reading` or `parsing`.
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
}
