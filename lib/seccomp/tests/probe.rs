//! Behavioural tests: the probe binary installs the filter on itself (never on the test
//! runner) and reports what each syscall did.

use std::process::Command;

use serde_json::Value;

fn probe(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_seccomp-probe"))
        .args(args)
        .output()
        .expect("run seccomp-probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "seccomp-probe {args:?}: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

const EPERM: i64 = libc::EPERM as i64;
const ENOSYS: i64 = libc::ENOSYS as i64;

fn check_default(v: &Value) {
    let r = &v["results"];
    let expect = [
        ("mount", EPERM),
        ("umount2", EPERM),
        ("unshare(CLONE_NEWUTS)", EPERM),
        ("setns(-1)", EPERM),
        ("keyctl", EPERM),
        ("bpf", EPERM),
        ("clone3", ENOSYS),
        ("socket(AF_VSOCK)", EPERM),
        ("socket(AF_ALG)", EPERM),
        ("socket(AF_INET)", 0),
        ("socket(AF_UNIX)", 0),
        ("getppid", 0),
        ("personality(0x0)", 0),
        ("personality(0xffffffff)", 0),
        ("personality(0x1234)", EPERM),
        ("spawn /bin/true", 0),
    ];
    for (name, want) in expect {
        assert_eq!(r[name].as_i64(), Some(want), "{name}: {v}");
    }
    // x32 calls pass the filter, as Docker's; the kernel answers ENOSYS unless built with x32.
    assert!(
        matches!(r["x32 getpid"].as_i64(), Some(0) | Some(ENOSYS)),
        "{v}"
    );
    let n = v["instructions"].as_u64().unwrap();
    assert!(n > 0 && n < 4096, "{n}");
}

#[test]
fn default_filter_with_no_new_privs() {
    let v = probe(&[]);
    assert_eq!(v["no_new_privs"], Value::Bool(true));
    check_default(&v);
}

#[test]
fn default_filter_on_cap_sys_admin_alone() {
    if !is_root() {
        eprintln!("skipped: needs root (CAP_SYS_ADMIN) to install without no_new_privs");
        return;
    }
    let v = probe(&["--no-nnp"]);
    assert_eq!(v["no_new_privs"], Value::Bool(false));
    check_default(&v);
}

#[test]
fn cap_sys_admin_reopens_its_syscalls() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let v = probe(&["--cap", "CAP_SYS_ADMIN"]);
    let r = &v["results"];
    // now the kernel answers (bad arguments), not the filter
    for name in ["mount", "umount2", "setns(-1)", "bpf", "clone3"] {
        let e = r[name].as_i64().unwrap();
        assert!(e != EPERM && e != ENOSYS, "{name}: {e} ({v})");
    }
    assert_eq!(r["keyctl"].as_i64(), Some(EPERM), "{v}");
    assert_eq!(r["socket(AF_VSOCK)"].as_i64(), Some(EPERM), "{v}");
    assert!(
        matches!(r["x32 getpid"].as_i64(), Some(0) | Some(ENOSYS)),
        "{v}"
    );
}

#[test]
fn bench_mode_runs() {
    let v = probe(&["--bench", "1000"]);
    assert!(v["getppid_ns"]["filtered"].as_f64().unwrap() > 0.0, "{v}");
}
