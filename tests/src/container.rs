//! Running containers in tests: a [`Sandbox`] is a throw-away store plus a cgroup parent
//! of its own (`berth-test-<pid>-<n>-<random>`). Dropping it kills what is left in its cgroups (by
//! PID, only those), removes the cgroups and unmounts anything under its directory, even
//! when the test failed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::net::{delete_link, delete_nft_table, NetInfo, NetNames, SubnetLease};
use crate::probe::load_probe_image;
use crate::store::{describe, TestStore};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Sandbox {
    pub store: TestStore,
    pub cgroup_parent: String,
    /// Default bridge, nftables table and default subnet of this sandbox alone.
    pub net: NetNames,
    /// Subnets leased for the sandbox's own networks.
    leases: std::cell::RefCell<Vec<SubnetLease>>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let store = TestStore::new();
        // The pid alone can be a dead test's (pid_max wraps under load) whose cgroups its
        // guard could not remove: the store's random suffix keeps the parent this test's.
        let nonce = store
            .base()
            .file_name()
            .map(|n| n.to_string_lossy().replace("berth-test-", ""))
            .unwrap_or_default();
        // The bridge and the table are host-wide too (outside a test's own network
        // namespace): a dead test's under a reused pid must not be this one's either.
        let short: String = nonce.to_ascii_lowercase().chars().take(4).collect();
        Sandbox {
            net: NetNames::new(&format!("{:x}x{n:x}{short}", std::process::id())),
            store,
            cgroup_parent: format!("berth-test-{}-{n}-{nonce}", std::process::id()),
            leases: Default::default(),
        }
    }

    /// A sandbox with the busybox + probe image loaded as `probe:latest`.
    pub fn with_probe() -> Sandbox {
        let sandbox = Sandbox::new();
        load_probe_image(&sandbox.store, "probe:latest");
        sandbox
    }

    /// `berth-run --root … --run-dir … --cgroup-parent … ARGS`.
    pub fn run_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(crate::berth_bin("berth-run"));
        cmd.arg("--root")
            .arg(self.store.root())
            .arg("--run-dir")
            .arg(self.store.run_dir())
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .envs(self.net.env())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// `BIN --root … --run-dir … ARGS` (a pipeline stage; berth-cgroup also gets the
    /// sandbox's `--cgroup-parent`) fed `input`.
    pub fn stage_output(&self, bin: &str, args: &[&str], input: &[u8]) -> Output {
        crate::store::output_with_input(self.stage_command(bin, args), input)
    }

    /// [`Sandbox::stage_output`], asserting success; returns stdout (the record).
    pub fn stage(&self, bin: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
        let out = self.stage_output(bin, args, input);
        assert!(out.status.success(), "{bin} {args:?}: {}", describe(&out));
        out.stdout
    }

    /// `berth-net --root … --run-dir … ARGS` with the sandbox's network names.
    pub fn net_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.stage_command("berth-net", args)
    }

    /// A stage (`berth-mount`, `berth-net`, `berth-cgroup`, …) with the sandbox's root, run
    /// dir, network names and (for berth-cgroup) cgroup parent, then ARGS.
    pub fn stage_command<I, S>(&self, bin: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(crate::berth_bin(bin));
        cmd.arg("--root")
            .arg(self.store.root())
            .arg("--run-dir")
            .arg(self.store.run_dir())
            .envs(self.net.env());
        if bin == "berth-cgroup" {
            cmd.arg("--cgroup-parent").arg(&self.cgroup_parent);
        }
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs berth-net and expects success; returns stdout.
    pub fn net_ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = self.net_command(args).output().expect("spawn berth-net");
        assert!(out.status.success(), "berth-net failed: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A user-defined network on a leased subnet (held as long as the sandbox).
    pub fn create_network(&self, name: &str, extra: &[&str]) -> NetInfo {
        let lease = SubnetLease::take();
        let info = NetInfo {
            subnet: lease.subnet.clone(),
            gateway: lease.gateway.clone(),
            index: lease.index,
        };
        let subnet = lease.subnet.clone();
        self.leases.borrow_mut().push(lease);
        let mut args = vec!["create", "--subnet", &subnet];
        args.extend(extra);
        args.push(name);
        self.net_ok(&args);
        info
    }

    /// Bridges of the sandbox's networks (from their definitions), and the default one.
    pub fn bridges(&self) -> Vec<String> {
        let mut out = vec![self.net.bridge.clone()];
        for entry in std::fs::read_dir(self.store.root().join("networks"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let def = std::fs::read(entry.path().join("network.json")).unwrap_or_default();
            if let Ok(def) = serde_json::from_slice::<Value>(&def) {
                if let Some(bridge) = def["bridge"].as_str() {
                    if !out.iter().any(|b| b == bridge) {
                        out.push(bridge.to_string());
                    }
                }
            }
        }
        out
    }

    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.run_command(args).output().expect("spawn berth-run")
    }

    /// Runs and expects exit 0; returns stdout as text.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let out = self.run(args);
        assert!(out.status.success(), "berth-run failed: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Where the monitor of detached container `id` serves `attach`.
    pub fn attach_socket(&self, id: &str) -> PathBuf {
        self.store
            .run_dir()
            .join("containers")
            .join(id)
            .join("attach.sock")
    }

    /// `berth-run --rm --network NETWORK probe:latest sh -c SCRIPT`; its stdout.
    pub fn sh_on(&self, network: &str, script: &str) -> String {
        self.ok([
            "--rm",
            "--network",
            network,
            "probe:latest",
            "sh",
            "-c",
            script,
        ])
    }

    /// `berth-run -d ARGS`; returns the container id it prints.
    pub fn detach(&self, args: &[&str]) -> String {
        let mut all = vec!["-d"];
        all.extend(args);
        let id = self.ok(&all).trim().to_string();
        assert_eq!(id.len(), 64, "-d prints the container id: {id:?}");
        id
    }

    /// `berth-run --rm probe:latest probe ARGS…` and its one JSON line.
    pub fn probe(&self, flags: &[&str], probe_args: &[&str]) -> Value {
        let mut args: Vec<&str> = vec!["--rm"];
        args.extend(flags);
        args.push("probe:latest");
        args.push("probe");
        args.extend(probe_args);
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "probe {probe_args:?} failed: {}",
            describe(&out)
        );
        crate::probe::parse_json_line(&out.stdout)
    }

    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
            return dirs;
        };
        for hierarchy in hierarchies.flatten() {
            let parent = hierarchy.path().join(&self.cgroup_parent);
            if parent.is_dir() {
                dirs.push(parent);
            }
        }
        // Pure v2 hosts put the parent directly under /sys/fs/cgroup.
        let v2 = Path::new("/sys/fs/cgroup").join(&self.cgroup_parent);
        if v2.is_dir() && !dirs.contains(&v2) {
            dirs.push(v2);
        }
        dirs
    }

    /// Container cgroup directories that still exist under this sandbox's parent.
    pub fn leftover_cgroups(&self) -> Vec<PathBuf> {
        self.cgroup_dirs()
            .iter()
            .flat_map(|p| std::fs::read_dir(p).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect()
    }

    /// The state berth-run keeps for container `id` (`run.json`: status, pid, monitor pid,
    /// the record).
    pub fn run_state(&self, id: &str) -> serde_json::Value {
        let path = self
            .store
            .root()
            .join("containers")
            .join(id)
            .join("run.json");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice(&bytes).unwrap()
    }

    /// `berth-run ARGS` (as [`Sandbox::run_command`]) run by `unshare UNSHARE sh -c
    /// 'SETUP && exec "$@"'`: in new namespaces, prepared by a shell line first.
    pub fn run_in_namespaces(&self, unshare: &[&str], setup: &str, args: &[&str]) -> Output {
        let berth = self.run_command(args);
        Command::new("unshare")
            .args(unshare)
            .args(["sh", "-c"])
            .arg(format!("{setup} && exec \"$@\""))
            .arg("sh")
            .arg(berth.get_program())
            .args(berth.get_args())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("spawn unshare")
    }

    /// Fails the test if a mount, a cgroup or a container's state directory is left.
    pub fn assert_nothing_left(&self) {
        assert!(
            self.leftover_mounts().is_empty(),
            "mounts left: {:?}",
            self.leftover_mounts()
        );
        assert!(
            self.leftover_cgroups().is_empty(),
            "cgroups left: {:?}",
            self.leftover_cgroups()
        );
        let left: Vec<PathBuf> = std::fs::read_dir(self.store.root().join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        assert!(left.is_empty(), "container state left: {left:?}");
    }

    /// Mount points under the sandbox directory (the shared mount of the network namespace
    /// directory, which stays like /run/netns, aside).
    pub fn leftover_mounts(&self) -> Vec<String> {
        let netns_dir = self.store.run_dir().join("netns");
        mounts_under(self.store.base())
            .into_iter()
            .filter(|m| std::path::Path::new(m) != netns_dir)
            .collect()
    }
}

fn mounts_under(base: &Path) -> Vec<String> {
    let base = base.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&base))
        .collect()
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for dir in self.leftover_cgroups() {
            for pid in std::fs::read_to_string(dir.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
            {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    // SAFETY: kill has no memory effects; the pid is in our own test cgroup.
                    unsafe { libc_kill(pid, 9) };
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        for parent in self.cgroup_dirs() {
            for child in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                if child.path().is_dir() {
                    let _ = std::fs::remove_dir(child.path());
                }
            }
            let _ = std::fs::remove_dir(&parent);
        }
        // Networks: berth's own teardown first, then whatever it could not remove.
        let _ = self.net_command(["reset"]).output();
        for bridge in self.bridges() {
            delete_link(&bridge);
        }
        delete_nft_table(&self.net.table);
        let mut mounts = mounts_under(self.store.base());
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mount in mounts {
            let _ = Command::new("umount").arg("-l").arg(&mount).status();
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
