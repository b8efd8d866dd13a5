//! Reading the journal for `GET /events`: the old file and the current one for the past,
//! then the current one as it grows. Rotation renames the current file; the reader sees
//! the path name a new inode, reads what is left of the old one and moves on.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use berth_common::events::{self, Event};
use berth_common::Paths;

/// How often a follower looks for new lines (and for `until` and a gone client).
const POLL: Duration = Duration::from_millis(50);

/// A journal file being read, and the part of a line not yet complete.
struct Reader {
    reader: BufReader<File>,
    ino: u64,
    pending: Vec<u8>,
}

impl Reader {
    fn open(path: &PathBuf) -> Option<Reader> {
        let file = File::open(path).ok()?;
        let ino = file.metadata().ok()?.ino();
        Some(Reader {
            reader: BufReader::new(file),
            ino,
            pending: Vec::new(),
        })
    }

    /// The whole lines written since the last call.
    fn lines(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            match self.reader.read_until(b'\n', &mut self.pending) {
                Ok(0) | Err(_) => return out,
                Ok(_) if self.pending.ends_with(b"\n") => {
                    out.extend(events::parse_lines(&self.pending));
                    self.pending.clear();
                }
                Ok(_) => return out,
            }
        }
    }
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Calls `send` with each event recorded at or after `since` (none of the past without
/// it), then with new ones, until `until` has passed or `send` (or `gone`) says the client
/// went. Events after `until` are not sent.
pub fn follow(
    paths: &Paths,
    since: Option<i64>,
    until: Option<i64>,
    send: &mut dyn FnMut(&Event) -> bool,
    gone: &dyn Fn() -> bool,
) {
    let path = events::journal_path(paths);
    let in_range = |e: &Event| {
        since.is_none_or(|s| e.time_nano >= s) && until.is_none_or(|u| e.time_nano <= u)
    };
    // The current file is opened first: a rotation after this leaves the old file the
    // same inode, read once below as the current one.
    let mut current = Reader::open(&path);
    if since.is_some() {
        let old = events::old_journal_path(paths);
        let old_is_current = match (&current, std::fs::metadata(&old)) {
            (Some(c), Ok(meta)) => meta.ino() == c.ino,
            _ => false,
        };
        if !old_is_current {
            if let Some(mut old) = Reader::open(&old) {
                for event in old.lines().iter().filter(|e| in_range(e)) {
                    if !send(event) {
                        return;
                    }
                }
            }
        }
    } else if let Some(c) = current.as_mut() {
        let _ = c.reader.seek(SeekFrom::End(0));
    }
    loop {
        // `until` is checked before reading, so an event written just before it is sent.
        let past_until = until.is_some_and(|u| now_nanos() > u);
        if let Some(c) = current.as_mut() {
            for event in c.lines().iter().filter(|e| in_range(e)) {
                if !send(event) {
                    return;
                }
            }
        }
        if past_until || gone() {
            return;
        }
        // A rotated (or first created) journal: the rest of the old one was read above.
        let ino_now = std::fs::metadata(&path).ok().map(|m| m.ino());
        if ino_now.is_some() && ino_now != current.as_ref().map(|c| c.ino) {
            if let Some(c) = current.as_mut() {
                for event in c.lines().iter().filter(|e| in_range(e)) {
                    if !send(event) {
                        return;
                    }
                }
            }
            current = Reader::open(&path);
            continue;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_common::events::Kind;

    #[test]
    fn past_then_new_events_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        let before = now_nanos();
        events::append(&paths, &Event::new(Kind::Image, "tag", "old")).unwrap();
        // Rotate by hand: the first event is in the old file now.
        std::fs::rename(
            events::journal_path(&paths),
            events::old_journal_path(&paths),
        )
        .unwrap();
        events::append(&paths, &Event::new(Kind::Image, "tag", "current")).unwrap();
        let writer = {
            let paths = paths.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150));
                events::append(&paths, &Event::new(Kind::Image, "tag", "later")).unwrap();
                std::fs::rename(
                    events::journal_path(&paths),
                    events::old_journal_path(&paths),
                )
                .unwrap();
                events::append(&paths, &Event::new(Kind::Image, "tag", "rotated")).unwrap();
            })
        };
        let mut seen = Vec::new();
        follow(
            &paths,
            Some(before),
            Some(now_nanos() + 800_000_000),
            &mut |e| {
                seen.push(e.actor.id.clone());
                true
            },
            &|| false,
        );
        writer.join().unwrap();
        assert_eq!(seen, ["old", "current", "later", "rotated"]);
    }

    #[test]
    fn without_since_only_new_events_and_a_gone_client_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
        events::append(&paths, &Event::new(Kind::Volume, "create", "past")).unwrap();
        let writer = {
            let paths = paths.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150));
                events::append(&paths, &Event::new(Kind::Volume, "create", "new")).unwrap();
            })
        };
        let mut seen = Vec::new();
        follow(
            &paths,
            None,
            None,
            &mut |e| {
                seen.push(e.actor.id.clone());
                false
            },
            &|| false,
        );
        writer.join().unwrap();
        assert_eq!(seen, ["new"]);
    }
}
