//! The v2 device filter on this host's real cgroup2 hierarchy: on a hybrid host that is
//! `/sys/fs/cgroup/unified` (BPF device programs act there too), on pure v2 the root.
//! Creates only `berth-test-bpf-<pid>/c` and removes it, whatever happens.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_cgroups::{detect, devices, Mode};

/// Removes the cgroups this test made, even on failure. The shells it starts are waited
/// for before it goes on, so there is never a process of ours left to kill.
struct Guard {
    dirs: Vec<PathBuf>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for dir in self.dirs.iter().rev() {
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

fn unified_root() -> Option<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    match detect(root).ok()? {
        Mode::V2 => Some(root.to_path_buf()),
        Mode::Hybrid => Some(root.join("unified")),
        Mode::V1 => None,
    }
}

/// Runs `sh -c` inside `cgroup` (the shell moves itself in first); returns its success.
fn run_in(cgroup: &Path, script: &str) -> bool {
    let procs = cgroup.join("cgroup.procs");
    let full = format!("echo $$ > {} && {script}", procs.display());
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&full)
        .spawn()
        .unwrap();
    child.wait().unwrap().success()
}

#[test]
fn bpf_device_program_enforces_dockers_rules() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let Some(unified) = unified_root() else {
        eprintln!("skipped: no cgroup2 hierarchy");
        return;
    };
    let parent = unified.join(format!("berth-test-bpf-{}", std::process::id()));
    let cgroup = parent.join("c");
    let mut guard = Guard { dirs: vec![] };
    std::fs::create_dir(&parent).unwrap();
    guard.dirs.push(parent.clone());
    std::fs::create_dir(&cgroup).unwrap();
    guard.dirs.push(cgroup.clone());

    // Device nodes of our own, in a temp dir: allowed null (1:3), denied kmsg (1:11) and
    // fuse (10:229).
    let tmp = tempfile::tempdir().unwrap();
    let mk = |name: &str, major: u32, minor: u32| {
        let path = tmp.path().join(name);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o600),
            rustix::fs::makedev(major, minor),
        )
        .unwrap();
        assert!(std::fs::metadata(&path)
            .unwrap()
            .file_type()
            .is_char_device());
        path
    };
    let null = mk("null", 1, 3);
    let kmsg = mk("kmsg", 1, 11);
    let fuse = mk("fuse", 10, 229);

    // Before: everything opens.
    assert!(run_in(&cgroup, &format!(": < {}", kmsg.display())));

    devices::apply_v2(&cgroup).expect("the BPF device program loads and attaches");

    assert!(
        run_in(&cgroup, &format!("echo x > {}", null.display())),
        "null is allowed"
    );
    assert!(
        !run_in(&cgroup, &format!(": < {}", kmsg.display())),
        "kmsg is denied"
    );
    assert!(
        !run_in(&cgroup, &format!(": < {}", fuse.display())),
        "fuse is denied"
    );
    let made = tmp.path().join("made");
    assert!(
        run_in(&cgroup, &format!("mknod {} c 4 1", made.display())),
        "mknod is allowed"
    );
}
