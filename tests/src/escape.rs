//! What the escape tests share: a hostile image (busybox + probe, plus entries of the
//! attack's own), the host directory an attack aims at and the check that it stayed as it
//! was, and a host fd handed to a berth process as the caller's leftover.

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::container::Sandbox;
use crate::formats::{write_images, Format, ImageSpec};
use crate::image::{busybox_entries, Entry, Layer};
use crate::probe::probe_entries;

/// busybox + probe in one layer, then `extra` in a layer of its own, loaded as `name`.
pub fn load_hostile(sandbox: &Sandbox, name: &str, extra: Vec<Entry>) {
    let mut base = busybox_entries();
    base.extend(probe_entries());
    let image = ImageSpec::new(vec![Layer::new(base), Layer::new(extra)])
        .name(name)
        .build();
    let path = sandbox
        .store
        .work(&format!("{}.tar", name.replace([':', '/'], "_")));
    write_images(Format::OciArchive, &[image], &path);
    sandbox.store.load(&path);
}

/// A directory outside every store, with one file, that the attacks aim at.
pub fn target_dir(sandbox: &Sandbox) -> PathBuf {
    let dir = sandbox.store.work("outside");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep"), "untouched").unwrap();
    dir
}

/// Fails the test unless `dir` (from [`target_dir`]) holds only its file, unchanged, and
/// nothing is mounted on it.
pub fn assert_untouched(dir: &Path) {
    let entries: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        vec!["keep".to_string()],
        "nothing may appear in {}",
        dir.display()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("keep")).unwrap(),
        "untouched"
    );
    let mounted = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounted.contains(&dir.display().to_string()),
        "nothing may be mounted on {}",
        dir.display()
    );
}

/// Makes `cmd` start with `file` open as fd `number` (not close-on-exec), as a shell's
/// `7<dir` would: an fd the caller leaves to berth.
pub fn with_fd<'a>(cmd: &'a mut Command, file: &impl AsRawFd, number: RawFd) -> &'a mut Command {
    let raw = file.as_raw_fd();
    // SAFETY: between fork and exec the closure only calls dup2 or fcntl (async-signal-safe) on fds
    // the test owns; dup2 leaves the new fd without FD_CLOEXEC.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep FD_CLOEXEC.
            if raw == number && libc_fcntl(raw, F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if raw != number && libc_dup2(raw, number) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

const F_SETFD: i32 = 2;

extern "C" {
    #[link_name = "dup2"]
    fn libc_dup2(old: i32, new: i32) -> i32;
    #[link_name = "fcntl"]
    fn libc_fcntl(fd: i32, cmd: i32, arg: i32) -> i32;
}
