//! Shared by the `mount_*` tests (included with `#[path]`): a throw-away store whose Drop
//! unmounts everything mounted below its temp dir (deepest first, `MNT_DETACH`), even when
//! the test fails, and helpers to run `berth-mount` on records from `berth-unpack`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use berth_tests::formats::{write_images, Format};
use berth_tests::store::{describe, parse_record};
use berth_tests::{berth_unpack_bin, BuiltImage, TestStore};
use serde_json::Value;

/// Path of the built `berth-mount` (next to `berth-unpack`).
pub fn berth_mount_bin() -> PathBuf {
    let path = berth_unpack_bin().with_file_name("berth-mount");
    assert!(
        path.is_file(),
        "{} not found: build it first (cargo build -p berth-mount)",
        path.display()
    );
    path
}

/// A `TestStore` plus the unmount guard.
pub struct MountEnv {
    pub store: TestStore,
}

impl Drop for MountEnv {
    fn drop(&mut self) {
        unmount_all_under(self.store.base());
    }
}

/// Mount points at or below `dir` in this process's mount namespace.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// Unmounts (detaching) everything below `dir`, deepest first, until nothing is left.
pub fn unmount_all_under(dir: &Path) {
    for _ in 0..16 {
        let mut found = mounts_under(dir);
        if found.is_empty() {
            return;
        }
        found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for p in found {
            let _ = rustix::mount::unmount(
                &p,
                rustix::mount::UnmountFlags::DETACH | rustix::mount::UnmountFlags::NOFOLLOW,
            );
        }
    }
}

/// What a mount test usually looks at after the stage ran.
pub struct Mounted {
    pub record: Value,
    pub id: String,
    pub rootfs: PathBuf,
    pub upper: PathBuf,
}

impl Default for MountEnv {
    fn default() -> Self {
        MountEnv::new()
    }
}

impl MountEnv {
    pub fn new() -> MountEnv {
        MountEnv {
            store: TestStore::new(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.store.root()
    }

    pub fn run_dir(&self) -> PathBuf {
        self.store.run_dir()
    }

    /// Loads `image` with berth-unpack; returns its record.
    pub fn load(&self, image: &BuiltImage) -> Value {
        let path = write_images(
            Format::OciArchive,
            std::slice::from_ref(image),
            &self.store.work(&format!("img-{}.tar", &image.id()[7..19])),
        );
        self.store.load(&path)
    }

    /// `berth-mount --root … --run-dir … ARGS` with `input` on stdin.
    pub fn run(&self, args: &[&str], input: &[u8]) -> Output {
        let mut cmd = Command::new(berth_mount_bin());
        cmd.arg("--root")
            .arg(self.root())
            .arg("--run-dir")
            .arg(self.run_dir())
            .args(args)
            .env_remove("BERTH_ROOT")
            .env_remove("BERTH_RUN_DIR")
            .env_remove("BERTH_OVERLAY_METHOD");
        berth_tests::store::output_with_input(cmd, input)
    }

    /// Runs the stage on `record`, expecting success.
    pub fn mount(&self, record: &Value, args: &[&str]) -> Mounted {
        let out = self.run(args, record.to_string().as_bytes());
        assert!(
            out.status.success(),
            "berth-mount {args:?} failed:\n{}",
            describe(&out)
        );
        let record = parse_record(&out);
        let id = record["container"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no container id: {record}"))
            .to_string();
        let rootfs = PathBuf::from(record["rootfs"]["path"].as_str().expect("rootfs.path"));
        let upper = PathBuf::from(record["rootfs"]["upper"].as_str().expect("rootfs.upper"));
        Mounted {
            record,
            id,
            rootfs,
            upper,
        }
    }

    /// Runs a subcommand, expecting success.
    pub fn ok(&self, args: &[&str], input: &[u8]) -> Output {
        let out = self.run(args, input);
        assert!(
            out.status.success(),
            "berth-mount {args:?} failed:\n{}",
            describe(&out)
        );
        out
    }

    /// True if an overlay is mounted exactly at `path`.
    pub fn is_mounted(&self, path: &Path) -> bool {
        mounts_under(path).iter().any(|p| p == path)
    }

    /// Everything below `dir` (relative paths), sorted; empty if it does not exist.
    pub fn tree(&self, dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let path = e.unwrap().path();
        out.push(path.strip_prefix(base).unwrap().display().to_string());
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            walk(base, &path, out);
        }
    }
}

/// Checks the failure contract: exit 125, `{"error": …}` on stdout, `berth-mount: …` on
/// stderr; returns the message.
pub fn expect_failure(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(125),
        "expected exit 125:\n{}",
        describe(out)
    );
    let value = parse_record(out);
    let message = value["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error string:\n{}", describe(out)))
        .to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().any(|l| l.starts_with("berth-mount: ")),
        "stderr lacks a `berth-mount: ` line:\n{}",
        describe(out)
    );
    message
}

/// Checks a management command's failure (`volume …`, `down --id`): exit 125, nothing on
/// stdout, `berth-mount: …` on stderr; returns the message.
pub fn expect_command_failure(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(125),
        "expected exit 125:\n{}",
        describe(out)
    );
    assert!(
        out.stdout.is_empty(),
        "stdout not empty:\n{}",
        describe(out)
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("berth-mount: "))
        .unwrap_or_else(|| panic!("stderr lacks a `berth-mount: ` line:\n{}", describe(out)))
        .to_string()
}

/// True for 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
