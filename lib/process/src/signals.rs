//! Signals sent to berth go to the container's first process. They are blocked in berth
//! and taken synchronously with sigwaitinfo, so no handler runs at an awkward moment.

use std::mem::MaybeUninit;

/// What is forwarded: everything a user or a supervisor sends to stop or poke a process.
const FORWARDED: &[i32] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
];

pub struct Blocked {
    set: libc::sigset_t,
    previous: libc::sigset_t,
}

impl Blocked {
    /// Blocks the forwarded signals and SIGCHLD in the calling (only) thread.
    pub fn block() -> std::io::Result<Blocked> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        let mut previous = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises `set`; sigaddset only takes valid signal numbers;
        // pthread_sigmask writes the old mask into `previous`.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            for sig in FORWARDED.iter().chain([libc::SIGCHLD].iter()) {
                libc::sigaddset(set.as_mut_ptr(), *sig);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), previous.as_mut_ptr());
            if rc != 0 {
                return Err(std::io::Error::from_raw_os_error(rc));
            }
            Ok(Blocked {
                set: set.assume_init(),
                previous: previous.assume_init(),
            })
        }
    }

    /// Restores the mask berth started with (in the child, before exec).
    pub fn restore(&self) {
        // SAFETY: `previous` was filled by pthread_sigmask.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }

    /// Waits for the next blocked signal.
    pub fn wait(&self) -> i32 {
        loop {
            let mut info = MaybeUninit::<libc::siginfo_t>::uninit();
            // SAFETY: `set` is an initialised signal set; `info` is written by the kernel.
            let sig = unsafe { libc::sigwaitinfo(&self.set, info.as_mut_ptr()) };
            if sig > 0 {
                return sig;
            }
        }
    }
}

/// Sends `sig` to `pid`; a process already gone is not an error.
pub fn forward(pid: i32, sig: i32) {
    // SAFETY: kill has no memory effects.
    unsafe {
        libc::kill(pid, sig);
    }
}
