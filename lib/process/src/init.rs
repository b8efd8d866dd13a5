//! `--init`: pid 1 stays berth's (already confined: namespaces, seccomp, capabilities, user)
//! and runs the command as its child, forwarding signals to it and reaping every zombie, the
//! job tini does for docker. It exits with the command's status.

use std::fs::File;

use crate::exe_seal::SealedDmz;
use crate::signals::{self, Blocked};
use crate::sync::{self, ChildFailure};

/// Never returns: forks the command (exec'd through `dmz`), then supervises it until it
/// exits.
pub(crate) fn run(args: &[String], env: &[String], to_parent: &File, dmz: &SealedDmz) -> ! {
    let code = supervise(args, env, to_parent, dmz);
    // SAFETY: _exit ends pid 1 (and with it the container) without unwinding.
    unsafe { libc::_exit(code) }
}

fn supervise(args: &[String], env: &[String], to_parent: &File, dmz: &SealedDmz) -> i32 {
    let Ok(blocked) = Blocked::block() else {
        return 125;
    };
    // SAFETY: pid 1 is single-threaded; the child only execs (or reports and exits).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        sync::report(
            to_parent,
            &ChildFailure {
                code: 125,
                message: format!("init: fork: {}", std::io::Error::last_os_error()),
            },
        );
        return 125;
    }
    if pid == 0 {
        blocked.restore();
        let failure = crate::exec::exec(args, env, dmz, to_parent);
        sync::report(to_parent, &failure);
        // SAFETY: as above.
        unsafe { libc::_exit(failure.code) };
    }
    // pid 1 never execs, so close-on-exec does nothing for it: it closes every fd but
    // stdio. Whatever its parent held open (a monitor's log file, its attach socket, the
    // write end of the container's stdin, its report pipe) must not stay in the container;
    // and only the command's copy of the start pipe may remain, its exec (or its report)
    // tells the parent how the start went.
    let _ = crate::fds::close_all_but(&[]);
    // SAFETY: PR_SET_NAME only renames this process (`ps` shows berth-init).
    unsafe { libc::prctl(libc::PR_SET_NAME, c"berth-init".as_ptr(), 0, 0, 0) };
    loop {
        match blocked.wait() {
            libc::SIGCHLD => {
                if let Some(code) = reap_all(pid) {
                    return code;
                }
            }
            sig => signals::forward(pid, sig),
        }
    }
}

/// Reaps every exited child; the command's status once it is among them.
fn reap_all(command: i32) -> Option<i32> {
    let mut result = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status of one of our children.
        let reaped = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if reaped <= 0 {
            return result;
        }
        if reaped == command {
            result = Some(if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                libc::WEXITSTATUS(status)
            });
        }
    }
}
