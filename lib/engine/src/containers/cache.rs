//! Parsed container files, kept while the files stay the same. The store stays the truth:
//! each use stats the files first (a `stat` is far cheaper than reading and parsing the
//! JSON), and a file that changed, appeared or went is read again. Writers replace the
//! files by rename (a new inode) or rewrite them (a new mtime and ctime), so a change is
//! always seen, whoever made it (berthd, `berth-run`, a monitor).

use std::any::Any;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// More slots than this and the cache starts over: it holds a few per container, and
/// containers removed by others leave theirs until then.
const MAX_SLOTS: usize = 8192;

/// What identifies one version of a file (None: there is no file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

struct Slot {
    stamps: Vec<Option<Stamp>>,
    value: Arc<dyn Any + Send + Sync>,
}

fn slots() -> &'static Mutex<HashMap<PathBuf, Slot>> {
    static SLOTS: OnceLock<Mutex<HashMap<PathBuf, Slot>>> = OnceLock::new();
    SLOTS.get_or_init(Default::default)
}

/// The value `read` makes of `files` (the first names the slot), from the cache while none
/// of them changed since it was read. Errors are not kept: the next call reads again.
pub fn read<T, E>(files: &[PathBuf], read: impl FnOnce() -> Result<T, E>) -> Result<T, E>
where
    T: Clone + Send + Sync + 'static,
{
    // Stamped before reading: a change during the read leaves a stamp older than the
    // file, so the next call reads again rather than keeping what may be half old.
    let stamps: Vec<Option<Stamp>> = files.iter().map(|f| stamp(f)).collect();
    let key = &files[0];
    {
        let slots = slots().lock().expect("the cache's lock");
        if let Some(slot) = slots.get(key) {
            if slot.stamps == stamps {
                if let Some(value) = slot.value.downcast_ref::<T>() {
                    return Ok(value.clone());
                }
            }
        }
    }
    let value = read()?;
    let mut slots = slots().lock().expect("the cache's lock");
    if stamps.iter().all(Option::is_none) {
        // Nothing on disk: nothing worth keeping.
        slots.remove(key);
    } else {
        if slots.len() >= MAX_SLOTS {
            slots.clear();
        }
        slots.insert(
            key.clone(),
            Slot {
                stamps,
                value: Arc::new(value.clone()),
            },
        );
    }
    Ok(value)
}

/// Slots a container may hold (its identity, create and run files).
const SLOTS_PER_CONTAINER: usize = 3;

/// Drops the slots of files outside `dirs` (the directories of the containers there are
/// now): those of containers removed meanwhile, by berthd or anyone else. Only once
/// there are clearly more slots than the containers can hold: a stale slot is never
/// hit (ids are not reused), it only takes memory, while sweeping hashes every slot's
/// path on every list.
pub fn keep_only(dirs: &std::collections::HashSet<PathBuf>) {
    let mut slots = slots().lock().expect("the cache's lock");
    if slots.len() <= SLOTS_PER_CONTAINER * dirs.len() + 64 {
        return;
    }
    slots.retain(|key, _| key.parent().is_some_and(|d| dirs.contains(d)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn parse(path: &Path, reads: &Cell<u32>) -> Result<Option<String>, std::io::Error> {
        reads.set(reads.get() + 1);
        match std::fs::read_to_string(path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    #[test]
    fn a_file_is_read_again_only_when_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        let extra = dir.path().join("exit.json");
        let files = [file.clone(), extra.clone()];
        let reads = Cell::new(0);
        std::fs::write(&file, "one").unwrap();
        let get = || read(&files, || parse(&file, &reads)).unwrap();
        assert_eq!(get().as_deref(), Some("one"));
        assert_eq!(get().as_deref(), Some("one"));
        assert_eq!(reads.get(), 1, "the second read came from the cache");
        // Replaced by rename, same size: a new inode.
        std::fs::write(dir.path().join("tmp"), "two").unwrap();
        std::fs::rename(dir.path().join("tmp"), &file).unwrap();
        assert_eq!(get().as_deref(), Some("two"));
        assert_eq!(reads.get(), 2);
        // The second file appearing counts as a change of the value.
        std::fs::write(&extra, "x").unwrap();
        get();
        assert_eq!(reads.get(), 3);
        std::fs::remove_file(&file).unwrap();
        std::fs::remove_file(&extra).unwrap();
        assert_eq!(get(), None);
        assert_eq!(get(), None);
        assert_eq!(reads.get(), 5, "nothing on disk is never kept");
        std::fs::write(&file, "three").unwrap();
        get();
        keep_only(&Default::default());
        get();
        assert_eq!(reads.get(), 6, "a few stale slots are kept: no sweep");
        // Slots of many containers that are gone: swept.
        let many = |n: usize| {
            for i in 0..n {
                let other = dir.path().join(format!("c{i}"));
                std::fs::create_dir_all(&other).unwrap();
                let other = other.join("state.json");
                std::fs::write(&other, "x").unwrap();
                read(&[other], || Ok::<_, std::io::Error>(Some(String::new()))).unwrap();
            }
        };
        many(100);
        let kept: std::collections::HashSet<PathBuf> = [dir.path().to_path_buf()].into();
        keep_only(&kept);
        get();
        assert_eq!(reads.get(), 6, "the slot of a container there is kept");
        many(100);
        keep_only(&Default::default());
        get();
        assert_eq!(reads.get(), 7, "a slot outside the kept dirs is gone");
    }
}
