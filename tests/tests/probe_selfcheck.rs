//! The probe itself, run on the host (no container): it is static, its JSON parses, and what
//! it reports matches what this test process knows about itself. So that a surprising report
//! from inside a container is the container's doing, not the probe's.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use berth_tests::probe::{
    caps, errno, load_probe_image, parse_json_line, parse_json_lines, parse_output, parse_syscalls,
    probe_binary, probe_bytes, probe_image_spec, run_on_host, OpenResult, Status, PROBE_PATH,
};
use berth_tests::TestStore;

/// A field of this process's own /proc/self/status.
fn my_status(key: &str) -> String {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap();
    line.split_once(':').unwrap().1.trim().to_string()
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

#[test]
fn probe_is_a_static_executable() {
    let bytes = probe_bytes();
    assert_eq!(&bytes[..5], b"\x7fELF\x02", "not a 64-bit ELF");
    assert_eq!(
        u16_at(bytes, 16),
        2,
        "ELF type is not ET_EXEC (non-PIE static)"
    );
    // Program headers: no PT_INTERP (3, a dynamic loader) and no PT_DYNAMIC (2).
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(bytes, 54) as usize, u16_at(bytes, 56) as usize);
    for i in 0..phnum {
        let p_type = u32_at(bytes, phoff + i * phentsize);
        assert!(
            p_type != 3 && p_type != 2,
            "program header {i} has type {p_type}"
        );
    }
    let needle = b"/lib64/ld-linux-x86-64.so.2";
    assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    let mode = std::fs::metadata(probe_binary())
        .unwrap()
        .permissions()
        .mode();
    assert!(mode & 0o111 != 0, "probe is not executable: {mode:o}");
    if let Ok(out) = Command::new("file").arg(probe_binary()).output() {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("statically linked"), "file says: {text}");
    }
}

#[test]
fn status_matches_this_process() {
    let out = run_on_host(&["status"]);
    assert!(out.status.success());
    let st = Status::parse(&out.stdout);
    assert_eq!(st.uid, rustix::process::getuid().as_raw());
    assert_eq!(st.euid, rustix::process::geteuid().as_raw());
    assert_eq!(st.gid, rustix::process::getgid().as_raw());
    assert_eq!(st.egid, rustix::process::getegid().as_raw());
    assert_eq!(st.ppid as u32, std::process::id());
    assert!(st.pid > 0 && st.pid as u32 != std::process::id());
    // Not run under a filter here (the probe inherits this process's state).
    assert_eq!(st.seccomp, Some(my_status("Seccomp").parse().unwrap()));
    assert_eq!(
        st.seccomp,
        Some(0),
        "the test runner itself is under seccomp?"
    );
    assert_eq!(
        st.no_new_privs,
        Some(my_status("NoNewPrivs").parse().unwrap())
    );
    let hex = |k: &str| Some(u64::from_str_radix(&my_status(k), 16).unwrap());
    assert_eq!(st.cap_bnd, hex("CapBnd"));
    assert_eq!(
        st.cap_eff,
        hex("CapEff"),
        "eff: {:?}",
        caps::names(st.cap_eff.unwrap())
    );
    assert_eq!(st.cap_inh, hex("CapInh"));
    if st.uid == 0 {
        assert!(st.has_cap(caps::SYS_ADMIN));
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(st.hostname, hostname.trim());
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(st.cwd.as_deref(), Some(cwd.to_str().unwrap()));
    // 0-2 open; every listed fd still existed when read back (so the listing fd is not
    // among them); stdin is /dev/null as Command gives it.
    for fd in [0, 1, 2] {
        assert!(st.fds.contains(&fd), "fds: {:?}", st.fds);
    }
    for fd in &st.fds {
        assert!(
            st.fd_links.contains_key(fd),
            "fd {fd} has no link: {:?}",
            st.fd_links
        );
    }
    let root = st
        .mount("/")
        .unwrap_or_else(|| panic!("no / in {:?}", st.mounts));
    assert!(
        !root.fstype.is_empty() && !root.options.is_empty(),
        "{root:?}"
    );
    assert!(st.mount("/proc").is_some_and(|m| m.fstype == "proc"));
    for ns in ["mnt", "pid", "net", "user", "uts", "ipc"] {
        let mine = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_eq!(
            st.namespaces.get(ns).map(String::as_str),
            mine.to_str(),
            "{ns}"
        );
    }
    assert!(!st.cgroup.is_empty());
    assert!(st.rlimit_nofile.is_some_and(|(soft, _)| soft > 2));
    assert!(st.umask.is_some());
}

#[test]
fn syscalls_report_unconfined_results() {
    let out = run_on_host(&["syscalls"]);
    assert!(out.status.success());
    let calls = parse_syscalls(&out.stdout);
    assert_eq!(calls.len(), 28, "{calls:?}");
    let st = Status::parse(&run_on_host(&["status"]).stdout);
    for (name, r) in &calls {
        // Only int 0x80 may fault (SIGSEGV on kernels without IA32 emulation).
        assert!(
            r.signal.is_none() || (name.starts_with("i386_") && r.signal == Some(11)),
            "{name} killed: {r:?}"
        );
    }
    let call = |name: &str| calls[name];
    assert!(call("getppid").succeeded() && call("getppid").ret > 0);
    assert!(call("personality_query").succeeded());
    assert!(call("socket_inet").succeeded());
    assert!(
        call("mount").failed_with(errno::ENOENT),
        "{:?}",
        call("mount")
    );
    assert!(call("umount2").failed_with(errno::ENOENT));
    assert!(call("setns").failed_with(errno::EBADF));
    assert!(call("ptrace").failed_with(errno::ESRCH));
    let clone3 = call("clone3");
    assert!(clone3.failed_with(errno::EINVAL) || clone3.failed_with(errno::ENOSYS));
    let by_cap = |cap: u32| {
        if st.has_cap(cap) {
            errno::EINVAL
        } else {
            errno::EPERM
        }
    };
    assert!(
        call("reboot").failed_with(by_cap(caps::SYS_BOOT)),
        "{:?}",
        call("reboot")
    );
    let propagation = call("mount_propagation");
    assert!(
        propagation.failed_with(by_cap(caps::SYS_ADMIN)),
        "{propagation:?}"
    );
    // Unfiltered, the i386 calls reach the kernel (where it has IA32 emulation).
    if call("i386_getpid").signal.is_none() {
        assert!(call("i386_getpid").ret > 0);
        assert!(
            call("i386_mount").failed_with(errno::EFAULT),
            "{:?}",
            call("i386_mount")
        );
        assert!(
            !call("i386_keyctl").failed_with(errno::EPERM),
            "{:?}",
            call("i386_keyctl")
        );
    }
    // x32 answers only on kernels built with it; unfiltered, never EPERM.
    let x32 = call("x32_getpid");
    assert!(x32.succeeded() || x32.failed_with(errno::ENOSYS), "{x32:?}");
}

#[test]
fn open_write_and_read_report_errno() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "hello\n").unwrap();
    let r = OpenResult::parse(&run_on_host(&["open-write", file.to_str().unwrap()]).stdout);
    assert_eq!(r, OpenResult { ok: true, errno: 0 });
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "hello\n",
        "open-write wrote"
    );
    let missing = dir.path().join("missing");
    let r = OpenResult::parse(&run_on_host(&["open-write", missing.to_str().unwrap()]).stdout);
    assert_eq!(
        r,
        OpenResult {
            ok: false,
            errno: errno::ENOENT
        }
    );
    assert!(!missing.exists(), "open-write created the file");
    let v = parse_output(&run_on_host(&["read", file.to_str().unwrap()]));
    assert_eq!(
        (v["ok"].as_bool(), v["text"].as_str()),
        (Some(true), Some("hello\n"))
    );
}

#[test]
fn resource_subcommands_report() {
    let v = parse_output(&run_on_host(&["fork-bomb", "4"]));
    assert_eq!(
        (v["forked"].as_i64(), v["errno"].as_i64()),
        (Some(4), Some(0)),
        "{v}"
    );
    let out = run_on_host(&["alloc", "20"]);
    let v = parse_output(&out);
    assert_eq!(v["allocated_mb"].as_i64(), Some(20), "{v}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("16 MB"));
    let v = parse_output(&run_on_host(&["spin", "0.2", "2"]));
    assert!(v["wall_ms"].as_f64().unwrap() >= 200.0, "{v}");
    assert!(v["cpu_ms"].as_f64().unwrap() > 0.0, "{v}");
    let v = parse_output(&run_on_host(&["getppid-loop", "1000"]));
    assert_eq!(v["ppid"].as_i64(), Some(std::process::id() as i64));
    assert!(v["ns_per_call"].as_f64().unwrap() > 0.0);
    let v = parse_output(&run_on_host(&["sleep", "0.05"]));
    assert_eq!(v["slept_ms"].as_f64(), Some(50.0));
    let out = run_on_host(&["no-such-subcommand"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn signals_are_reported_and_sigterm_exits_143() {
    use rustix::process::{kill_process, Pid, Signal};
    let mut child = Command::new(probe_binary())
        .arg("signals")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || parse_json_line(lines.next().unwrap().unwrap().as_bytes());
    let ready = next();
    assert_eq!(ready["ready"].as_bool(), Some(true));
    assert_eq!(ready["pid"].as_u64(), Some(child.id() as u64));
    let pid = Pid::from_raw(child.id() as i32).unwrap();
    for (sig, name) in [(Signal::USR1, "SIGUSR1"), (Signal::INT, "SIGINT")] {
        kill_process(pid, sig).unwrap();
        assert_eq!(next()["signal"].as_str(), Some(name));
    }
    kill_process(pid, Signal::TERM).unwrap();
    assert_eq!(next()["signal"].as_str(), Some("SIGTERM"));
    assert_eq!(child.wait().unwrap().code(), Some(143));
}

#[test]
fn probe_image_carries_the_probe_and_loads() {
    let image = probe_image_spec().build();
    assert_eq!(image.layers.len(), 2);
    let mut archive = tar::Archive::new(image.layers[1].tar.as_slice());
    let mut found = false;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(PROBE_PATH.trim_start_matches('/')) {
            assert_eq!(entry.header().mode().unwrap(), 0o755);
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            assert!(bytes == probe_bytes(), "probe bytes differ");
            found = true;
        }
    }
    assert!(found, "no {PROBE_PATH} in the probe layer");

    // Through berth-unpack: the unpacked top layer holds a probe that runs.
    let store = TestStore::new();
    let record = load_probe_image(&store, "probe/selfcheck:1");
    assert_eq!(
        record["image"]["config"]["Cmd"][0].as_str(),
        Some(PROBE_PATH)
    );
    let layers = store.record_layers(&record);
    let probe = layers
        .last()
        .unwrap()
        .join(PROBE_PATH.trim_start_matches('/'));
    let out = Command::new(&probe).arg("status").output().unwrap();
    let lines = parse_json_lines(&out.stdout);
    assert_eq!(lines.len(), 1);
    assert!(lines[0]["pid"].as_i64().is_some());
}
