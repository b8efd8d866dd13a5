//! berth-oci under dockerd (issue 16): a private dockerd (Debian's docker.io) with
//! `--add-runtime berth=<berth-oci>`, in a mount namespace of its own whose /run is a tmpfs
//! (so its containerd's /run/containerd is the test's alone, and its overlay mounts go with
//! it). `docker run --runtime berth`: output and exit status, the namespaced sysctl docker
//! sets; `-d`, `exec`, `stop`, `rm`; nothing left.

#[path = "../oci/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_tests::formats::{write_images, Format};
use berth_tests::ImageSpec;

struct Dockerd {
    child: Child,
    socket: PathBuf,
    dir: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path, cgroup_parent: &str) -> Dockerd {
        let dockerd = berth_tests::tools::require_tool("dockerd");
        let socket = dir.join("docker.sock");
        let runtime = berth_tests::berth_bin("berth-oci");
        for sub in ["data", "exec"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755,size=64m none /run && exec \"$@\"")
            .arg("sh")
            .arg(dockerd)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .args([
                "--storage-driver=overlay2",
                "--cgroup-parent",
                cgroup_parent,
            ])
            .arg("--add-runtime")
            .arg(format!("berth={}", runtime.display()))
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "localhost,127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let d = Dockerd {
            child,
            socket,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not come up: {}",
                std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("docker");
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("cli"))
            .stdin(Stdio::null());
        support::run_with_deadline(cmd, Duration::from_secs(60))
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM: dockerd stops its containers and its containerd, then exits.
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn docker_runs_busybox_with_the_berth_runtime() {
    let world = support::World::new();
    let docker = Dockerd::start(world.dir.path(), &world.cgroup_parent);
    let image = ImageSpec::busybox().name("busybox:latest").build();
    let archive = write_images(
        Format::DockerClassic,
        &[image],
        &world.dir.path().join("bb.tar"),
    );
    docker.ok(&["load", "-i", archive.to_str().unwrap()]);
    let out = docker.docker(&[
        "run", "--rm", "--runtime", "berth", "--network", "none", "busybox",
        "/bin/busybox", "sh", "-c",
        "echo hello from berth-oci; busybox cat /proc/sys/net/ipv4/ip_unprivileged_port_start; exit 4",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from berth-oci\n0\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(4));
    docker.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--runtime",
        "berth",
        "--network",
        "none",
        "busybox",
        "/bin/busybox",
        "sleep",
        "60",
    ]);
    let inspect = docker.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.Runtime}} {{.State.Status}}",
        "web",
    ]);
    assert_eq!(inspect.trim(), "berth running");
    let exec = docker.docker(&[
        "exec",
        "web",
        "/bin/busybox",
        "sh",
        "-c",
        "echo exec ok; exit 6",
    ]);
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "exec ok\n");
    assert_eq!(exec.status.code(), Some(6));
    docker.ok(&["rm", "-f", "web"]);
    assert!(docker.ok(&["ps", "-a", "-q"]).trim().is_empty());
    drop(docker);
    assert!(
        world.leftover_cgroups().is_empty(),
        "{:?}",
        world.leftover_cgroups()
    );
}
