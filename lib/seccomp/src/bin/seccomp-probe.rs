//! seccomp-probe: installs Docker's default filter (for Docker's 14 default capabilities) on
//! itself, then tries syscalls and prints the outcome as JSON. Used by the crate's integration
//! tests; never run it expecting the calling process to stay unfiltered (it filters itself only).
//!
//! ```text
//! seccomp-probe [--no-nnp] [--cap CAP]...   checks: {"instructions":N,"results":{name: errno}}
//! seccomp-probe --bench N                   ns per call before/after the filter
//! seccomp-probe --dump                      instruction count, nothing installed
//! ```
//! An errno of 0 means the call succeeded. Without `--no-nnp`, no_new_privs is set before the
//! filter is installed; with it, the filter is installed on the strength of CAP_SYS_ADMIN alone
//! (as Docker does), which needs root.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Result of a raw syscall: 0 on success, the errno on failure.
fn errno_of(rc: libc::c_long) -> i32 {
    if rc >= 0 {
        0
    } else {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    }
}

/// A raw syscall with up to 6 arguments.
fn sys(nr: libc::c_long, a: [libc::c_long; 6]) -> libc::c_long {
    // SAFETY: every call made through here passes integers or null pointers only (or, for
    // mount, pointers to NUL-terminated static strings), which the kernel validates itself;
    // none writes into our memory. Calls that would create resources (socket) are closed by
    // the caller.
    unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) }
}

fn close(fd: libc::c_long) {
    if fd >= 0 {
        sys(libc::SYS_close, [fd, 0, 0, 0, 0, 0]);
    }
}

fn checks() -> BTreeMap<&'static str, i32> {
    let mut r = BTreeMap::new();
    // A target that does not exist: without a filter this is ENOENT, never a real mount.
    let src = c"none".as_ptr() as libc::c_long;
    let target = c"/nonexistent-berth-seccomp-probe".as_ptr() as libc::c_long;
    let fstype = c"tmpfs".as_ptr() as libc::c_long;
    r.insert(
        "mount",
        errno_of(sys(libc::SYS_mount, [src, target, fstype, 0, 0, 0])),
    );
    r.insert(
        "umount2",
        errno_of(sys(libc::SYS_umount2, [target, 0, 0, 0, 0, 0])),
    );
    r.insert(
        "unshare(CLONE_NEWUTS)",
        errno_of(sys(
            libc::SYS_unshare,
            [libc::CLONE_NEWUTS as _, 0, 0, 0, 0, 0],
        )),
    );
    r.insert(
        "setns(-1)",
        errno_of(sys(libc::SYS_setns, [-1, 0, 0, 0, 0, 0])),
    );
    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
    r.insert(
        "keyctl",
        errno_of(sys(libc::SYS_keyctl, [0, -3, 0, 0, 0, 0])),
    );
    r.insert("bpf", errno_of(sys(libc::SYS_bpf, [0, 0, 0, 0, 0, 0])));
    r.insert(
        "clone3",
        errno_of(sys(libc::SYS_clone3, [0, 0, 0, 0, 0, 0])),
    );
    let vsock = sys(
        libc::SYS_socket,
        [libc::AF_VSOCK as _, libc::SOCK_STREAM as _, 0, 0, 0, 0],
    );
    r.insert("socket(AF_VSOCK)", errno_of(vsock));
    close(vsock);
    let alg = sys(
        libc::SYS_socket,
        [libc::AF_ALG as _, libc::SOCK_SEQPACKET as _, 0, 0, 0, 0],
    );
    r.insert("socket(AF_ALG)", errno_of(alg));
    close(alg);
    let inet = sys(
        libc::SYS_socket,
        [libc::AF_INET as _, libc::SOCK_STREAM as _, 0, 0, 0, 0],
    );
    r.insert("socket(AF_INET)", errno_of(inet));
    close(inet);
    let unix = sys(
        libc::SYS_socket,
        [libc::AF_UNIX as _, libc::SOCK_STREAM as _, 0, 0, 0, 0],
    );
    r.insert("socket(AF_UNIX)", errno_of(unix));
    close(unix);
    r.insert("getppid", errno_of(sys(libc::SYS_getppid, [0; 6])));
    r.insert(
        "personality(0xffffffff)",
        errno_of(sys(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0])),
    );
    r.insert(
        "personality(0x0)",
        errno_of(sys(libc::SYS_personality, [0; 6])),
    );
    r.insert(
        "personality(0x1234)",
        errno_of(sys(libc::SYS_personality, [0x1234, 0, 0, 0, 0, 0])),
    );
    r.insert(
        "x32 getpid",
        errno_of(sys(0x4000_0000 | libc::SYS_getpid, [0; 6])),
    );
    // fork + exec through the C library (clone3 -> ENOSYS -> clone fallback)
    let spawned = std::process::Command::new("/bin/true")
        .status()
        .map(|s| if s.success() { 0 } else { -2 })
        .unwrap_or_else(|e| e.raw_os_error().unwrap_or(-1));
    r.insert("spawn /bin/true", spawned);
    r
}

fn ns_per_call(n: u64, f: impl Fn()) -> f64 {
    f(); // warm up
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn bench(n: u64, filter: &berth_seccomp::Filter) -> Result<String, berth_seccomp::Error> {
    let getppid = || {
        std::hint::black_box(sys(libc::SYS_getppid, [0; 6]));
    };
    // personality has argument rules: the kernel cannot cache it as always-allowed, so every
    // call runs the BPF program.
    let personality = || {
        std::hint::black_box(sys(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]));
    };
    let before = (ns_per_call(n, getppid), ns_per_call(n, personality));
    berth_seccomp::apply::set_no_new_privs()?;
    filter.apply()?;
    let after = (ns_per_call(n, getppid), ns_per_call(n, personality));
    Ok(serde_json::json!({
        "iterations": n,
        "instructions": filter.instructions(),
        "getppid_ns": {"unfiltered": before.0, "filtered": after.0},
        "personality_query_ns": {"unfiltered": before.1, "filtered": after.1},
    })
    .to_string())
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut caps: Vec<String> = DOCKER_CAPS.iter().map(|c| c.to_string()).collect();
    let mut nnp = true;
    let mut bench_n = None;
    let mut dump = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--no-nnp" => nnp = false,
            "--cap" => caps.push(args.next().ok_or("--cap needs a value")?),
            "--bench" => {
                let n = args.next().ok_or("--bench needs a count")?;
                bench_n = Some(n.parse::<u64>().map_err(|e| format!("--bench {n}: {e}"))?);
            }
            "--dump" => dump = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let filter = berth_seccomp::docker_default(&caps).map_err(|e| e.to_string())?;
    if dump {
        println!(
            "{}",
            serde_json::json!({"instructions": filter.instructions(), "skipped": filter.skipped()})
        );
        return Ok(());
    }
    if let Some(n) = bench_n {
        println!("{}", bench(n, &filter).map_err(|e| e.to_string())?);
        return Ok(());
    }
    if nnp {
        berth_seccomp::apply::set_no_new_privs().map_err(|e| e.to_string())?;
    }
    filter.apply().map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({"instructions": filter.instructions(), "no_new_privs": nnp, "results": checks()})
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seccomp-probe: {e}");
            println!("{}", serde_json::json!({ "error": e }));
            ExitCode::from(125)
        }
    }
}
