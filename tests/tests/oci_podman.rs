//! berth-oci under podman (issue 16): `podman --runtime berth-oci` with a storage root, run
//! root, tmp dir and event log of the test's own, cgroupfs under the test's cgroup parent.
//! `run --rm`: output and exit status; `run -d`, `exec`, `rm -f`; nothing left. The rlimits
//! are given (`--ulimit`): podman's defaults raise them past what a process without
//! CAP_SYS_RESOURCE may set, which fails runc and berth-oci alike.

#[path = "../oci/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use berth_tests::formats::{write_images, Format};
use berth_tests::ImageSpec;

struct Podman {
    dir: PathBuf,
    /// The runtime's default root did not exist before this test.
    made_runtime_root: bool,
}

impl Podman {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(berth_tests::tools::require_tool("podman"));
        cmd.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .args(["--events-backend", "file"])
            .args(args)
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "localhost,127.0.0.1")
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        support::run_with_deadline(self.command(args), Duration::from_secs(60))
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// berth-oci's default --root: podman keeps the runtime's state there (its container
/// cleanup, run by conmon, does not carry `--runtime-flag`s, so it cannot move).
const RUNTIME_ROOT: &str = "/run/berth-oci";

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-af"]);
        if self.made_runtime_root {
            // Only if empty: another user's containers would keep it.
            let _ = std::fs::remove_dir(RUNTIME_ROOT);
        }
        // Its overlay mounts are under its root: whatever a failed test left.
        let base = self.dir.display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&base))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for point in points {
            let _ = rustix::mount::unmount(point, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

fn podman_in(dir: &Path) -> Podman {
    Podman {
        dir: dir.join("podman"),
        made_runtime_root: !Path::new(RUNTIME_ROOT).exists(),
    }
}

#[test]
fn podman_runs_busybox_with_berth_oci() {
    let world = support::World::new();
    let podman = podman_in(world.dir.path());
    let image = ImageSpec::busybox().name("busybox:latest").build();
    let archive = write_images(
        Format::DockerClassic,
        &[image],
        &world.dir.path().join("bb.tar"),
    );
    let loaded = podman.ok(&["load", "-i", archive.to_str().unwrap()]);
    let image = loaded
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .unwrap_or_else(|| panic!("podman load said {loaded:?}"))
        .trim()
        .to_string();
    let runtime = berth_tests::berth_bin("berth-oci");
    let runtime = runtime.to_str().unwrap();
    let parent = format!("/{}", world.cgroup_parent);
    let common = [
        "--pull",
        "never",
        "--runtime",
        runtime,
        "--network",
        "none",
        "--cgroup-parent",
        &parent,
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let mut args = vec!["run", "--rm"];
    args.extend(common);
    args.extend([
        &image,
        "/bin/busybox",
        "sh",
        "-c",
        "echo hello from berth-oci; exit 3",
    ]);
    let out = podman.run(&args);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from berth-oci\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3));
    let mut args = vec!["run", "-d", "--name", "web"];
    args.extend(common);
    args.extend([&image, "/bin/busybox", "sleep", "60"]);
    podman.ok(&args);
    let exec = podman.run(&[
        "exec",
        "web",
        "/bin/busybox",
        "sh",
        "-c",
        "echo exec ok; exit 6",
    ]);
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "exec ok\n");
    assert_eq!(exec.status.code(), Some(6));
    podman.ok(&["rm", "-f", "-t", "0", "web"]);
    assert!(podman.ok(&["ps", "-a", "-q"]).trim().is_empty());
    drop(podman);
    assert!(
        !Path::new(RUNTIME_ROOT).exists()
            || std::fs::read_dir(RUNTIME_ROOT).unwrap().next().is_some(),
        "an empty {RUNTIME_ROOT} is left"
    );
    // podman keeps a `conmon` cgroup of its own under the parent (with runc too); the
    // container's own must be gone.
    let left: Vec<_> = world
        .leftover_cgroups()
        .into_iter()
        .filter(|p| !p.ends_with("conmon"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        world.leftover_mounts().is_empty(),
        "{:?}",
        world.leftover_mounts()
    );
}
