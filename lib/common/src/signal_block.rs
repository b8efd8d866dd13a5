//! SIGINT, SIGTERM and SIGHUP held back while berth does work that must not stop halfway
//! (a teardown, the setup of a stage). The mask is the calling thread's and is inherited
//! by the threads it starts; it is restored when the guard is dropped, and a signal that
//! arrived meanwhile is then delivered (or taken earlier with [`TerminationBlocked::take_pending`]).

use std::mem::MaybeUninit;

/// The signals a user or a supervisor stops a process with.
const HELD: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// While alive, the termination signals stay pending instead of killing the process.
pub struct TerminationBlocked {
    held: libc::sigset_t,
    previous: libc::sigset_t,
}

impl TerminationBlocked {
    /// Blocks SIGINT, SIGTERM and SIGHUP for the calling thread.
    pub fn new() -> TerminationBlocked {
        let held = held_set();
        let previous = set_mask(libc::SIG_BLOCK, &held);
        TerminationBlocked { held, previous }
    }

    /// A termination signal that arrived while blocked, taken (so it will not be delivered
    /// when the guard goes).
    pub fn take_pending(&self) -> Option<i32> {
        take_signal(&self.held)
    }
}

/// A termination signal that arrived while some [`TerminationBlocked`] of this thread holds
/// them, taken; for code below the guard's owner. None when nothing is pending (or nothing
/// blocks them: an unblocked signal has been delivered already).
pub fn take_pending() -> Option<i32> {
    take_signal(&held_set())
}

impl Default for TerminationBlocked {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TerminationBlocked {
    fn drop(&mut self) {
        set_mask(libc::SIG_SETMASK, &self.previous);
    }
}

fn held_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset gets valid signal numbers only.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for sig in HELD {
            libc::sigaddset(set.as_mut_ptr(), sig);
        }
        set.assume_init()
    }
}

/// pthread_sigmask(how, set); returns the previous mask.
fn set_mask(how: libc::c_int, set: &libc::sigset_t) -> libc::sigset_t {
    let mut previous = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `set` is an initialised signal set; the kernel fills `previous`. With valid
    // arguments pthread_sigmask cannot fail.
    unsafe {
        let rc = libc::pthread_sigmask(how, set, previous.as_mut_ptr());
        assert_eq!(rc, 0, "pthread_sigmask with valid arguments");
        previous.assume_init()
    }
}

/// A pending signal of `set`, dequeued without waiting.
fn take_signal(set: &libc::sigset_t) -> Option<i32> {
    let now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `set` is initialised; a null siginfo is allowed; `now` is a valid timeout.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &now) };
    (sig > 0).then_some(sig)
}

/// The calling thread's current mask has `sig` blocked.
pub fn is_blocked(sig: i32) -> bool {
    let mut current = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: a null new set only queries; the kernel fills `current`.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), current.as_mut_ptr());
        libc::sigismember(current.as_ptr(), sig) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `sig` to the calling thread only (the test harness runs other tests' threads).
    fn raise_here(sig: i32) {
        // SAFETY: pthread_self names this live thread; the signal is blocked here.
        let rc = unsafe { libc::pthread_kill(libc::pthread_self(), sig) };
        assert_eq!(rc, 0);
    }

    #[test]
    fn signals_wait_until_taken_and_the_mask_comes_back() {
        assert!(!is_blocked(libc::SIGTERM));
        {
            let guard = TerminationBlocked::new();
            assert!(HELD.iter().all(|&s| is_blocked(s)));
            assert_eq!(guard.take_pending(), None);
            raise_here(libc::SIGTERM);
            // Still alive: the signal waits.
            assert_eq!(guard.take_pending(), Some(libc::SIGTERM));
            assert_eq!(guard.take_pending(), None);
        }
        assert!(HELD.iter().all(|&s| !is_blocked(s)));
    }

    #[test]
    fn a_nested_guard_leaves_the_outer_one_in_force() {
        let outer = TerminationBlocked::new();
        drop(TerminationBlocked::new());
        assert!(is_blocked(libc::SIGINT));
        drop(outer);
        assert!(!is_blocked(libc::SIGINT));
    }
}
