//! Shared by the `cgroup_*` tests (included with `#[path]`): runs the built `berth-cgroup`
//! against this host's real cgroup tree. Every test uses its own parent
//! `berth-test-<pid>-<name>` (pids cap 500) and a guard (`Host`) that, even when the test
//! fails, kills the processes the test started (its `Child`ren, and whatever sits in its own
//! test cgroups, which only its children can have put there) and removes every cgroup under
//! that parent.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Every hierarchy the binary may use on v1/hybrid, plus the v2 root ("").
const HIERARCHIES: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices", "unified", "",
];

/// Path of the built `berth-cgroup`.
pub fn bin() -> PathBuf {
    berth_tests::berth_bin("berth-cgroup")
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub fn minimal_record() -> Value {
    serde_json::json!({"version": 1, "root": "/tmp/berth-test-root",
        "image": {"id": "sha256:a", "manifest": "sha256:b", "config": {}, "layers": []}})
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

/// One test's parent cgroup, its children and its cleanup.
pub struct Host {
    pub parent: String,
    pub children: Vec<Child>,
}

impl Host {
    pub fn new(name: &str) -> Host {
        Host {
            parent: format!("berth-test-{}-{name}", std::process::id()),
            children: Vec::new(),
        }
    }

    pub fn run(&self, args: &[&str], stdin: Option<&Value>) -> Output {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env("BERTH_CGROUP_PARENT", &self.parent)
            .env("BERTH_CGROUP_PARENT_PIDS_MAX", "500")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn berth-cgroup");
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(value) = stdin {
                input.write_all(value.to_string().as_bytes()).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Creates a container's cgroups; returns the extended record.
    pub fn create(&self, flags: &[&str]) -> Value {
        let out = self.run(flags, Some(&minimal_record()));
        assert_eq!(out.code, 0, "create failed: {}{}", out.stdout, out.stderr);
        out.json()
    }

    /// Starts `sh -c script` held at a `read` until `release`, so it can be placed first.
    pub fn spawn_gated(&mut self, script: &str) -> usize {
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("read go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    pub fn release(&mut self, index: usize) {
        let stdin = self.children[index].stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }

    pub fn pid(&self, index: usize) -> u32 {
        self.children[index].id()
    }

    pub fn place(&self, record: &Value, pid: u32) {
        let out = self.run(&["place", "--pid", &pid.to_string()], Some(record));
        assert_eq!(out.code, 0, "place failed: {}{}", out.stdout, out.stderr);
        assert_eq!(out.json(), *record, "place passes the record on");
    }

    /// Waits (bounded) for a child to end; its exit signal, if it was killed.
    pub fn wait_signal(&mut self, index: usize, timeout: Duration) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        let start = Instant::now();
        loop {
            if let Some(status) = self.children[index].try_wait().unwrap() {
                return status.signal();
            }
            assert!(
                start.elapsed() < timeout,
                "child {index} still runs after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn parent_dirs(&self) -> Vec<PathBuf> {
        HIERARCHIES
            .iter()
            .map(|h| Path::new(CGROUP_ROOT).join(h).join(&self.parent))
            .filter(|d| d.is_dir())
            .collect()
    }

    pub fn leftovers(&self) -> Vec<PathBuf> {
        self.parent_dirs()
            .into_iter()
            .flat_map(|d| std::fs::read_dir(d).unwrap())
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for child in &mut self.children {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Descendants of our children left in our own test cgroups: thaw, then kill.
        for dir in self.leftovers() {
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        let mut dirs = self.leftovers();
        dirs.extend(self.parent_dirs());
        for dir in dirs {
            let start = Instant::now();
            while std::fs::remove_dir(&dir).is_err() && dir.exists() {
                if start.elapsed() > Duration::from_secs(5) {
                    eprintln!("cannot remove {}", dir.display());
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

pub fn path_of(record: &Value, key: &str) -> PathBuf {
    PathBuf::from(
        record["cgroup"]["paths"][key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} path in {record}")),
    )
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

pub fn mode_of(record: &Value) -> &str {
    record["cgroup"]["mode"].as_str().unwrap()
}

#[macro_export]
macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}
