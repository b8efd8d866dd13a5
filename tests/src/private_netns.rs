//! A test's own network namespace: [`PrivateNetns::enter`] moves the calling thread into a
//! fresh one with loopback up, so every berth binary, `ip`, `nft` and socket the test starts
//! from that thread runs there. The bridges, veths, nftables tables, DNAT rules and
//! sysctls (ip_forward, route_localnet) berth makes then live in that namespace, never in
//! the host's, and go with it. Dropping the guard moves the thread back; the namespace goes
//! once the last process in it (an idle DNS server) has exited.
//!
//! The helpers in [`crate::net`] read links through `/proc/thread-self/net` and `ip`, which
//! follow the thread's namespace; `/sys/class/net` does not (it shows the namespace sysfs
//! was mounted in, the host's).

use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// The calling thread in a network namespace of its own until dropped. Not `Send`: the
/// thread that entered is the one that must leave.
pub struct PrivateNetns {
    previous: OwnedFd,
    _same_thread: PhantomData<*const ()>,
}

impl PrivateNetns {
    /// Moves the calling thread into a new network namespace and brings `lo` up.
    pub fn enter() -> PrivateNetns {
        let previous = rustix::fs::open(
            THREAD_NETNS,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open the thread's network namespace");
        unshare_netns().expect("unshare a network namespace");
        let guard = PrivateNetns {
            previous,
            _same_thread: PhantomData,
        };
        let out = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "ip link set lo up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        guard
    }
}

impl Drop for PrivateNetns {
    fn drop(&mut self) {
        rustix::thread::move_into_link_name_space(
            self.previous.as_fd(),
            Some(LinkNameSpaceType::Network),
        )
        .expect("return to the thread's network namespace");
    }
}

/// Moves the calling thread (only) into a new network namespace.
fn unshare_netns() -> rustix::io::Result<()> {
    // SAFETY: unsafe only because of CLONE_FILES (other threads could see an fd table
    // change under them); only CLONE_NEWNET is passed, which changes this thread's network
    // namespace and nothing about fds or memory.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
}
