//! Installing a compiled filter on the calling thread.
//!
//! Unlike `seccompiler::apply_filter`, which always sets `PR_SET_NO_NEW_PRIVS` first, this does
//! not touch no_new_privs: Docker leaves it off by default (a setuid binary in the container
//! still works) and installs the filter while the process still holds CAP_SYS_ADMIN, which the
//! kernel accepts in place of no_new_privs. [`set_no_new_privs`] is there for
//! `--security-opt no-new-privileges`, and for callers without CAP_SYS_ADMIN.

use std::io;

use seccompiler::sock_filter;

use crate::Error;

/// `struct sock_fprog` (linux/filter.h).
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

/// Installs `program` on the calling thread (and so on everything it later forks and execs).
/// Needs CAP_SYS_ADMIN in the thread's user namespace, or no_new_privs set; fails with
/// [`Error::NeedsNoNewPrivs`] otherwise.
pub fn install(program: &[sock_filter]) -> Result<(), Error> {
    if program.is_empty() || program.len() > crate::compile::MAX_INSTRUCTIONS {
        return Err(Error::TooLarge {
            instructions: program.len(),
        });
    }
    let prog = SockFprog {
        len: program.len() as libc::c_ushort,
        filter: program.as_ptr(),
    };
    // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog) reads `prog` and the `len`
    // instructions it points to (copy_from_user) during the call only; both outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_ulong,
            &prog as *const SockFprog,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EACCES) {
        return Err(Error::NeedsNoNewPrivs);
    }
    Err(Error::Apply { source: err })
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: execve will never grant privileges again (setuid bits and
/// file capabilities are ignored). Irreversible, inherited by children.
pub fn set_no_new_privs() -> Result<(), Error> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(Error::Apply {
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}
