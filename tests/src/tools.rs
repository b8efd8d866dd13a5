//! External tools (skopeo, umoci, unshare) and tree listings made with find(1).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::store::describe;

/// Path of a required host tool; panics (never skips) if it is missing.
pub fn require_tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!("this test needs `{name}` and it is not installed (apt-get install {name})");
}

/// Runs `cmd`, panicking with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", describe(&out));
    out
}

/// Shell that lists the current directory: one line per entry with path, type, mode,
/// uid, gid and link target; then `sha256 path` of each regular file; then `path
/// major:minor` of each device node. The root itself is left out.
pub const LIST_SCRIPT: &str = r#"
export LC_ALL=C
find . -mindepth 1 -printf '%p %y %m %U %G %l\n' | sort
echo '--- sha256'
find . -mindepth 1 -type f -exec sha256sum {} + | sort -k2
echo '--- devices'
find . -mindepth 1 \( -type c -o -type b \) -exec stat -c '%n %t:%T' {} + | sort
"#;

/// The `LIST_SCRIPT` listing of `dir`.
pub fn list_tree(dir: &Path) -> Vec<String> {
    let script = format!("cd \"$1\" && {{ {LIST_SCRIPT} }}");
    let out = run_ok(Command::new("sh").arg("-c").arg(script).arg("sh").arg(dir));
    lines(&out)
}

/// The `LIST_SCRIPT` listing of `layers` (lowest first) merged by a read-only overlayfs
/// mounted at `mountpoint` in a private mount namespace of a child process: the mount
/// vanishes with the child, and the test process never mounts anything.
pub fn list_overlay(layers: &[PathBuf], mountpoint: &Path) -> Vec<String> {
    require_tool("unshare");
    assert!(
        layers.len() >= 2,
        "overlayfs without an upper dir needs two lower dirs"
    );
    let lowerdir: Vec<String> = layers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let lowerdir = lowerdir.join(":");
    assert!(
        !lowerdir.contains(','),
        "layer paths must not contain commas: {lowerdir}"
    );
    let script = format!(
        "mount -t overlay overlay -o ro,lowerdir=\"$1\" \"$2\" && cd \"$2\" && {{ {LIST_SCRIPT} }}"
    );
    let out = run_ok(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(script)
            .arg("sh")
            .arg(lowerdir)
            .arg(mountpoint),
    );
    lines(&out)
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Checks that a layer directory holds the busybox base (`busybox_entries`).
pub fn assert_busybox_in(layer: &Path) {
    use std::os::unix::fs::MetadataExt;
    let bb = layer.join("bin/busybox");
    let meta =
        std::fs::symlink_metadata(&bb).unwrap_or_else(|e| panic!("{} missing: {e}", bb.display()));
    assert!(
        meta.file_type().is_file(),
        "{} is not a regular file",
        bb.display()
    );
    assert_eq!(meta.mode() & 0o7777, 0o755, "mode of {}", bb.display());
    assert_eq!(
        meta.len(),
        crate::busybox_bytes().len() as u64,
        "size of {}",
        bb.display()
    );
    let sh = std::fs::read_link(layer.join("bin/sh")).expect("bin/sh is a symlink");
    assert_eq!(sh, Path::new("busybox"));
}

/// True if the record's name is `name`, allowing the `docker.io/` normalization.
pub fn name_matches(record_name: &str, name: &str) -> bool {
    record_name == name
        || record_name == crate::formats::normalize_name(name)
        || crate::formats::normalize_name(record_name) == crate::formats::normalize_name(name)
}
