//! Test-only fault points. With `BERTH_FAULT_POINT=<stage>:<step>` in the environment, the
//! process SIGKILLs itself when it reaches that step, so tests can show that a crash at any
//! step of a setup leaves nothing the teardown cannot remove. `<stage>:<step>:panic` panics
//! there instead (the edge's panic hook), and `<stage>:<step>:sigterm` sends the process a
//! SIGTERM and goes on (the setup must then be undone, not killed halfway). Unset, a fault
//! point costs one load of a cached value.

use std::sync::OnceLock;

/// The environment variable naming the armed fault point.
pub const ENV: &str = "BERTH_FAULT_POINT";

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var(ENV).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

/// The step `name` (`stage:step`, e.g. `mount:overlay`) is done: dies here if armed.
pub fn point(name: &str) {
    let Some(armed) = armed() else {
        return;
    };
    if armed == name {
        kill_self();
    }
    if armed.strip_suffix(":panic") == Some(name) {
        panic!("fault point {name} reached ({ENV})");
    }
    if armed.strip_suffix(":sigterm") == Some(name) {
        // SAFETY: kill(getpid(), SIGTERM) touches no memory; blocked, it stays pending.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGTERM);
        }
    }
}

fn kill_self() -> ! {
    // SAFETY: kill(getpid(), SIGKILL) touches no memory; it ends this process.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // The kernel delivers the signal before kill returns to user space; never reached.
    std::process::abort()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unarmed_point_does_nothing() {
        // The test environment does not arm a point; reaching one must be harmless.
        if std::env::var_os(super::ENV).is_none() {
            super::point("mount:overlay");
        }
    }
}
