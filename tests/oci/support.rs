//! The OCI tests' support: a bundle with a busybox rootfs (from the test image builders),
//! the two runtimes side by side (runc and berth-oci, each with a --root of its own), and
//! a guard that removes what either left: containers, cgroups (only under this test's own
//! parent), the temporary directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Runtime {
    pub name: &'static str,
    pub bin: PathBuf,
    pub root: PathBuf,
}

impl Runtime {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs with a deadline (a hung runtime fails the test instead of stalling it). The
    /// output goes through files: a created container's init holds the stdio it was given
    /// open after `create` returns, so pipes would never reach EOF.
    pub fn output(&self, args: &[&str]) -> Output {
        run_with_deadline(self.command(args), Duration::from_secs(30))
    }

    pub fn state(&self, id: &str) -> Option<Value> {
        let out = self.output(&["state", id]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).expect("state is JSON"))
    }
}

pub fn run_with_deadline(mut cmd: Command, limit: Duration) -> Output {
    let out = tempfile::tempfile().expect("stdout file");
    let err = tempfile::tempfile().expect("stderr file");
    cmd.stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap());
    let mut child = cmd.spawn().expect("spawn the runtime");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish in {limit:?}: stderr {}",
                read_all(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: read_all(&out).into_bytes(),
        stderr: read_all(&err).into_bytes(),
    }
}

fn read_all(mut file: &std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut text = String::new();
    file.seek(std::io::SeekFrom::Start(0)).unwrap();
    file.read_to_string(&mut text).unwrap();
    text
}

/// One test's world: a temporary directory, both runtimes, a cgroup parent of its own.
pub struct World {
    pub dir: tempfile::TempDir,
    pub runtimes: Vec<Runtime>,
    pub cgroup_parent: String,
}

pub fn runc() -> PathBuf {
    berth_tests::tools::require_tool("runc")
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("berth-oci-test-")
            .tempdir()
            .expect("tempdir");
        let nonce = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace("berth-oci-test-", "");
        let runtimes = vec![
            Runtime {
                name: "runc",
                bin: runc(),
                root: dir.path().join("root-runc"),
            },
            Runtime {
                name: "berth-oci",
                bin: berth_tests::berth_bin("berth-oci"),
                root: dir.path().join("root-berth"),
            },
        ];
        World {
            cgroup_parent: format!("berth-oci-test-{}-{nonce}", std::process::id()),
            dir,
            runtimes,
        }
    }

    pub fn berth(&self) -> &Runtime {
        &self.runtimes[1]
    }

    /// A bundle named `name`: busybox rootfs, runc's default spec (from `berth-oci spec`)
    /// without a terminal, running `script` with sh, in this world's cgroup parent.
    pub fn bundle(&self, name: &str, script: &str) -> PathBuf {
        let bundle = self.dir.path().join("bundles").join(name);
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        let tar = berth_tests::image::tar_bytes(&berth_tests::image::busybox_entries());
        tar::Archive::new(&tar[..]).unpack(&rootfs).unwrap();
        // Mount points made here: a root in a user namespace could not make them.
        for dir in ["proc", "sys", "dev"] {
            std::fs::create_dir_all(rootfs.join(dir)).unwrap();
        }
        let spec = self
            .berth()
            .output(&["spec", "--bundle", bundle.to_str().unwrap()]);
        assert!(spec.status.success(), "berth-oci spec: {spec:?}");
        let mut config = self.config(&bundle);
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(["/bin/busybox", "sh", "-c", script]);
        config["linux"]["cgroupsPath"] = format!("/{}/{name}", self.cgroup_parent).into();
        self.write_config(&bundle, &config);
        bundle
    }

    pub fn config(&self, bundle: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap()
    }

    pub fn write_config(&self, bundle: &Path, config: &Value) {
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(config).unwrap(),
        )
        .unwrap();
    }

    /// The cgroup directories under this world's parent, in every hierarchy.
    pub fn leftover_cgroups(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let parent = hierarchy.path().join(&self.cgroup_parent);
            for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                if entry.path().is_dir() {
                    found.push(entry.path());
                }
            }
        }
        found
    }

    /// Mount points under this world's directory (none may stay on the host).
    pub fn leftover_mounts(&self) -> Vec<String> {
        let base = self.dir.path().display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&base)))
            .map(String::from)
            .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for rt in &self.runtimes {
            for entry in std::fs::read_dir(&rt.root).into_iter().flatten().flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                let _ = rt.output(&["delete", "--force", &id]);
            }
        }
        // Whatever still runs under our parent (by pid, only there), then the directories.
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let parent = hierarchy.path().join(&self.cgroup_parent);
            if !parent.is_dir() {
                continue;
            }
            let children = std::fs::read_dir(&parent).into_iter().flatten().flatten();
            for entry in children.filter(|e| e.path().is_dir()) {
                let procs =
                    std::fs::read_to_string(entry.path().join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                    // Only processes in this test's own cgroup.
                    kill_pid(pid);
                }
                let _ = remove_dir_retrying(&entry.path());
            }
            let _ = remove_dir_retrying(&parent);
        }
    }
}

fn kill_pid(pid: i32) {
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).expect("pid > 0"),
        rustix::process::Signal::KILL,
    );
}

fn remove_dir_retrying(dir: &Path) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Sets `value` at a dotted path (`process.user.uid`), making objects on the way.
pub fn set_path(config: &mut Value, path: &str, value: Value) {
    let mut at = config;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        if at.get(part).is_none() {
            at[part] = serde_json::json!({});
        }
        at = at.get_mut(part).unwrap();
    }
    at[parts[parts.len() - 1]] = value;
}
