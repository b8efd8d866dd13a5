//! `berth` against a real dockerd (Debian's docker.io 20.10, API 1.41) of the test's own:
//! its data and exec roots under a temp dir, its own mount namespace with a tmpfs on /run
//! (so its containerd is private), no bridge, no iptables, pulls aimed at a closed port.
//! berth negotiates 1.41, loads a busybox image into it, runs, lists, logs, execs, removes.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_tests::client::{berth_command, ok, output};
use berth_tests::formats::{write_images, Format, ImageSpec};
use berth_tests::wait_for;

const DOCKERD: &str = "/usr/sbin/dockerd";

/// A private dockerd, stopped by its PID (its containerd too, if it outlives it), its
/// cgroups and directories removed, on drop.
struct PrivateDockerd {
    child: Option<Child>,
    base: PathBuf,
    socket: PathBuf,
    cgroup_parent: String,
}

impl PrivateDockerd {
    fn start() -> PrivateDockerd {
        let base = std::env::temp_dir().join(format!(
            "berth-client-dockerd-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        for dir in ["d", "e", "cli"] {
            std::fs::create_dir_all(base.join(dir)).unwrap();
        }
        // Its key.json in the temp dir, not /etc/docker.
        let config = base.join("daemon.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"deprecated-key-path": "{}/key.json"}}"#,
                base.display()
            ),
        )
        .unwrap();
        let socket = base.join("sock");
        let cgroup_parent = format!("berth-test-dockerd-{}", std::process::id());
        let log = std::fs::File::create(base.join("dockerd.log")).unwrap();
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755,size=64m none /run && exec \"$@\"")
            .arg("sh")
            .arg(DOCKERD)
            .arg("--data-root")
            .arg(base.join("d"))
            .arg("--exec-root")
            .arg(base.join("e"))
            .arg("--pidfile")
            .arg(base.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .args([
                "--storage-driver=overlay2",
                "--cgroup-parent",
                &cgroup_parent,
            ])
            .arg("--config-file")
            .arg(&config)
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "localhost,127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let mut daemon = PrivateDockerd {
            child: Some(child),
            base,
            socket,
            cgroup_parent,
        };
        daemon.wait_ready();
        daemon
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.base.join("dockerd.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            let mut cmd = self.berth(&["version"]);
            if cmd.output().is_ok_and(|o| o.status.success()) {
                return;
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && start.elapsed() < Duration::from_secs(60),
                "dockerd did not answer ({exited:?}); its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn berth(&self, args: &[&str]) -> Command {
        let mut cmd = berth_command(&self.base.join("cli"));
        cmd.arg("-H").arg(self.host()).args(args);
        cmd
    }

    /// The containerd dockerd started, if it still runs from this exec root.
    fn containerd_pid(&self) -> Option<i32> {
        let pidfile = self.base.join("e/containerd/containerd.pid");
        let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains(&self.base.display().to_string())
            .then_some(pid)
    }
}

fn rand_suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}", t.subsec_nanos())
}

/// SIGTERM, then SIGKILL after `grace`; reaped (a zombie would answer kill(0) forever).
fn stop_child(child: &mut Child, grace: Duration) {
    if let Some(p) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
    }
    let start = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if start.elapsed() > grace {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process not ours to reap (dockerd's containerd): SIGTERM, SIGKILL after `grace`.
fn stop_pid(pid: i32, grace: Duration) {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
    let start = Instant::now();
    while rustix::process::test_kill_process(p).is_ok() && start.elapsed() < grace {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        let containerd = self.containerd_pid();
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(30));
        }
        if let Some(pid) = containerd {
            stop_pid(pid, Duration::from_secs(10));
        }
        // Its cgroups, children first (one per controller on v1).
        for root in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let top = root.path().join(&self.cgroup_parent);
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&top)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
            dirs.push(top);
            for dir in dirs {
                let _ = std::fs::remove_dir(dir);
            }
        }
        // Its mounts were in its own namespace, gone with it: the dirs are plain now.
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

#[test]
fn berth_drives_a_real_dockerd() {
    if !std::path::Path::new(DOCKERD).exists() {
        panic!("{DOCKERD} is missing: install docker.io (.ci/run does)");
    }
    let dockerd = PrivateDockerd::start();
    let archive = dockerd.base.join("bb.tar");
    let image = ImageSpec::busybox().name("bb:1").cmd(&["sh"]).build();
    write_images(
        Format::DockerClassic,
        std::slice::from_ref(&image),
        &archive,
    );

    let v = ok(dockerd.berth(&[
        "version",
        "--format",
        "{{.Client.ApiVersion}} {{.Server.ApiVersion}}",
    ]));
    assert_eq!(
        v.trim(),
        "1.41 1.41",
        "the lower of berth's 1.43 and dockerd's"
    );
    let loaded = ok(dockerd.berth(&["load", "-i", archive.to_str().unwrap()]));
    assert!(loaded.contains("Loaded image: bb:1"), "{loaded}");
    let images = ok(dockerd.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(images.trim(), "bb:1");

    let out = output(dockerd.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb:1",
        "sh",
        "-c",
        "echo hi; echo err >&2; exit 4",
    ]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi\n",
        "{}",
        dockerd.log_text()
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert_eq!(out.status.code(), Some(4));

    ok(dockerd.berth(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "d1",
        "bb:1",
        "sh",
        "-c",
        "echo up; while true; do sleep 0.1; done",
    ]));
    let ps = ok(dockerd.berth(&["ps", "--format", "{{.Names}} {{.State}}"]));
    assert_eq!(ps.trim(), "d1 running");
    wait_for("the logs", || ok(dockerd.berth(&["logs", "d1"])) == "up\n");
    let out = output(dockerd.berth(&["exec", "d1", "sh", "-c", "echo in; exit 6"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "in\n");
    assert_eq!(out.status.code(), Some(6));
    let running = ok(dockerd.berth(&["inspect", "-f", "{{.State.Running}}", "d1"]));
    assert_eq!(running.trim(), "true");
    ok(dockerd.berth(&["rm", "-f", "d1"]));
    assert!(ok(dockerd.berth(&["ps", "-aq"])).trim().is_empty());
    ok(dockerd.berth(&["rmi", "bb:1"]));
}
