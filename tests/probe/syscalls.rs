//! `probe syscalls`: each call in a child, with its result or the signal that ended it
//! (x86_64 numbers, x32 with bit 30, i386 through `int 0x80`).

use super::*;

/// Syscall `nr` through the i386 entry point (`int 0x80`) with up to three arguments:
/// answered only with IA32 emulation, and seen by seccomp as `AUDIT_ARCH_I386`.
fn i386_call(nr: i64, args: [i64; 3]) -> (i64, i32) {
    let ret: i64;
    // SAFETY: the callers pass integer arguments or null pointers only. rbx (i386's first
    // argument) is reserved by the compiler, so it is swapped in and out around the call;
    // the kernel may clobber r8-r11 on this path, which are declared.
    unsafe {
        std::arch::asm!(
            "xchg {a0}, rbx",
            "int 0x80",
            "xchg {a0}, rbx",
            a0 = inout(reg) args[0] => _,
            inlateout("rax") nr => ret,
            in("rcx") args[1],
            in("rdx") args[2],
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    let ret = ret as i32 as i64; // the i386 ABI returns 32 bits
    if (-4095..0).contains(&ret) {
        (-1, -ret as i32)
    } else {
        (ret, 0)
    }
}

/// Marks a number in the table below as an i386 one (made through `int 0x80`).
const I386: i64 = 1 << 40;

/// Runs syscall `nr` in a child process and reports {"ret","errno","err"}, or {"signal"}
/// if the child was killed (a seccomp kill, or SIGSEGV for int 0x80 without IA32).
fn in_child(nr: i64, args: [i64; 5]) -> String {
    let (page, e) = sys!(SYS_MMAP, 0, 4096, PROT_RW, MAP_ANON | 0x01, -1, 0); // MAP_SHARED
    if page == -1 {
        return with_errno(vec![("error", q("mmap"))], e);
    }
    let slot = page as *mut i64;
    let (pid, e) = raw_fork();
    if pid == -1 {
        return with_errno(vec![("error", q("fork"))], e);
    }
    if pid == 0 {
        let (ret, errno) = match nr {
            _ if nr & I386 != 0 => i386_call(nr & !I386, [args[0], args[1], args[2]]),
            _ => sys!(nr, args[0], args[1], args[2], args[3], args[4]),
        };
        // SAFETY: `slot` is the start of a 4096-byte shared anonymous mapping.
        unsafe {
            slot.write_volatile(ret);
            slot.add(1).write_volatile(errno as i64);
        }
        exit_now(0);
    }
    let mut wstatus = 0i32;
    sys!(SYS_WAIT4, pid, &mut wstatus as *mut i32, 0, 0);
    // SAFETY: the child has exited; the mapping is still ours and holds two i64s.
    let (ret, errno) = unsafe { (slot.read_volatile(), slot.add(1).read_volatile()) };
    sys!(11, page, 4096); // munmap
    if wstatus & 0x7f != 0 {
        return o(&[("signal", (wstatus & 0x7f).to_string())]);
    }
    with_errno(vec![("ret", ret.to_string())], errno as i32)
}

pub(crate) fn syscalls() {
    let p = |bytes: &'static [u8]| bytes.as_ptr() as i64;
    let nowhere = p(b"/nonexistent-probe\0");
    const MS_SHARED_PRIVATE: i64 = (1 << 20) | (1 << 18);
    let calls: [(&str, i64, [i64; 5]); 28] = [
        // Target missing: ENOENT when allowed, EPERM (seccomp) or EACCES (LSM) when not.
        ("mount", 165, [p(b"none\0"), nowhere, p(b"tmpfs\0"), 0, 0]),
        // Two propagation flags on "/": EINVAL after the CAP_SYS_ADMIN check, else EPERM.
        (
            "mount_propagation",
            165,
            [0, p(b"/\0"), 0, MS_SHARED_PRIVATE, 0],
        ),
        ("umount2", 166, [nowhere, 2, 0, 0, 0]), // MNT_DETACH
        ("unshare_newns", 272, [0x0002_0000, 0, 0, 0, 0]),
        ("unshare_newuser", 272, [0x1000_0000, 0, 0, 0, 0]),
        ("unshare_newnet", 272, [0x4000_0000, 0, 0, 0, 0]),
        ("setns", 308, [-1, 0, 0, 0, 0]), // EBADF when allowed
        // KEYCTL_GET_KEYRING_ID of the session keyring, without creating it.
        ("keyctl", 250, [0, -3, 0, 0, 0]),
        // A key type that does not exist: ENODEV when allowed; nothing is created.
        (
            "add_key",
            248,
            [p(b"berth-probe-none\0"), p(b"p\0"), p(b"x"), 1, -2],
        ),
        ("clone3", 435, [0, 0, 0, 0, 0]), // EINVAL when allowed; Docker's profile: ENOSYS
        ("ptrace", 101, [16, 0x7fff_ffff, 0, 0, 0]), // PTRACE_ATTACH, no such pid: ESRCH
        // 17 segments (> KEXEC_SEGMENT_MAX), unknown flag: EINVAL after the cap check.
        ("kexec_load", 246, [0, 17, 0, 0x8000, 0]),
        ("init_module", 175, [0, 0, p(b"\0"), 0, 0]), // empty image: ENOEXEC after the cap
        ("bpf", 321, [0, 0, 0, 0, 0]),                // BPF_MAP_CREATE, zeroed attr: EINVAL
        ("perf_event_open", 298, [0, 0, -1, -1, 0]),  // NULL attr: EFAULT
        ("open_by_handle_at", 304, [-100, 0, 0, 0, 0]), // NULL handle: EFAULT after the cap
        ("reboot", 169, [0, 0, 0, 0, 0]),             // invalid magic: EINVAL after CAP_SYS_BOOT
        ("syslog", 103, [10, 0, 0, 0, 0]),            // SYSLOG_ACTION_SIZE_BUFFER
        ("socket_vsock", 41, [40, 1, 0, 0, 0]),
        ("socket_inet", 41, [2, 1, 0, 0, 0]),
        ("personality_query", 135, [0xffff_ffff, 0, 0, 0, 0]),
        ("personality_set", 135, [0x1234, 0, 0, 0, 0]), // not in Docker's allow list
        ("getppid", SYS_GETPPID, [0; 5]),
        ("x32_getpid", 0x4000_0000 | SYS_GETPID, [0; 5]),
        ("i386_getpid", I386 | 20, [0; 5]),
        // i386 keyctl(KEYCTL_GET_KEYRING_ID, session, no create): blocked like x86_64's
        ("i386_keyctl", I386 | 288, [0, -3, 0, 0, 0]),
        // i386 mount(NULL, NULL, NULL): EFAULT when allowed
        ("i386_mount", I386 | 21, [0; 5]),
        ("i386_personality_set", I386 | 136, [0x1234, 0, 0, 0, 0]),
    ];
    let results: Vec<(&str, String)> = calls
        .iter()
        .map(|&(name, nr, args)| (name, in_child(nr, args)))
        .collect();
    emit(o(&results));
}
