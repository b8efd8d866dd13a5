//! The stage contract: a record in on stdin, the extended record out on stdout, and an
//! upstream stage's `{"error": …}` passed along rather than misread as a bad record.
//! Every stage reads its record here, so every stage refuses the same bad records: a
//! version it does not know, a part that does not parse (an id that is not one, a missing
//! field), with an error naming the part and the value at fault.

use std::io::{IsTerminal, Read, Write};

use serde::de::DeserializeOwned;

use crate::record::{
    check_version, CgroupPart, ContainerPart, ContainerRecord, ImagePart, NetworkPart, RootfsPart,
    VersionError,
};

#[derive(Debug, thiserror::Error)]
pub enum StageInputError {
    #[error("reading the container record: {0}")]
    Io(#[from] std::io::Error),
    #[error("the previous stage failed: {0}")]
    Upstream(String),
    #[error("the input is not a container record: {0}")]
    Invalid(serde_json::Error),
    #[error("the container record's {part:?} part is invalid: {source}")]
    Part {
        part: &'static str,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Version(#[from] VersionError),
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
    // The version first: a newer record may differ anywhere, and that is the error to show.
    if let Some(version) = value.get("version").and_then(serde_json::Value::as_u64) {
        check_version(version)?;
    }
    serde_json::from_value(value.clone())
        .map_err(|e| faulty_part(&value).unwrap_or(StageInputError::Invalid(e)))
}

/// The first part of the record that does not parse on its own, with its error.
fn faulty_part(value: &serde_json::Value) -> Option<StageInputError> {
    fn check<T: DeserializeOwned>(
        value: &serde_json::Value,
        part: &'static str,
    ) -> Option<StageInputError> {
        let err = T::deserialize(value.get(part)?).err()?;
        Some(StageInputError::Part { part, source: err })
    }
    check::<ImagePart>(value, "image")
        .or_else(|| check::<ContainerPart>(value, "container"))
        .or_else(|| check::<RootfsPart>(value, "rootfs"))
        .or_else(|| check::<CgroupPart>(value, "cgroup"))
        .or_else(|| check::<NetworkPart>(value, "network"))
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

    fn record(version: u32, container: &str) -> String {
        format!(
            r#"{{"version":{version},"root":"/r","image":{{"id":"sha256:a","manifest":"sha256:b",
            "config":{{}},"layers":[]}}{container},"later":{{"x":1}}}}"#
        )
    }

    #[test]
    fn bad_records_name_their_fault() {
        let good = read_record(record(1, "").as_bytes()).unwrap();
        assert_eq!(good.extra["later"]["x"], 1, "unknown parts are kept");
        let err = read_record(record(99, "").as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "record version 99 is newer than this berth (1)"
        );
        let err = read_record(record(0, "").as_bytes()).unwrap_err();
        assert!(matches!(err, StageInputError::Version(VersionError::Zero)));
        let hostile = record(1, r#","container":{"id":"../../x","created":"t"}"#);
        let err = read_record(hostile.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains(r#""container" part"#)
                && err.contains(r#"invalid container id "../../x""#),
            "{err}"
        );
        let no_image = r#"{"version":1,"root":"/r"}"#;
        let err = read_record(no_image.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("missing field `image`"), "{err}");
        let no_layers =
            r#"{"version":1,"root":"/r","image":{"id":"a","manifest":"b","config":{}}}"#;
        let err = read_record(no_layers.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains(r#""image" part"#) && err.contains("`layers`"),
            "{err}"
        );
        let err = read_record(&b"{not json"[..]).unwrap_err();
        assert!(matches!(err, StageInputError::Invalid(_)));
    }
}
