//! The create/start split of an OCI runtime (`berth-oci create`, then `start`): the
//! container's first process does its whole setup, tells the parent it is ready, and then
//! blocks opening the state directory's `exec.fifo` for writing until `start` opens it for
//! reading, as runc's init does. Only then does it exec the command.
//!
//! The parent (`create`) returns once the child is ready; it is gone by the time the
//! command runs, so nothing may be reported to it after that point.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use caps::{CapSet, Capability};

use crate::child::{fail, Go};
use crate::hook::{Hook, HookError};
use crate::sync::ChildFailure;
use crate::SpawnError;

/// The byte the child writes on its report pipe when it waits at the gate (a failure is
/// JSON, which never starts with it).
pub(crate) const READY: u8 = 0;
/// The byte the child writes before pivot_root when the parent has runtime hooks to run
/// first; it goes on at `HOOKS_DONE` on the go pipe.
pub(crate) const HOOKS: u8 = 1;
pub(crate) const HOOKS_DONE: u8 = b'h';

/// What a gated start needs in the child.
pub struct Gate {
    /// An `O_PATH` fd on the fifo, opened by the parent before the clone: after
    /// pivot_root the state directory is out of reach, `/proc/self/fd/N` is not.
    pub fifo: OwnedFd,
    /// `--preserve-fds N`: fds 3 to 3+N-1 of the caller reach the command.
    pub preserve_fds: u32,
    /// The spec's `process.user.additionalGids`: the supplementary groups exactly (none
    /// read from the rootfs's /etc/group, and not the primary gid, as runc).
    pub additional_gids: Vec<u32>,
    /// The spec's five capability sets, in place of `ContainerSpec::caps`.
    pub caps: CapSets,
    pub hooks: GateHooks,
    /// An AppArmor or SELinux label for the command: (file under /proc/self/attr, what
    /// to write), written last, so it applies to the command's exec alone.
    pub exec_label: Option<(std::path::PathBuf, String)>,
}

/// The hooks around the init's setup, in the spec's order: `runtime` (prestart and
/// createRuntime, run by the parent in its namespaces while the child waits before
/// pivot_root), then `create_container` (the child, in its namespaces, after the mounts,
/// before pivot_root), and after `start`, `start_container` (the child, in the container,
/// before the command).
/// The parent's part of a gate's hooks, called with the child's pid.
pub type RuntimeHooks = Box<dyn Fn(i32) -> Result<(), HookError>>;

#[derive(Default)]
pub struct GateHooks {
    /// The OCI state the child's hooks get on stdin; the child sets `pid` (its own, as
    /// runc: 1 in its pid namespace) and `status`.
    pub state: serde_json::Map<String, serde_json::Value>,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    /// Called with the child's pid (in the parent's pid namespace).
    pub runtime: Option<RuntimeHooks>,
}

impl GateHooks {
    fn input(&self, status: &str) -> Vec<u8> {
        let mut state = self.state.clone();
        state.insert("pid".into(), std::process::id().into());
        state.insert("status".into(), status.into());
        serde_json::to_vec(&state).expect("a JSON map serialises")
    }
}

/// `process.capabilities` of an OCI spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: HashSet<Capability>,
    pub effective: HashSet<Capability>,
    pub permitted: HashSet<Capability>,
    pub inheritable: HashSet<Capability>,
    pub ambient: HashSet<Capability>,
}

impl CapSets {
    /// Before the uid change: the bounding set, and the permitted set kept across it (a
    /// non-root user gets the sets the spec gives, as with runc).
    pub(crate) fn before_user(&self) -> Result<(), ChildFailure> {
        crate::caps::limit_bounding(&self.bounding).map_err(|e| fail("capabilities", e))?;
        rustix::thread::set_keep_capabilities(true).map_err(|e| fail("PR_SET_KEEPCAPS", e))
    }

    /// After the uid change: permitted, inheritable, effective, then ambient (which needs
    /// a capability in both permitted and inheritable).
    pub(crate) fn after_user(&self) -> Result<(), ChildFailure> {
        let apply = |set, caps: &HashSet<Capability>, what: &str| {
            caps::set(None, set, caps).map_err(|e| fail(&format!("capabilities: {what}"), e))
        };
        apply(CapSet::Effective, &HashSet::new(), "clear effective")?;
        apply(CapSet::Permitted, &self.permitted, "set permitted")?;
        apply(CapSet::Inheritable, &self.inheritable, "set inheritable")?;
        apply(CapSet::Effective, &self.effective, "set effective")?;
        caps::clear(None, CapSet::Ambient).map_err(|e| fail("capabilities: clear ambient", e))?;
        // As runc: an ambient capability the process may not hold (not both permitted
        // and inheritable) is left out, not an error; runc's own default spec asks for such.
        let holdable = |c: &&Capability| self.permitted.contains(c) && self.inheritable.contains(c);
        for cap in self.ambient.iter().filter(holdable) {
            caps::raise(None, CapSet::Ambient, *cap)
                .map_err(|e| fail(&format!("capabilities: raise ambient {cap}"), e))?;
        }
        rustix::thread::set_keep_capabilities(false).map_err(|e| fail("PR_SET_KEEPCAPS", e))
    }
}

impl Gate {
    /// The fds the child must not close before its exec.
    pub(crate) fn keep(&self) -> Vec<i32> {
        let mut keep: Vec<i32> = (0..self.preserve_fds).map(|i| 3 + i as i32).collect();
        keep.push(self.fifo.as_raw_fd());
        keep
    }
}

/// In the child, after the mounts, before pivot_root: the parent's runtime hooks first,
/// then the createContainer hooks (their paths are the host's: the root is not moved yet).
pub(crate) fn before_pivot(gate: &Gate, to_parent: &File, go: &Go) -> Result<(), String> {
    if gate.hooks.runtime.is_some() {
        let mut pipe = to_parent;
        pipe.write_all(&[HOOKS])
            .map_err(|e| format!("ask for the runtime hooks: {e}"))?;
        go.wait(HOOKS_DONE).map_err(|f| f.message)?;
    }
    let input = gate.hooks.input("creating");
    crate::hook::run_all("createContainer", &gate.hooks.create_container, &input)
        .map_err(|e| e.to_string())
}

/// In the child, after every setting is applied: the command looked up (a missing one
/// fails `create`, as in runc), ready reported, then the wait for `start`.
pub(crate) fn wait(
    gate: &Gate,
    args: &[String],
    env: &[String],
    to_parent: &File,
) -> Result<(), ChildFailure> {
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(crate::exec::DEFAULT_PATH);
    if let Some(program) = args.first() {
        let resolved = crate::exec::lookup(program, path)?;
        // A path is not looked up, so check it is there now, while create can still fail.
        if let Err(e) = std::fs::metadata(&resolved) {
            return Err(ChildFailure {
                code: if e.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                },
                message: format!("exec: {program:?}: stat {}: {e}", resolved.display()),
            });
        }
    }
    for fd in 3..3 + gate.preserve_fds as i32 {
        // SAFETY: F_SETFD on one of our own fds (a preserved fd that is not open fails
        // with EBADF, which is ignored: runc passes only what is there).
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    let mut pipe = to_parent;
    pipe.write_all(&[READY])
        .map_err(|e| fail("report ready", e))?;
    let path = format!("/proc/self/fd/{}", gate.fifo.as_raw_fd());
    // Blocks until `start` opens the fifo for reading.
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| fail("open exec.fifo", e))?;
    fifo.write_all(b"0")
        .map_err(|e| fail("write exec.fifo", e))?;
    drop(fifo);
    // The parent is gone: a late failure of the exec must not meet a pipe without a
    // reader (SIGPIPE would replace the exit status 126/127 with 141).
    let null = File::options()
        .write(true)
        .open("/dev/null")
        .map_err(|e| fail("open /dev/null", e))?;
    // SAFETY: dup3 replaces our own report fd with /dev/null, close-on-exec as before.
    let rc = unsafe { libc::dup3(null.as_raw_fd(), to_parent.as_raw_fd(), libc::O_CLOEXEC) };
    if rc < 0 {
        return Err(fail("dup3", std::io::Error::last_os_error()));
    }
    // As runc: in the container, as its user, after `start`, before the command.
    let input = gate.hooks.input("created");
    crate::hook::run_all("startContainer", &gate.hooks.start_container, &input).map_err(|e| {
        eprintln!("berth-oci: {e}");
        fail("hooks", e)
    })?;
    if let Some((attr, label)) = &gate.exec_label {
        std::fs::write(attr, label).map_err(|e| {
            let failure = fail(&format!("write {label:?} to {}", attr.display()), e);
            eprintln!("berth-oci: {}", failure.message);
            failure
        })?;
    }
    Ok(())
}

/// Parent side of a gated start: the child's first byte is READY, or a failure report; on
/// the way, HOOKS asks for the runtime hooks (a failure of theirs ends the child: `go`
/// closes and its wait fails).
pub(crate) fn outcome(
    mut from_child: File,
    pid: i32,
    gate: &Gate,
    go: File,
) -> Result<(), SpawnError> {
    let mut go = Some(go);
    if gate.hooks.runtime.is_none() {
        go = None;
    }
    let mut first = [0u8; 1];
    loop {
        match std::io::Read::read(&mut from_child, &mut first) {
            Ok(1) if first[0] == READY => return Ok(()),
            Ok(1) if first[0] == HOOKS => {
                if let Some(run) = &gate.hooks.runtime {
                    run(pid)?;
                }
                let mut pipe = go
                    .take()
                    .ok_or_else(|| fail("container init", "asked twice for the runtime hooks"))?;
                pipe.write_all(&[HOOKS_DONE])
                    .map_err(|e| fail("container init", e))?;
            }
            Ok(1) => {
                let mut rest = Vec::new();
                let _ = std::io::Read::read_to_end(&mut from_child, &mut rest);
                let text = format!("{}{}", first[0] as char, String::from_utf8_lossy(&rest));
                return Err(serde_json::from_str::<ChildFailure>(&text)
                    .unwrap_or(ChildFailure {
                        code: 125,
                        message: text,
                    })
                    .into());
            }
            _ => {
                return Err(fail(
                    "container init",
                    "exited during its setup without saying why",
                )
                .into())
            }
        }
    }
}
