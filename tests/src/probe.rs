//! The probe: a static binary (`tests/probe/main.rs`, built by `tests/build.rs` into
//! `OUT_DIR`) that tests put into an image at [`PROBE_PATH`] and run inside a container to
//! report what the container sees, one JSON line per report:
//!
//! | subcommand | prints |
//! |---|---|
//! | `status` | ids, groups, capability sets, seccomp, no_new_privs, pid/ppid, hostname, cwd, fds, mounts, namespaces, cgroup, rlimits ([`Status`]) |
//! | `syscalls` | `{name: {"ret","errno","err"} or {"signal"}}` for harmless calls ([`parse_syscalls`]) |
//! | `open-write FILE` | `{"ok","errno","err"}`: opened O_WRONLY, never written ([`OpenResult`]) |
//! | `read FILE` | `{"ok","errno","err","len","text"}`, up to 4 KiB |
//! | `fork-bomb N` | `{"requested","forked","errno","err"}`: up to N children, killed and reaped |
//! | `alloc MB` | `{"requested_mb","allocated_mb","errno","err"}`, progress on stderr |
//! | `spin SECONDS [THREADS]` | `{"threads","wall_ms","user_ms","sys_ms","cpu_ms"}` |
//! | `getppid-loop N` | `{"calls","ppid","total_ns","ns_per_call"}` |
//! | `sleep SECONDS` | `{"slept_ms"}` after sleeping |
//! | `signals` | `{"ready":true,"pid"}`, then `{"signal":"SIGUSR1"}`… per signal; exits 143 on SIGTERM |
//! | `exe-attack SCRIPT CATCHES SECONDS` | as pid 1 only: writes SCRIPT `#!/proc/self/exe`, `{"ready":true,"pid":1}`, then per process exec'd into the container one [`ExeCatch`] (its /proc/PID/exe opened O_PATH and reopened for writing, never written unless a memfd) or `{"missed":PID}` (gone before its exe opened), then `{"done":true,"catches","denied"}` (CVE-2019-5736) |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use crate::formats::{write_images, BuiltImage, Format, ImageSpec};
use crate::image::{busybox_entries, Entry, Layer};
use crate::store::{describe, TestStore};

/// Where the probe sits inside probe images.
pub const PROBE_PATH: &str = "/usr/local/bin/probe";

/// The probe built for these tests (static, no interpreter, no shared libraries).
pub fn probe_binary() -> PathBuf {
    PathBuf::from(concat!(env!("OUT_DIR"), "/berth-probe"))
}

/// The probe's bytes, read once.
pub fn probe_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        std::fs::read(probe_binary()).expect("the probe is built by tests/build.rs")
    })
}

/// Tar entries that add the probe at `usr/local/bin/probe` (0755) with its parents.
pub fn probe_entries() -> Vec<Entry> {
    vec![
        Entry::dir("usr"),
        Entry::dir("usr/local"),
        Entry::dir("usr/local/bin"),
        Entry::exe("usr/local/bin/probe", probe_bytes()),
    ]
}

/// A layer holding only the probe (to stack on any base).
pub fn probe_layer() -> Layer {
    Layer::new(probe_entries())
}

/// busybox (the usual base layer, shared with other test images) plus a probe layer;
/// `Cmd` is `probe status`.
pub fn probe_image_spec() -> ImageSpec {
    ImageSpec::new(vec![Layer::new(busybox_entries()), probe_layer()]).cmd(&[PROBE_PATH, "status"])
}

/// Writes the probe image named `name` as an OCI archive at `path`.
pub fn write_probe_image(path: &Path, name: &str) -> BuiltImage {
    let image = probe_image_spec().name(name).build();
    write_images(Format::OciArchive, std::slice::from_ref(&image), path);
    image
}

/// Loads the probe image named `name` into `store` (via `berth-unpack load`) and returns
/// the container record.
pub fn load_probe_image(store: &TestStore, name: &str) -> Value {
    let file = format!("probe-{}.tar", name.replace(['/', ':'], "_"));
    let path = store.work(&file);
    write_probe_image(&path, name);
    store.load(&path)
}

/// Runs the probe on the host (no container), for self-checks.
pub fn run_on_host(args: &[&str]) -> Output {
    Command::new(probe_binary())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", probe_binary().display()))
}

/// Every non-empty line of `stdout`, as JSON.
pub fn parse_json_lines(stdout: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("probe line is not JSON ({e}): {l:?}\nall: {text}"))
        })
        .collect()
}

/// Exactly one JSON line of `stdout`.
pub fn parse_json_line(stdout: &[u8]) -> Value {
    let mut lines = parse_json_lines(stdout);
    assert_eq!(
        lines.len(),
        1,
        "expected one JSON line from the probe, got: {}",
        String::from_utf8_lossy(stdout)
    );
    lines.remove(0)
}

/// Exactly one JSON line of a successful run's stdout.
pub fn parse_output(out: &Output) -> Value {
    assert!(out.status.success(), "probe failed:\n{}", describe(out));
    parse_json_line(&out.stdout)
}

/// One mount of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub mountpoint: String,
    pub fstype: String,
    /// Per-mount options (`ro`, `nosuid`, `nodev`, `noexec`, `relatime`...).
    pub options: Vec<String>,
    pub source: String,
    /// Superblock options (`size=…`, `mode=…`).
    pub super_options: Vec<String>,
}

impl Mount {
    pub fn has_option(&self, option: &str) -> bool {
        self.options.iter().any(|o| o == option)
    }
    pub fn is_readonly(&self) -> bool {
        self.has_option("ro")
    }
}

/// What `probe status` reports. Fields read from `/proc` are `None` without `/proc`.
#[derive(Clone, Debug)]
pub struct Status {
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub groups: Vec<u32>,
    pub cap_eff: Option<u64>,
    pub cap_prm: Option<u64>,
    pub cap_bnd: Option<u64>,
    pub cap_inh: Option<u64>,
    pub cap_amb: Option<u64>,
    /// 0 none, 1 strict, 2 filter.
    pub seccomp: Option<u32>,
    pub no_new_privs: Option<u32>,
    /// Octal, as `/proc/self/status` shows it (`0022`).
    pub umask: Option<String>,
    pub pid: i32,
    pub ppid: i32,
    pub hostname: String,
    pub cwd: Option<String>,
    /// Open fds (the one the probe used to list them left out).
    pub fds: Vec<i32>,
    /// fd → `readlink /proc/self/fd/N`.
    pub fd_links: BTreeMap<i32, String>,
    pub mounts: Vec<Mount>,
    /// `cgroup`, `ipc`, `mnt`, `net`, `pid`, `time`, `user`, `uts` → `net:[4026531833]`.
    pub namespaces: BTreeMap<String, String>,
    /// Lines of `/proc/self/cgroup`.
    pub cgroup: Vec<String>,
    pub oom_score_adj: Option<i64>,
    /// (soft, hard), -1 for unlimited.
    pub rlimit_nofile: Option<(i64, i64)>,
    pub rlimit_nproc: Option<(i64, i64)>,
    /// The JSON as printed.
    pub raw: Value,
}

fn strings(v: &Value) -> Vec<String> {
    let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
    items
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn options(v: &Value) -> Vec<String> {
    v.as_str()
        .unwrap_or("")
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect()
}

fn pair(v: &Value) -> Option<(i64, i64)> {
    Some((v.get(0)?.as_i64()?, v.get(1)?.as_i64()?))
}

impl Status {
    /// Parses `probe status` output (one JSON line).
    pub fn parse(stdout: &[u8]) -> Status {
        Status::from_value(parse_json_line(stdout))
    }

    pub fn from_value(v: Value) -> Status {
        let int = |k: &str| {
            v[k].as_i64()
                .unwrap_or_else(|| panic!("probe status: {k} is not an integer: {v}"))
        };
        let hex = |k: &str| v[k].as_str().and_then(|h| u64::from_str_radix(h, 16).ok());
        let small = |k: &str| v[k].as_u64().map(|n| n as u32);
        let mounts = v["mounts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mounts = mounts
            .iter()
            .map(|m| {
                let field = |i: usize| m[i].as_str().unwrap_or("").to_string();
                Mount {
                    mountpoint: field(0),
                    fstype: field(1),
                    options: options(&m[2]),
                    source: field(3),
                    super_options: options(&m[4]),
                }
            })
            .collect();
        let map = |k: &str| v[k].as_object().cloned().unwrap_or_default().into_iter();
        Status {
            uid: int("uid") as u32,
            gid: int("gid") as u32,
            euid: int("euid") as u32,
            egid: int("egid") as u32,
            groups: v["groups"].as_array().map_or(Vec::new(), |g| {
                g.iter()
                    .filter_map(|n| n.as_u64())
                    .map(|n| n as u32)
                    .collect()
            }),
            cap_eff: hex("cap_eff"),
            cap_prm: hex("cap_prm"),
            cap_bnd: hex("cap_bnd"),
            cap_inh: hex("cap_inh"),
            cap_amb: hex("cap_amb"),
            seccomp: small("seccomp"),
            no_new_privs: small("no_new_privs"),
            umask: v["umask"].as_str().map(str::to_string),
            pid: int("pid") as i32,
            ppid: int("ppid") as i32,
            hostname: v["hostname"].as_str().unwrap_or("").to_string(),
            cwd: v["cwd"].as_str().map(str::to_string),
            fds: v["fds"].as_array().map_or(Vec::new(), |f| {
                f.iter()
                    .filter_map(|n| n.as_i64())
                    .map(|n| n as i32)
                    .collect()
            }),
            fd_links: map("fd_links")
                .filter_map(|(k, t)| Some((k.parse().ok()?, t.as_str()?.to_string())))
                .collect(),
            mounts,
            namespaces: map("namespaces")
                .filter_map(|(k, t)| Some((k, t.as_str()?.to_string())))
                .collect(),
            cgroup: strings(&v["cgroup"]),
            oom_score_adj: v["oom_score_adj"].as_i64(),
            rlimit_nofile: pair(&v["rlimit_nofile"]),
            rlimit_nproc: pair(&v["rlimit_nproc"]),
            raw: v,
        }
    }

    /// Whether capability number `cap` (see [`caps`]) is in the effective set.
    pub fn has_cap(&self, cap: u32) -> bool {
        self.cap_eff.is_some_and(|set| set & (1 << cap) != 0)
    }

    /// The mount at `mountpoint` that is visible (the last one listed, if stacked).
    pub fn mount(&self, mountpoint: &str) -> Option<&Mount> {
        self.mounts
            .iter()
            .rev()
            .find(|m| m.mountpoint == mountpoint)
    }
}

/// The outcome of one call of `probe syscalls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallResult {
    pub ret: i64,
    /// 0 on success.
    pub errno: i32,
    /// Set when the child making the call was killed (31 = SIGSYS: seccomp kill).
    pub signal: Option<i32>,
}

impl SyscallResult {
    pub fn succeeded(&self) -> bool {
        self.signal.is_none() && self.ret >= 0
    }
    /// Failed with `errno` (not killed).
    pub fn failed_with(&self, errno: i32) -> bool {
        self.signal.is_none() && self.ret == -1 && self.errno == errno
    }
}

/// Parses `probe syscalls` output: call name → result. Names: mount, mount_propagation,
/// umount2, unshare_newns, unshare_newuser, unshare_newnet, setns, keyctl, add_key, clone3,
/// ptrace, kexec_load, init_module, bpf, perf_event_open, open_by_handle_at, reboot, syslog,
/// socket_vsock, socket_inet, personality_query, personality_set, getppid, x32_getpid,
/// and through the i386 entry point i386_getpid, i386_keyctl, i386_mount,
/// i386_personality_set.
pub fn parse_syscalls(stdout: &[u8]) -> BTreeMap<String, SyscallResult> {
    let v = parse_json_line(stdout);
    let calls = v
        .as_object()
        .unwrap_or_else(|| panic!("probe syscalls: not an object: {v}"));
    calls
        .iter()
        .map(|(name, r)| {
            let result = SyscallResult {
                ret: r["ret"].as_i64().unwrap_or(-1),
                errno: r["errno"].as_i64().unwrap_or(0) as i32,
                signal: r["signal"].as_i64().map(|s| s as i32),
            };
            assert!(
                r.get("error").is_none(),
                "probe syscalls could not run {name}: {r}"
            );
            (name.clone(), result)
        })
        .collect()
}

/// The outcome of `probe open-write FILE` (or `probe read FILE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenResult {
    pub ok: bool,
    pub errno: i32,
}

impl OpenResult {
    pub fn parse(stdout: &[u8]) -> OpenResult {
        let v = parse_json_line(stdout);
        OpenResult {
            ok: v["ok"].as_bool().unwrap_or_else(|| panic!("no ok in {v}")),
            errno: v["errno"].as_i64().unwrap_or(0) as i32,
        }
    }
}

/// One process caught by `probe exe-attack`: what its /proc/PID/exe was and whether the
/// probe could reopen it for writing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExeCatch {
    pub pid: i64,
    /// The link's text: `/memfd:berth-dmz (deleted)`, or a host path.
    pub exe: String,
    /// `st_dev` and `st_ino` of the file (as `MetadataExt::dev`/`ino` give them).
    pub dev: u64,
    pub ino: u64,
    /// Reopened O_WRONLY: for a file of the host that is the vulnerability.
    pub write_open: bool,
    /// errno of the last failed reopen (ETXTBSY while the process ran, …); 0 if none.
    pub errno: i32,
    /// For a memfd that did reopen: errno of writing its first byte back (0: written).
    pub write_errno: Option<i32>,
}

impl ExeCatch {
    /// The catches among `probe exe-attack`'s lines.
    pub fn parse_all(lines: &[Value]) -> Vec<ExeCatch> {
        lines
            .iter()
            .filter(|v| v.get("catch").is_some())
            .map(|v| ExeCatch {
                pid: v["pid"].as_i64().unwrap_or(0),
                exe: v["exe"].as_str().unwrap_or_default().to_string(),
                dev: v["dev"].as_u64().unwrap_or(0),
                ino: v["ino"].as_u64().unwrap_or(0),
                write_open: v["write_open"]
                    .as_bool()
                    .unwrap_or_else(|| panic!("no write_open in {v}")),
                errno: v["errno"].as_i64().unwrap_or(0) as i32,
                write_errno: v["write_errno"].as_i64().map(|e| e as i32),
            })
            .collect()
    }

    /// berth's sealed copy of berth-dmz, not a file of the host.
    pub fn is_dmz_memfd(&self) -> bool {
        self.exe.starts_with("/memfd:berth-dmz")
    }
}

/// Linux errno values the probe reports.
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const ENOEXEC: i32 = 8;
    pub const EBADF: i32 = 9;
    pub const EAGAIN: i32 = 11;
    pub const EACCES: i32 = 13;
    pub const ETXTBSY: i32 = 26;
    pub const EFAULT: i32 = 14;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const EROFS: i32 = 30;
    pub const ENOSYS: i32 = 38;
    pub const EAFNOSUPPORT: i32 = 97;
}

/// Capability numbers, and the set Docker grants by default.
pub mod caps {
    /// Names by number (0..=40).
    pub const NAMES: [&str; 41] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    pub const CHOWN: u32 = 0;
    pub const DAC_READ_SEARCH: u32 = 2;
    pub const KILL: u32 = 5;
    pub const NET_BIND_SERVICE: u32 = 10;
    pub const NET_ADMIN: u32 = 12;
    pub const NET_RAW: u32 = 13;
    pub const SYS_MODULE: u32 = 16;
    pub const SYS_CHROOT: u32 = 18;
    pub const SYS_PTRACE: u32 = 19;
    pub const SYS_ADMIN: u32 = 21;
    pub const SYS_BOOT: u32 = 22;
    pub const SYS_TIME: u32 = 25;
    pub const MKNOD: u32 = 27;
    pub const SYSLOG: u32 = 34;
    /// Docker's 14 default capabilities: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
    /// SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
    pub const DOCKER_DEFAULT: u64 = 0xa804_25fb;

    /// The names of the capabilities in `set`, for assertion messages.
    pub fn names(set: u64) -> Vec<&'static str> {
        (0..NAMES.len())
            .filter(|&i| set & (1 << i) != 0)
            .map(|i| NAMES[i])
            .collect()
    }
}
