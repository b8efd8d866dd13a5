//! The stage contract: a record in on stdin, the extended record out on stdout, and an
//! upstream stage's `{"error": …}` passed along rather than misread as a bad record.

use std::io::{IsTerminal, Read, Write};

use crate::record::ContainerRecord;

#[derive(Debug, thiserror::Error)]
pub enum StageInputError {
    #[error("reading the container record: {0}")]
    Io(#[from] std::io::Error),
    #[error("the previous stage failed: {0}")]
    Upstream(String),
    #[error("the input is not a container record: {0}")]
    Invalid(serde_json::Error),
    #[error("no container record on standard input (pipe one in, e.g. from berth-unpack)")]
    Empty,
}

/// Reads one record; an upstream `{"error": "…"}` becomes `StageInputError::Upstream`.
pub fn read_record(mut input: impl Read) -> Result<ContainerRecord, StageInputError> {
    let mut text = String::new();
    input.read_to_string(&mut text)?;
    if text.trim().is_empty() {
        return Err(StageInputError::Empty);
    }
    let value: serde_json::Value = serde_json::from_str(&text).map_err(StageInputError::Invalid)?;
    if let Some(error) = value.get("error") {
        let message = error
            .as_str()
            .map_or_else(|| error.to_string(), str::to_string);
        return Err(StageInputError::Upstream(message));
    }
    serde_json::from_value(value).map_err(StageInputError::Invalid)
}

/// Writes the record as one line of JSON.
pub fn write_record(mut output: impl Write, record: &ContainerRecord) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    output.write_all(&line)?;
    output.flush()
}

/// A teardown stage's output (`down`, `rm`): the record for the next stage when stdout is a
/// pipe or a file, nothing on a terminal (where no stage reads it) unless `json` asks.
pub fn pass_on(record: &ContainerRecord, json: bool) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    if json || !stdout.is_terminal() {
        write_record(stdout.lock(), record)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_errors_are_recognised() {
        let err = read_record(&br#"{"error":"no such image: x"}"#[..]).unwrap_err();
        assert!(matches!(err, StageInputError::Upstream(m) if m == "no such image: x"));
        assert!(matches!(
            read_record(&b"  "[..]).unwrap_err(),
            StageInputError::Empty
        ));
        assert!(matches!(
            read_record(&b"{}"[..]).unwrap_err(),
            StageInputError::Invalid(_)
        ));
    }
}
