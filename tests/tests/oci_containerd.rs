//! berth-oci under containerd (issue 16): a private containerd (its own root, state,
//! sockets; stopped by its pid) imports a busybox image made by the test builders, and
//! `ctr run --runc-binary berth-oci` runs it: output and exit status; a detached task,
//! `ctr task exec`, `ctr task kill`, delete; nothing left behind (tasks, cgroups, state,
//! mounts). berth-oci's state goes under the test's directory (`--runc-root`), ctr's fifos
//! too (`--fifo-dir`); containerd 1.6 keeps its shims' sockets in /run/containerd/s, which
//! is removed at the end if this test made it and it is empty.

#[path = "../oci/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_tests::formats::{write_images, Format};
use berth_tests::ImageSpec;

/// A containerd of this test's own, killed (by its pid) when dropped.
struct Containerd {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    /// /run/containerd did not exist before this test.
    made_run_dir: bool,
}

const RUN_DIR: &str = "/run/containerd";

impl Containerd {
    fn start(dir: &Path) -> Containerd {
        let bin = berth_tests::tools::require_tool("containerd");
        let socket = dir.join("containerd.sock");
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[debug]
  address = "{dir}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{dir}/opt"
"#,
            root = dir.join("root").display(),
            state = dir.join("state").display(),
            socket = socket.display(),
            dir = dir.display(),
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new(bin)
            .arg("--config")
            .arg(dir.join("config.toml"))
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "localhost,127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let containerd = Containerd {
            child,
            dir: dir.to_path_buf(),
            socket,
            made_run_dir: !Path::new(RUN_DIR).exists(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !containerd.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "containerd did not come up: {}",
                std::fs::read_to_string(dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        containerd
    }

    fn ctr(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.socket)
            .arg("--namespace")
            .arg("berthtest");
        cmd.args(args).stdin(Stdio::null());
        support::run_with_deadline(cmd, Duration::from_secs(60))
    }

    fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "ctr {args:?}: {}\n{}\ncontainerd log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Containerd {
    /// The shims this containerd started (their command line names its socket).
    fn shims(&self) -> Vec<i32> {
        let socket = self.socket.display().to_string();
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                cmdline.contains("containerd-shim") && cmdline.contains(&socket)
            })
            .collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // A failed test leaves tasks: their shims outlive containerd unless killed here.
        let shims = self.shims();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in shims {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        // Its snapshots are overlay mounts under its root: unmount what is left there.
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
        if self.made_run_dir {
            // Only empty directories go (rmdir): anything in use stays.
            for dir in ["s", "fifo", "runc", ""] {
                let _ = std::fs::remove_dir(Path::new(RUN_DIR).join(dir));
            }
        }
    }
}

#[test]
fn ctr_runs_busybox_with_berth_oci() {
    let world = support::World::new();
    let containerd = Containerd::start(world.dir.path());
    let image = ImageSpec::busybox().name("busybox:latest").build();
    let archive = write_images(
        Format::DockerClassic,
        &[image],
        &world.dir.path().join("busybox.tar"),
    );
    containerd.ctr_ok(&["images", "import", archive.to_str().unwrap()]);
    let runtime = berth_tests::berth_bin("berth-oci");
    let runtime = runtime.to_str().unwrap();
    let runc_root = world.dir.path().join("runc-root");
    let fifo_dir = world.dir.path().join("fifo");
    let (runc_root, fifo_dir) = (runc_root.to_str().unwrap(), fifo_dir.to_str().unwrap());
    let img = "docker.io/library/busybox:latest";
    let cgroup = format!("/{}/fg", world.cgroup_parent);
    // In the foreground: its output, and its exit status is ctr's.
    let out = containerd.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        runtime,
        "--runc-root",
        runc_root,
        "--fifo-dir",
        fifo_dir,
        "--cgroup",
        &cgroup,
        img,
        "fg",
        "/bin/busybox",
        "sh",
        "-c",
        "echo hello from berth-oci; exit 3",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from berth-oci\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(3));
    // Detached: a task that runs until it is killed.
    let cgroup = format!("/{}/bg", world.cgroup_parent);
    containerd.ctr_ok(&[
        "run",
        "-d",
        "--runc-binary",
        runtime,
        "--runc-root",
        runc_root,
        "--fifo-dir",
        fifo_dir,
        "--cgroup",
        &cgroup,
        img,
        "bg",
        "/bin/busybox",
        "sleep",
        "60",
    ]);
    let tasks = containerd.ctr_ok(&["tasks", "ls"]);
    assert!(tasks.contains("bg") && tasks.contains("RUNNING"), "{tasks}");
    // It is berth-oci's container (the shim's --root is runc_root/<namespace>).
    let listed = support::run_with_deadline(
        {
            let mut cmd = Command::new(runtime);
            cmd.args(["--root", &format!("{runc_root}/berthtest"), "list"]);
            cmd
        },
        Duration::from_secs(10),
    );
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("bg") && listed.contains("running"),
        "{listed}"
    );
    let exec = containerd.ctr(&[
        "tasks",
        "exec",
        "--exec-id",
        "e1",
        "--fifo-dir",
        fifo_dir,
        "bg",
        "/bin/busybox",
        "sh",
        "-c",
        "echo exec beside pid $(busybox cat /proc/1/comm); exit 5",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&exec.stdout),
        "exec beside pid busybox\n",
        "stderr: {}",
        String::from_utf8_lossy(&exec.stderr)
    );
    assert_eq!(exec.status.code(), Some(5));
    containerd.ctr_ok(&["tasks", "kill", "--signal", "SIGKILL", "bg"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !containerd.ctr_ok(&["tasks", "ls"]).contains("STOPPED") {
        assert!(Instant::now() < deadline, "the task did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    containerd.ctr_ok(&["tasks", "delete", "bg"]);
    containerd.ctr_ok(&["containers", "delete", "bg"]);
    let containers = containerd.ctr_ok(&["containers", "ls", "-q"]);
    assert!(containers.trim().is_empty(), "{containers}");
    assert!(
        world.leftover_cgroups().is_empty(),
        "{:?}",
        world.leftover_cgroups()
    );
    let state_left: Vec<_> = std::fs::read_dir(format!("{runc_root}/berthtest"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(state_left.is_empty(), "{state_left:?}");
    drop(containerd);
    assert!(
        world.leftover_mounts().is_empty(),
        "{:?}",
        world.leftover_mounts()
    );
}
