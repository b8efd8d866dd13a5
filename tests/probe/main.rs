//! berth-probe: a static binary that integration tests put in a container image
//! (`/usr/local/bin/probe`) and run inside the container, to report what the container sees.
//! Built by `tests/build.rs` with plain rustc (std only, glibc static). Every subcommand prints
//! JSON lines on stdout. Nothing it does can harm the host when run outside a container:
//! mounts target a path that does not exist or pass invalid flags, reboot and kexec get
//! invalid arguments, ptrace targets a pid that cannot exist, and every probed syscall runs
//! in a throw-away child (so a successful unshare or personality change, or a seccomp kill,
//! stays there). `open-write` opens and never writes. `exe-attack` (`exe_attack.rs`) runs only
//! as a container's pid 1.
//!
//! probe status | syscalls | open-write FILE | read FILE | fork-bomb N | alloc MB
//!       | spin SECONDS [THREADS] | getppid-loop N | sleep SECONDS | signals
//!       | exe-attack SCRIPT CATCHES SECONDS

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("berth-probe is x86_64 Linux only");

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

extern "C" {
    fn syscall(n: i64, ...) -> i64;
    fn __errno_location() -> *mut i32;
}

// x86_64 syscall numbers used in more than one place (the others are written inline).
const SYS_MMAP: i64 = 9;
const SYS_GETPID: i64 = 39;
const SYS_CLONE: i64 = 56;
const SYS_WAIT4: i64 = 61;
const SYS_GETPPID: i64 = 110;
const SYS_EXIT_GROUP: i64 = 231;
const SIGKILL: i64 = 9;
const SIGCHLD: i64 = 17;
const PROT_RW: i64 = 3;
const MAP_ANON: i64 = 0x20;

/// Raw syscall: (return value, errno — 0 when the call succeeded).
macro_rules! sys {
    ($($arg:expr),+ $(,)?) => {{
        // SAFETY: each call site passes a syscall number with arguments that are plain
        // integers or pointers to live buffers of the size the kernel expects.
        let ret = unsafe { syscall($($arg as i64),+) };
        // SAFETY: __errno_location always returns this thread's valid errno slot.
        let errno = if ret == -1 { unsafe { *__errno_location() } } else { 0 };
        (ret, errno)
    }};
}

// ---------------------------------------------------------------- JSON, rendered as text

/// A JSON string.
fn q(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON object from rendered values.
fn o(fields: &[(&str, String)]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", q(k)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// A JSON array from rendered values.
fn a(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(","))
}

fn or_null(value: Option<String>) -> String {
    value.unwrap_or_else(|| "null".into())
}

fn float(f: f64) -> String {
    format!("{f:.3}")
}

fn emit(line: String) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(format!("{line}\n").as_bytes());
    let _ = stdout.flush();
}

const ERRNOS: &str = "1 EPERM 2 ENOENT 3 ESRCH 4 EINTR 8 ENOEXEC 9 EBADF 11 EAGAIN 12 ENOMEM \
    13 EACCES 14 EFAULT 16 EBUSY 19 ENODEV 20 ENOTDIR 21 EISDIR 22 EINVAL 24 EMFILE 26 ETXTBSY \
    28 ENOSPC 30 EROFS 38 ENOSYS 95 EOPNOTSUPP 97 EAFNOSUPPORT 126 ENOKEY";

/// `"errno":N,"err":"ENAME"` fields ("" for 0, "E?" for one not in the table).
fn errno_fields(e: i32) -> [(&'static str, String); 2] {
    let words: Vec<&str> = ERRNOS.split_whitespace().collect();
    let name = words
        .chunks(2)
        .find(|pair| pair[0] == e.to_string())
        .map_or(if e == 0 { "" } else { "E?" }, |pair| pair[1]);
    [("errno", e.to_string()), ("err", q(name))]
}

fn with_errno(mut fields: Vec<(&str, String)>, e: i32) -> String {
    fields.extend(errno_fields(e));
    o(&fields)
}

// ---------------------------------------------------------------- status

fn proc_field(status: &str, key: &str) -> Option<String> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'));
    line.map(|v| v.trim().to_string())
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) if b[i] == b'\\' => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// [mountpoint, fstype, mount options, source, superblock options] per mountinfo line.
fn mounts() -> String {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return "null".into();
    };
    let rows = text.lines().filter_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 6 || right.len() < 3 {
            return None;
        }
        let (mountpoint, source) = (unescape(left[4]), unescape(right[1]));
        Some(a([&mountpoint, right[0], left[5], &source, right[2]].map(q)))
    });
    a(rows)
}

/// Open fds, listed by getdents64 on an fd opened here, which is then left out; and where
/// each points.
fn fds() -> (String, String) {
    const O_DIRECTORY_CLOEXEC: i64 = 0o200000 | 0o2000000;
    let path = b"/proc/self/fd\0";
    let (dirfd, _) = sys!(257, -100, path.as_ptr(), O_DIRECTORY_CLOEXEC); // openat(AT_FDCWD)
    if dirfd < 0 {
        return ("null".into(), "null".into());
    }
    let (mut fds, mut buf) = (Vec::new(), vec![0u8; 8192]);
    loop {
        let (n, _) = sys!(217, dirfd, buf.as_mut_ptr(), buf.len()); // getdents64
        if n <= 0 {
            break;
        }
        let mut off = 0usize;
        while off < n as usize {
            // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, NUL-terminated name.
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let name = buf[off + 19..off + reclen]
                .split(|&c| c == 0)
                .next()
                .unwrap();
            let fd = std::str::from_utf8(name)
                .ok()
                .and_then(|n| n.parse::<i64>().ok());
            fds.extend(fd.filter(|&fd| fd != dirfd));
            off += reclen;
        }
    }
    sys!(3, dirfd); // close
    fds.sort();
    let links = fds.iter().map(|fd| {
        let target = std::fs::read_link(format!("/proc/self/fd/{fd}"));
        (
            fd.to_string(),
            or_null(target.ok().map(|t| q(&t.to_string_lossy()))),
        )
    });
    let links: Vec<(String, String)> = links.collect();
    let links: Vec<(&str, String)> = links.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    (a(fds.iter().map(|fd| fd.to_string())), o(&links))
}

fn hostname() -> String {
    let mut uts = [0u8; 6 * 65];
    if sys!(63, uts.as_mut_ptr()).0 != 0 {
        return "null".into();
    }
    let node = uts[65..130].split(|&c| c == 0).next().unwrap();
    q(&String::from_utf8_lossy(node))
}

/// [soft, hard] (-1 for unlimited).
fn rlimit(resource: i64) -> String {
    let mut lim = [0u64; 2];
    if sys!(302, 0, resource, 0, lim.as_mut_ptr()).0 != 0 {
        return "null".into();
    }
    a(lim.map(|x| {
        if x == u64::MAX {
            "-1".into()
        } else {
            x.to_string()
        }
    }))
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_string())
}

fn status() {
    let proc_status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hex = |k: &str| or_null(proc_field(&proc_status, k).map(|v| q(&v)));
    let num = |k: &str| or_null(proc_field(&proc_status, k).filter(|v| v.parse::<i64>().is_ok()));
    let mut groups = vec![0u32; 65536];
    let (n, _) = sys!(115, groups.len(), groups.as_mut_ptr()); // getgroups
    groups.truncate(n.max(0) as usize);
    let (fd_list, fd_links) = fds();
    let ns_names = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];
    let namespaces: Vec<(&str, String)> = ns_names
        .iter()
        .map(|ns| {
            let link = std::fs::read_link(format!("/proc/self/ns/{ns}"));
            (*ns, or_null(link.ok().map(|l| q(&l.to_string_lossy()))))
        })
        .collect();
    let cgroup = read_trimmed("/proc/self/cgroup").map(|t| a(t.lines().map(q)));
    let oom = read_trimmed("/proc/self/oom_score_adj").filter(|v| v.parse::<i64>().is_ok());
    let cwd = std::env::current_dir()
        .ok()
        .map(|p| q(&p.to_string_lossy()));
    emit(o(&[
        ("uid", sys!(102).0.to_string()),
        ("gid", sys!(104).0.to_string()),
        ("euid", sys!(107).0.to_string()),
        ("egid", sys!(108).0.to_string()),
        ("groups", a(groups.iter().map(|g| g.to_string()))),
        ("cap_eff", hex("CapEff")),
        ("cap_prm", hex("CapPrm")),
        ("cap_bnd", hex("CapBnd")),
        ("cap_inh", hex("CapInh")),
        ("cap_amb", hex("CapAmb")),
        ("seccomp", num("Seccomp")),
        ("no_new_privs", num("NoNewPrivs")),
        ("umask", hex("Umask")),
        ("pid", sys!(SYS_GETPID).0.to_string()),
        ("ppid", sys!(SYS_GETPPID).0.to_string()),
        ("hostname", hostname()),
        ("cwd", or_null(cwd)),
        ("fds", fd_list),
        ("fd_links", fd_links),
        ("mounts", mounts()),
        ("namespaces", o(&namespaces)),
        ("cgroup", or_null(cgroup)),
        ("oom_score_adj", or_null(oom)),
        ("rlimit_nofile", rlimit(7)),
        ("rlimit_nproc", rlimit(6)),
    ]));
}

// ---------------------------------------------------------------- syscalls

/// fork() as a raw clone(SIGCHLD): no atfork handlers, which is fine for this
/// single-threaded program whose children only make raw syscalls and exit.
fn raw_fork() -> (i64, i32) {
    sys!(SYS_CLONE, SIGCHLD, 0, 0, 0, 0)
}

fn exit_now(code: i64) -> ! {
    sys!(SYS_EXIT_GROUP, code);
    unreachable!()
}

mod syscalls;
use syscalls::syscalls;

// ---------------------------------------------------------------- files

/// Opens FILE for writing and never writes (so /proc/sysrq-trigger or a sysctl is safe).
fn open_write(path: &str) {
    let e = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().unwrap_or(-1),
    };
    emit(with_errno(vec![("ok", (e == 0).to_string())], e));
}

/// Reads up to 4 KiB of FILE.
fn read_file(path: &str) {
    use std::io::Read;
    let mut buf = Vec::new();
    let result = std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut buf));
    let e = result.err().map_or(0, |e| e.raw_os_error().unwrap_or(-1));
    let text = String::from_utf8_lossy(&buf);
    let mut fields = vec![("ok", (e == 0).to_string())];
    fields.extend([("len", buf.len().to_string()), ("text", q(&text))]);
    emit(with_errno(fields, e));
}

// ---------------------------------------------------------------- resources

/// Forks up to N children that sleep 5 s (and die with the probe), stops at the first
/// failure, then kills and reaps them all.
fn fork_bomb(n: u64) {
    let (mut children, mut first_errno) = (Vec::new(), 0);
    for _ in 0..n {
        let (pid, e) = raw_fork();
        if pid == 0 {
            sys!(157, 1, SIGKILL); // prctl(PR_SET_PDEATHSIG, SIGKILL)
            let ts = [5i64, 0];
            sys!(35, ts.as_ptr(), 0); // nanosleep
            exit_now(0);
        }
        if pid < 0 {
            first_errno = e;
            break;
        }
        children.push(pid);
    }
    for &pid in &children {
        sys!(62, pid, SIGKILL); // kill
    }
    for &pid in &children {
        let mut wstatus = 0i32;
        while sys!(SYS_WAIT4, pid, &mut wstatus as *mut i32, 0, 0).1 == 4 {} // EINTR
    }
    let fields = vec![
        ("requested", n.to_string()),
        ("forked", children.len().to_string()),
    ];
    emit(with_errno(fields, first_errno));
}

/// Maps and touches MB MiB in 16 MiB steps, reporting progress on stderr.
fn alloc(mb: u64) {
    let (mut done, mut errno) = (0u64, 0);
    while done < mb {
        let step = 16.min(mb - done);
        let len = (step << 20) as usize;
        let (addr, e) = sys!(SYS_MMAP, 0, len, PROT_RW, MAP_ANON | 0x02, -1, 0); // MAP_PRIVATE
        if addr == -1 {
            errno = e;
            break;
        }
        for off in (0..len).step_by(4096) {
            // SAFETY: `addr` is a fresh private writable mapping of `len` bytes, kept mapped.
            unsafe { (addr as *mut u8).add(off).write_volatile(1) };
        }
        done += step;
        eprintln!("probe alloc: {done} MB");
    }
    let fields = vec![
        ("requested_mb", mb.to_string()),
        ("allocated_mb", done.to_string()),
    ];
    emit(with_errno(fields, errno));
}

/// (user, system) CPU milliseconds of the whole process.
fn cpu_ms() -> (f64, f64) {
    let mut ru = [0i64; 18];
    sys!(98, 0, ru.as_mut_ptr()); // getrusage(RUSAGE_SELF)
    let ms = |sec: i64, usec: i64| sec as f64 * 1e3 + usec as f64 / 1e3;
    (ms(ru[0], ru[1]), ms(ru[2], ru[3]))
}

fn spin(seconds: f64, threads: u64) {
    let (start, until) = (Instant::now(), Duration::from_secs_f64(seconds));
    let work = move || {
        let mut x = 0u64;
        while start.elapsed() < until {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
    };
    let handles: Vec<_> = (1..threads).map(|_| std::thread::spawn(work)).collect();
    work();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let (user, system) = cpu_ms();
    emit(o(&[
        ("threads", threads.to_string()),
        ("wall_ms", float(start.elapsed().as_secs_f64() * 1e3)),
        ("user_ms", float(user)),
        ("sys_ms", float(system)),
        ("cpu_ms", float(user + system)),
    ]));
}

fn getppid_loop(n: u64) {
    let (start, mut last) = (Instant::now(), 0);
    for _ in 0..n {
        last = sys!(SYS_GETPPID).0;
    }
    let total = start.elapsed().as_nanos() as f64;
    emit(o(&[
        ("calls", n.to_string()),
        ("ppid", last.to_string()),
        ("total_ns", float(total)),
        (
            "ns_per_call",
            float(if n == 0 { 0.0 } else { total / n as f64 }),
        ),
    ]));
}

// ---------------------------------------------------------------- signals

static PENDING: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_signal(sig: i32) {
    PENDING.fetch_or(1 << sig, Ordering::SeqCst);
}

// x86_64 requires an sa_restorer that calls rt_sigreturn (15), as libc provides.
std::arch::global_asm!(
    ".globl berth_probe_restorer",
    "berth_probe_restorer:",
    "mov eax, 15",
    "syscall",
);

extern "C" {
    fn berth_probe_restorer();
}

const SIGNALS: [(i32, &str); 7] = [
    (1, "SIGHUP"),
    (2, "SIGINT"),
    (3, "SIGQUIT"),
    (10, "SIGUSR1"),
    (12, "SIGUSR2"),
    (15, "SIGTERM"),
    (28, "SIGWINCH"),
];

/// Prints {"ready":true,"pid":N}, then {"signal":"SIGX"} for each signal handled; exits 143
/// after SIGTERM.
fn signals() {
    const SA_RESTART_RESTORER: u64 = 0x1000_0000 | 0x0400_0000;
    let mask: u64 = SIGNALS.iter().map(|(n, _)| 1u64 << (n - 1)).sum();
    // Blocked until rt_sigsuspend below, so that no signal slips between check and sleep.
    sys!(14, 0, &mask as *const u64, 0, 8); // rt_sigprocmask(SIG_BLOCK)
    for (n, name) in SIGNALS {
        // struct kernel_sigaction: handler, flags, restorer, mask.
        let handler = on_signal as *const () as u64;
        let restorer = berth_probe_restorer as *const () as u64;
        let act: [u64; 4] = [handler, SA_RESTART_RESTORER, restorer, 0];
        let (r, e) = sys!(13, n, act.as_ptr(), 0, 8); // rt_sigaction
        if r != 0 {
            eprintln!("probe: rt_sigaction({name}): errno {e}");
            exit_now(1);
        }
    }
    emit(o(&[
        ("ready", "true".into()),
        ("pid", sys!(SYS_GETPID).0.to_string()),
    ]));
    let empty: u64 = 0;
    loop {
        let pending = PENDING.swap(0, Ordering::SeqCst);
        for (n, name) in SIGNALS.iter().filter(|(n, _)| pending & (1 << n) != 0) {
            emit(o(&[("signal", q(name))]));
            if *n == 15 {
                exit_now(143);
            }
        }
        sys!(130, &empty as *const u64, 8); // rt_sigsuspend: unblock and wait, atomically
    }
}

// ---------------------------------------------------------------- CVE-2019-5736

mod exe_attack;

// ---------------------------------------------------------------- main

fn usage() -> ! {
    eprintln!(
        "usage: probe status | syscalls | open-write FILE | read FILE | fork-bomb N | alloc MB\n\
         \x20            | spin SECONDS [THREADS] | getppid-loop N | sleep SECONDS | signals\n\
         \x20            | exe-attack SCRIPT CATCHES SECONDS"
    );
    std::process::exit(2)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("status") => status(),
        Some("syscalls") => syscalls(),
        Some("open-write") => open_write(&arg::<String>(&args, 2)),
        Some("read") => read_file(&arg::<String>(&args, 2)),
        Some("fork-bomb") => fork_bomb(arg(&args, 2)),
        Some("alloc") => alloc(arg(&args, 2)),
        Some("spin") => spin(arg(&args, 2), args.get(3).map_or(1, |_| arg(&args, 3))),
        Some("getppid-loop") => getppid_loop(arg(&args, 2)),
        Some("sleep") => {
            let secs: f64 = arg(&args, 2);
            std::thread::sleep(Duration::from_secs_f64(secs));
            emit(o(&[("slept_ms", float(secs * 1e3))]));
        }
        Some("signals") => signals(),
        Some("exe-attack") => {
            exe_attack::run(&arg::<String>(&args, 2), arg(&args, 3), arg(&args, 4))
        }
        _ => usage(),
    }
}
