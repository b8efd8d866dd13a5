//! The same Dockerfile built by berth-build and by a private dockerd's classic builder
//! (`DOCKER_BUILDKIT=0 docker build`): both images hold the same files (names, modes,
//! owners, sizes, link targets; what each engine mounts at run time aside) and the same
//! run config. The dockerd is the test's own: its data root, socket, mount namespace (a
//! tmpfs on /run for containerd's state) and cgroup parent; no bridge, no iptables, proxies
//! at a closed port; stopped by its PID.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_tests::container::Sandbox;
use serde_json::Value;

struct Dockerd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    cgroup: String,
}

impl Dockerd {
    fn start(cgroup: String) -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-dockerd-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let d = dir.path();
        for sub in ["data", "exec", "cli"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("daemon.json"), "{}").unwrap();
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755,size=64m none /run && exec \"$@\"")
            .arg("sh")
            .arg("/usr/sbin/dockerd")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("d.sock").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--storage-driver=overlay2",
            ])
            .arg("--cgroup-parent")
            .arg(&cgroup)
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .envs([
                ("HTTP_PROXY", "http://127.0.0.1:9"),
                ("HTTPS_PROXY", "http://127.0.0.1:9"),
                ("NO_PROXY", "localhost,127.0.0.1"),
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(d.join("dockerd.log")).unwrap())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(d.join("dockerd.log"))
                    .unwrap(),
            ))
            .spawn()
            .expect("spawn dockerd");
        let mut dockerd = Dockerd {
            child: Some(child),
            dir,
            cgroup,
        };
        let begin = Instant::now();
        while !dockerd.docker(&["info"]).status.success() {
            let exited = dockerd.child.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none() && begin.elapsed() < Duration::from_secs(60),
                "dockerd did not start: {}",
                dockerd.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        dockerd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("--config")
            .arg(self.dir.path().join("cli"))
            .arg("-H")
            .arg(format!(
                "unix://{}",
                self.dir.path().join("d.sock").display()
            ))
            .args(args)
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .output()
            .expect("spawn docker")
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}\n{}\ndockerd log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops dockerd (SIGTERM, SIGKILL after 30 s), the containerd it supervised if it
    /// outlives it, and removes the cgroups of its parent.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let begin = Instant::now();
        while child.try_wait().ok().flatten().is_none() {
            if begin.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let exec = self.dir.path().join("exec");
        if let Ok(text) = std::fs::read_to_string(exec.join("containerd/containerd.pid")) {
            if let Ok(cpid) = text.trim().parse::<i32>() {
                let cmdline = std::fs::read(format!("/proc/{cpid}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&*exec.to_string_lossy()) {
                    if let Some(pid) = rustix::process::Pid::from_raw(cpid) {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                }
            }
        }
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            remove_cgroup(&hierarchy.path().join(&self.cgroup));
        }
        remove_cgroup(&PathBuf::from("/sys/fs/cgroup").join(&self.cgroup));
    }
}

fn remove_cgroup(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

const DOCKERFILE: &str = r#"FROM probe:latest AS build
ARG V=1
RUN busybox mkdir -p /out/sub && echo v$V > /out/sub/f && busybox ln -s sub/f /out/link && busybox chmod 0750 /out/sub
FROM probe:latest
COPY --from=build /out /app
COPY --chown=1000:1000 data /data/
RUN busybox rm /bin/ls && busybox mkdir -p /var/empty && echo x > /tmp/made
ENV A=1 B="two words"
WORKDIR /app
USER 1000
LABEL org.example.x=y
EXPOSE 80/tcp 53/udp
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/sub/f"]
"#;

/// Every path of the image with its type and mode, owner, size (not for directories, whose
/// size is the filesystem's) and link target; what the engines mount at run time aside.
const LIST: &str = "busybox find / -xdev \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -print | busybox sort | \
    while read -r p; do \
      if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then busybox stat -c '%n %f %u:%g' \"$p\"; else busybox stat -c '%n %f %u:%g %s' \"$p\"; fi; \
      if [ -L \"$p\" ]; then busybox readlink \"$p\"; fi; \
    done";

fn listing(text: &str) -> Vec<String> {
    let mounted = [
        "/etc/hosts ",
        "/etc/hostname ",
        "/etc/resolv.conf ",
        "/etc/mtab ",
        "/.dockerenv ",
    ];
    let mut skip_target = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if skip_target {
            skip_target = false;
            continue;
        }
        if mounted.iter().any(|m| line.starts_with(m)) {
            // /etc/mtab is a link: its target line goes too.
            skip_target = line.starts_with("/etc/mtab ");
            continue;
        }
        out.push(line.to_string());
    }
    out
}

fn config_subset(config: &Value) -> Value {
    let mut subset = serde_json::Map::new();
    for key in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Labels",
    ] {
        let value = config.get(key).cloned().unwrap_or(Value::Null);
        let value = match value {
            Value::String(s) if s.is_empty() => Value::Null,
            other => other,
        };
        subset.insert(key.to_string(), value);
    }
    Value::Object(subset)
}

#[test]
fn berth_build_and_dockerds_classic_builder_make_the_same_image() {
    let sandbox = Sandbox::with_probe();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::create_dir(ctx.path().join("data")).unwrap();
    std::fs::write(ctx.path().join("data/kept.txt"), "kept\n").unwrap();
    std::fs::write(ctx.path().join("data/ignored.log"), "no\n").unwrap();
    std::fs::write(ctx.path().join(".dockerignore"), "data/*.log\n").unwrap();
    let ctx_path = ctx.path().to_str().unwrap();

    let out = sandbox
        .stage_command(
            "berth-build",
            ["-t", "same:berth", "--build-arg", "V=7", ctx_path],
        )
        .env("BERTH_CGROUP_PARENT", &sandbox.cgroup_parent)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut dockerd = Dockerd::start(format!("{}-docker", sandbox.cgroup_parent));
    let archive = sandbox.store.work("probe-for-dockerd.tar");
    let out = sandbox
        .stage_command(
            "berth-unpack",
            ["save", "-o", archive.to_str().unwrap(), "probe:latest"],
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dockerd.docker_ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    dockerd.docker_ok(&[
        "build",
        "-q",
        "-t",
        "same:docker",
        "--build-arg",
        "V=7",
        ctx_path,
    ]);

    let berth_files = sandbox.ok(["--rm", "--network", "none", "-u", "0", "same:berth", LIST]);
    let docker_files = dockerd.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "0",
        "same:docker",
        LIST,
    ]);
    let (berth_files, docker_files) = (listing(&berth_files), listing(&docker_files));
    assert!(
        berth_files.iter().any(|l| l.starts_with("/app/link ")),
        "{berth_files:#?}"
    );
    assert!(
        !berth_files.iter().any(|l| l.starts_with("/bin/ls ")),
        "{berth_files:#?}"
    );
    assert!(
        !berth_files.iter().any(|l| l.contains("ignored.log")),
        "{berth_files:#?}"
    );
    assert_eq!(berth_files, docker_files);

    let out = sandbox
        .stage_command("berth-unpack", ["inspect", "same:berth"])
        .output()
        .unwrap();
    let berth: Value = serde_json::from_slice(&out.stdout).unwrap();
    let berth = match berth {
        Value::Array(mut a) => a.remove(0),
        other => other,
    };
    let docker: Value =
        serde_json::from_str(&dockerd.docker_ok(&["image", "inspect", "same:docker"])).unwrap();
    assert_eq!(
        config_subset(&berth["Config"]),
        config_subset(&docker[0]["Config"]),
        "berth: {:#}\ndocker: {:#}",
        berth["Config"],
        docker[0]["Config"]
    );
    // The same output when they run as built.
    assert_eq!(
        sandbox.ok(["--rm", "--network", "none", "same:berth"]),
        "v7\n"
    );
    assert_eq!(
        dockerd.docker_ok(&["run", "--rm", "--network", "none", "same:docker"]),
        "v7\n"
    );

    dockerd.stop();
    sandbox.assert_nothing_left();
}
