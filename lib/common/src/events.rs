//! The event journal of one root: what happened to its containers, images, networks and
//! volumes, one docker event message (`{"Type","Action","Actor":{"ID","Attributes"},
//! "scope","time","timeNano"}`) per line of `<root>/events/events.jsonl`. Any berth process
//! on the root appends to it (berthd, `berth-run`, a monitor's teardown): each line is one
//! `write` on an `O_APPEND` file, so lines of concurrent writers never interleave. Past
//! 4 MiB the journal is renamed to `events.jsonl.1` (one old file kept) under
//! `events/rotate.lock`; a reader that follows the journal sees the rename as a new inode.
//!
//! Recording an event never fails the operation it describes: [`emit`] logs what it could
//! not write and returns.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::lock::{FileLock, LockMode};
use crate::{ContainerId, Paths};

pub const DIR: &str = "events";
pub const JOURNAL: &str = "events.jsonl";
pub const OLD_JOURNAL: &str = "events.jsonl.1";
/// Extra attributes every event of a container carries (its labels), written by whoever
/// created it: `<container dir>/event-attributes.json`, a JSON object of strings.
pub const CONTAINER_ATTRIBUTES: &str = "event-attributes.json";
/// The size past which the journal is rotated.
pub const MAX_SIZE: u64 = 4 << 20;

/// What an event is about, as docker names the types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Image,
    Network,
    Volume,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Network => "network",
            Kind::Volume => "volume",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, in docker's message shape (API 1.22 and later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// An event of `kind` happening now to the object `id`.
    pub fn new(kind: Kind, action: &str, id: &str) -> Event {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        Event {
            kind: kind.as_str().to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes: BTreeMap::new(),
            },
            scope: "local".to_string(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        }
    }

    /// The event with attribute `key` set (an empty value is left out, as docker does).
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Event {
        let value = value.into();
        if !value.is_empty() {
            self.actor.attributes.insert(key.to_string(), value);
        }
        self
    }

    /// A network's event as dockerd reports it: the network's id as the actor, its name and
    /// type, and for connect/disconnect the container's id.
    pub fn network(action: &str, id: &str, name: &str, container: Option<&ContainerId>) -> Event {
        let event = Event::new(Kind::Network, action, id)
            .with("name", name)
            .with("type", "bridge");
        match container {
            Some(container) => event.with("container", container.as_str()),
            None => event,
        }
    }

    /// A container's event: its name, image and the attributes stored beside it (labels).
    pub fn container(
        paths: &Paths,
        action: &str,
        id: &ContainerId,
        name: &str,
        image: &str,
    ) -> Event {
        let mut event = Event::new(Kind::Container, action, id.as_str())
            .with("name", name.trim_start_matches('/'))
            .with("image", image);
        for (key, value) in container_attributes(paths, id) {
            event.actor.attributes.entry(key).or_insert(value);
        }
        event
    }
}

/// What container `id`'s events carry besides name and image (nothing if none was stored).
pub fn container_attributes(paths: &Paths, id: &ContainerId) -> BTreeMap<String, String> {
    std::fs::read(paths.container_dir(id).join(CONTAINER_ATTRIBUTES))
        .ok()
        .and_then(|data| serde_json::from_slice(&data).ok())
        .unwrap_or_default()
}

/// Stores the attributes every later event of container `id` carries (its labels).
pub fn set_container_attributes(
    paths: &Paths,
    id: &ContainerId,
    attributes: &BTreeMap<String, String>,
) -> Result<(), EventError> {
    let path = paths.container_dir(id).join(CONTAINER_ATTRIBUTES);
    crate::json_file::write_atomic(&path, attributes).map_err(|e| EventError::Io {
        path: e.path,
        source: e.source,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] crate::LockError),
}

impl EventError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            EventError::Io { source, .. } => crate::ErrorKind::of_io(source),
            EventError::Lock(_) => crate::ErrorKind::Internal,
        }
    }
}

pub fn dir(paths: &Paths) -> PathBuf {
    paths.root().join(DIR)
}

pub fn journal_path(paths: &Paths) -> PathBuf {
    dir(paths).join(JOURNAL)
}

pub fn old_journal_path(paths: &Paths) -> PathBuf {
    dir(paths).join(OLD_JOURNAL)
}

/// Appends `event` to the root's journal; a failure is logged, never returned: an event
/// is a record of an operation, not a part of it.
pub fn emit(paths: &Paths, event: &Event) {
    if let Err(e) = append(paths, event) {
        tracing::warn!(action = %event.action, id = %event.actor.id, "not recorded: {e}");
    }
}

/// Appends `event` as one line in one write, then rotates a journal grown past the limit.
pub fn append(paths: &Paths, event: &Event) -> Result<(), EventError> {
    let path = journal_path(paths);
    let io = |source| EventError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir(paths)).map_err(io)?;
    let mut line = serde_json::to_vec(event).expect("events serialise");
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
    file.write_all(&line).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.len() > MAX_SIZE {
        rotate(paths, meta.ino())?;
    }
    Ok(())
}

/// Renames the journal (inode `ino`) to the old one, unless another writer did already.
fn rotate(paths: &Paths, ino: u64) -> Result<(), EventError> {
    let _lock = FileLock::acquire(&dir(paths).join("rotate.lock"), LockMode::Exclusive)?;
    let path = journal_path(paths);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.ino() == ino => std::fs::rename(&path, old_journal_path(paths))
            .map_err(|source| EventError::Io { path, source }),
        _ => Ok(()),
    }
}

/// Every event recorded on the root, oldest first (the old journal, then the current).
pub fn read_all(paths: &Paths) -> Vec<Event> {
    [old_journal_path(paths), journal_path(paths)]
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .flat_map(|data| parse_lines(&data))
        .collect()
}

/// The whole lines of `data` that are events; anything else (a torn last line) is skipped.
pub fn parse_lines(data: &[u8]) -> Vec<Event> {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        (dir, paths)
    }

    #[test]
    fn events_are_lines_in_docker_shape() {
        let (_d, paths) = paths();
        emit(
            &paths,
            &Event::new(Kind::Image, "tag", "sha256:ab").with("name", "x:1"),
        );
        emit(
            &paths,
            &Event::new(Kind::Volume, "create", "v").with("driver", ""),
        );
        let text = std::fs::read_to_string(journal_path(&paths)).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["Type"], "image");
        assert_eq!(first["Action"], "tag");
        assert_eq!(first["Actor"]["ID"], "sha256:ab");
        assert_eq!(first["Actor"]["Attributes"]["name"], "x:1");
        assert_eq!(first["scope"], "local");
        assert_eq!(
            first["time"].as_i64().unwrap(),
            first["timeNano"].as_i64().unwrap() / 1_000_000_000
        );
        let all = read_all(&paths);
        assert_eq!(all.len(), 2);
        assert!(
            all[1].actor.attributes.is_empty(),
            "empty values are left out"
        );
    }

    #[test]
    fn concurrent_writers_keep_whole_lines_and_rotation_keeps_one_old_file() {
        let (_d, paths) = paths();
        let big = "x".repeat(64 * 1024);
        let writers: Vec<_> = (0..4)
            .map(|n| {
                let paths = paths.clone();
                let big = big.clone();
                std::thread::spawn(move || {
                    for i in 0..40 {
                        let e = Event::new(Kind::Network, "connect", &format!("{n}-{i}"))
                            .with("pad", big.clone());
                        append(&paths, &e).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        // 160 lines of 64 KiB are 10 MiB: rotated at least once, at most the last two files.
        assert!(old_journal_path(&paths).exists());
        for path in [journal_path(&paths), old_journal_path(&paths)] {
            let data = std::fs::read(&path).unwrap();
            let lines = data
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            assert_eq!(
                parse_lines(&data).len(),
                lines,
                "{} has a torn line",
                path.display()
            );
        }
        // The old file holds at least the limit's worth; no event is there twice.
        let all = read_all(&paths);
        let ids: std::collections::HashSet<&String> = all.iter().map(|e| &e.actor.id).collect();
        assert_eq!(ids.len(), all.len());
        assert!(all.len() as u64 * 64 * 1024 >= MAX_SIZE && all.len() < 160);
    }

    #[test]
    fn container_events_carry_the_stored_attributes() {
        let (_d, paths) = paths();
        let id = ContainerId::parse(&"a".repeat(64)).unwrap();
        std::fs::create_dir_all(paths.container_dir(&id)).unwrap();
        let labels = BTreeMap::from([("tier".to_string(), "web".to_string())]);
        set_container_attributes(&paths, &id, &labels).unwrap();
        let e = Event::container(&paths, "start", &id, "/web", "busybox");
        assert_eq!(e.actor.attributes["name"], "web");
        assert_eq!(e.actor.attributes["image"], "busybox");
        assert_eq!(e.actor.attributes["tier"], "web");
    }
}
