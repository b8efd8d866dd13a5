//! `berth-dmz`: the few-KB program between berth's container child and the container's
//! command (CVE-2019-5736, see `src/exe_seal.rs`). berth's child, a fork of the berth binary,
//! execs this program from a sealed memfd; it execs the command. So the command, and
//! whatever the command's `#!` line names as interpreter (`#!/proc/self/exe`), never finds
//! the host's berth binary behind /proc/self/exe: only this sealed copy.
//!
//! Invoked only by berth: `berth dmz FD PATH ARGV0 ARGS…` (see `report.rs`). It marks FD
//! (the start pipe) close-on-exec and does `execve(PATH, [ARGV0, ARGS…], envp)`. If that
//! fails it writes the failure as JSON to FD and exits 127 (not found), 126 (not
//! executable) or 125. Run any other way (as a script's interpreter: argv[0] is then the
//! interpreter's path) it execs nothing and exits 127.
//!
//! No std, no libc: its own `_start` reads argc/argv/envp from the stack and its four
//! system calls are inline assembly. Built by `build.rs` (berth-build-support's
//! `freestanding_binary`).

#![no_std]
#![no_main]

mod report;

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!("berth-dmz supports x86_64 and aarch64 Linux");

// The kernel starts a process with the stack pointer at argc, followed by argv[0..argc],
// NULL, envp…, NULL. Hand that address to `start` on an aligned stack.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {start}",
    "ud2",
    start = sym start,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start, %function",
    "_start:",
    "mov x29, #0",
    "mov x30, #0",
    "mov x0, sp",
    "bl {start}",
    "brk #0",
    start = sym start,
);

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const WRITE: usize = 1;
    pub const EXECVE: usize = 59;
    pub const FCNTL: usize = 72;
    pub const EXIT_GROUP: usize = 231;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const FCNTL: usize = 25;
    pub const WRITE: usize = 64;
    pub const EXIT_GROUP: usize = 94;
    pub const EXECVE: usize = 221;
}

const F_SETFD: usize = 2;
const FD_CLOEXEC: usize = 1;
const EINTR: isize = 4;

/// A raw system call with three arguments; a negative return is -errno.
///
/// # Safety
/// The arguments must be what system call `n` expects (pointers valid for it).
#[cfg(target_arch = "x86_64")]
unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller passes valid arguments for `n`; the syscall instruction clobbers
    // rcx and r11 only.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// A raw system call with three arguments; a negative return is -errno.
///
/// # Safety
/// The arguments must be what system call `n` expects (pointers valid for it).
#[cfg(target_arch = "aarch64")]
unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller passes valid arguments for `n`; svc preserves every other register.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a as isize => ret,
            in("x1") b,
            in("x2") c,
            options(nostack),
        );
    }
    ret
}

fn exit(code: i32) -> ! {
    // SAFETY: exit_group takes an integer and does not return.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!(
            "syscall",
            in("rax") nr::EXIT_GROUP,
            in("rdi") code as isize,
            options(noreturn, nostack),
        )
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") nr::EXIT_GROUP,
            in("x0") code as isize,
            options(noreturn, nostack),
        )
    }
}

/// Writes all of `bytes` to `fd` (best effort: gives up on an error).
fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe the live slice `bytes`.
        let n = unsafe { syscall3(nr::WRITE, fd as usize, bytes.as_ptr() as usize, bytes.len()) };
        match n {
            n if n > 0 => bytes = &bytes[n as usize..],
            n if n == -EINTR => {}
            _ => return,
        }
    }
}

fn set_cloexec(fd: i32) {
    // SAFETY: fcntl(F_SETFD) takes integers only.
    unsafe { syscall3(nr::FCNTL, fd as usize, F_SETFD, FD_CLOEXEC) };
}

/// The process's arguments and environment, as the kernel laid them out.
struct Args {
    argc: usize,
    argv: *const *const u8,
    envp: *const *const u8,
}

impl Args {
    /// # Safety
    /// `sp` must be the initial stack pointer the kernel gave the process.
    unsafe fn from_stack(sp: *const usize) -> Args {
        // SAFETY: at process start `sp` points at argc, then argc argv pointers and a NULL,
        // then the environment.
        unsafe {
            let argc = *sp;
            let argv = sp.add(1) as *const *const u8;
            Args {
                argc,
                argv,
                envp: argv.add(argc + 1),
            }
        }
    }

    /// argv[i] without its NUL; `i < argc`.
    fn get(&self, i: usize) -> &'static [u8] {
        assert!(i < self.argc);
        // SAFETY: argv[i] (i < argc) is a NUL-terminated string the kernel copied onto the
        // stack, which lives (unchanged) as long as the process. (Volatile reads: a plain
        // loop would become a call to strlen, which nothing here provides.)
        unsafe {
            let s = *self.argv.add(i);
            let mut len = 0;
            while core::ptr::read_volatile(s.add(len)) != 0 {
                len += 1;
            }
            core::slice::from_raw_parts(s, len)
        }
    }

    /// execve(argv[i], &argv[i + 1..], envp); returns the errno when it fails.
    fn exec_from(&self, i: usize) -> i32 {
        assert!(i + 1 < self.argc);
        // SAFETY: argv[i] is a NUL-terminated path; argv[i + 1..] and envp are the kernel's
        // NULL-terminated arrays of NUL-terminated strings.
        let ret = unsafe {
            syscall3(
                nr::EXECVE,
                *self.argv.add(i) as usize,
                self.argv.add(i + 1) as usize,
                self.envp as usize,
            )
        };
        -ret as i32
    }
}

/// What the dmz says on stderr when it is not run by berth.
const REFUSED: &[u8] = b"berth-dmz: refused: run other than by berth \
    (as a #! interpreter, or as /proc/self/exe)\n";

extern "C" fn start(sp: *const usize) -> ! {
    // SAFETY: `_start` passes the stack pointer the kernel started the process with.
    let args = unsafe { Args::from_stack(sp) };
    if args.argc < 4 || args.get(0) != report::ARGV0 {
        write_all(2, REFUSED);
        exit(127);
    }
    let fd = report::parse_fd(args.get(1));
    if let Some(fd) = fd {
        set_cloexec(fd);
    }
    let errno = args.exec_from(2);
    if let Some(fd) = fd {
        report::failure_json(args.get(2), errno, &mut |piece| write_all(fd, piece));
    }
    exit(report::exit_code(errno))
}

/// Referenced by the prebuilt `core` (compiled for unwinding); never called, as nothing
/// here unwinds (panic = abort).
#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(125)
}
