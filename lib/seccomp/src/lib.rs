//! seccomp filters: Docker's default profile and Docker-format profiles, compiled to one
//! classic-BPF program for an x86_64 host that covers the ABIs the profile names (x86_64,
//! x32, i386), with seccompiler compiling the argument checks.
//!
//! ```no_run
//! // berth-enter, before fork: build (may fail, allocates)
//! let caps = vec!["CAP_CHOWN".to_string() /* ...the container's bounding set */];
//! let filter = berth_seccomp::docker_default(&caps)?;
//! // in the child: mounts, pivot_root, user/groups set up, still holding CAP_SYS_ADMIN:
//! filter.apply()?;          // then drop capabilities, then execve
//! # Ok::<(), berth_seccomp::Error>(())
//! ```
//! See docs/seccomp.md for the order berth-enter must follow.

pub mod apply;
pub mod arch;
pub mod cache;
pub mod compile;
pub mod emulate;
pub mod profile;
pub mod syscalls;
pub mod syscalls_i386;
pub mod syscalls_x32;

use std::path::Path;

pub use seccompiler::BpfProgram;

pub use compile::MAX_INSTRUCTIONS;
pub use profile::{Action, Profile};

/// moby's `profiles/seccomp/default.json` (Apache-2.0, see docs/seccomp.md), byte for byte.
pub const DOCKER_DEFAULT_JSON: &str = include_str!("../profiles/docker-default.json");

/// Everything that can go wrong building or installing a filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp profile: invalid JSON: {source}")]
    Json { source: serde_json::Error },
    #[error("seccomp profile {path}: {source}")]
    File {
        path: String,
        #[source]
        source: Box<Error>,
    },
    #[error("seccomp profile: cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("seccomp profile: {}: unknown or unsupported action {action:?}", rule_name(*.rule))]
    UnknownAction { rule: Option<usize>, action: String },
    #[error("seccomp profile: syscalls rule {rule} ({syscall}): unknown operator {op:?}")]
    UnknownOperator {
        rule: usize,
        syscall: String,
        op: String,
    },
    #[error("seccomp profile: syscalls rule {rule} ({syscall}): argument index {index} > 5")]
    ArgIndex {
        rule: usize,
        syscall: String,
        index: u32,
    },
    #[error("seccomp profile: syscalls rule {rule}: bad minKernel {value:?}")]
    MinKernel { rule: usize, value: String },
    #[error("seccomp profile: both \"architectures\" and \"archMap\" are given; use one of them")]
    ArchitecturesAndArchMap,
    #[error("seccomp profile: syscalls rule {rule}: no syscall names")]
    NoNames { rule: usize },
    #[error("seccomp profile: the conditions of {syscall}: {source}")]
    Rule {
        syscall: String,
        source: seccompiler::BackendError,
    },
    #[error("seccomp: compiling the filter: {source}")]
    Compile { source: seccompiler::BackendError },
    #[error(
        "seccomp: the filter has {instructions} BPF instructions (the kernel takes 1 to 4096)"
    )]
    TooLarge { instructions: usize },
    #[error("seccomp: installing the filter needs CAP_SYS_ADMIN or no_new_privs (EACCES): apply it before dropping capabilities, or set no_new_privs")]
    NeedsNoNewPrivs,
    #[error("seccomp: installing the filter: {source}")]
    Apply { source: std::io::Error },
}

fn rule_name(rule: Option<usize>) -> String {
    match rule {
        Some(i) => format!("syscalls rule {i}"),
        None => "defaultAction".to_string(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A compiled filter, ready to install.
#[derive(Debug, Clone)]
pub struct Filter {
    program: BpfProgram,
    skipped: Vec<String>,
    resolved: profile::Resolved,
}

impl Filter {
    /// Compiles a resolved profile.
    pub fn from_resolved(resolved: profile::Resolved) -> Result<Filter> {
        let (program, skipped) = compile::compile(&resolved)?;
        Ok(Filter {
            program,
            skipped,
            resolved,
        })
    }

    /// Number of BPF instructions (the kernel's limit is 4096).
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// The BPF program.
    pub fn program(&self) -> &BpfProgram {
        &self.program
    }

    /// Syscall names of the profile's applicable rules that none of the covered ABIs has
    /// (ignored, as libseccomp does: `chown32` when i386 is not covered, ...).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The rules the filter was built from (after caps/arch/kernel resolution).
    pub fn resolved(&self) -> &profile::Resolved {
        &self.resolved
    }

    /// The filter's SECCOMP_RET_* answer for x86_64 syscall `nr` with `args`, computed by
    /// running the program in [`emulate`], without installing anything.
    pub fn evaluate(&self, nr: i64, args: &[u64]) -> Option<u32> {
        self.evaluate_on(arch::Arch::X86_64, nr, args)
    }

    /// The same for a call of ABI `arch` (for x32, `nr` without the x32 bit).
    pub fn evaluate_on(&self, arch: arch::Arch, nr: i64, args: &[u64]) -> Option<u32> {
        emulate::run(&self.program, &emulate::SeccompData::new(arch, nr, args))
    }

    /// Installs the filter on the calling thread; it is inherited across fork and execve and
    /// can never be removed. Does not set no_new_privs: the caller must hold CAP_SYS_ADMIN
    /// (apply before dropping capabilities) or have called [`apply::set_no_new_privs`].
    pub fn apply(&self) -> Result<()> {
        apply::install(&self.program)
    }
}

/// Docker's default profile for a container whose bounding set is `caps` (`"CAP_SYS_ADMIN"` or
/// `"SYS_ADMIN"`), on the running kernel.
pub fn docker_default(caps: &[String]) -> Result<Filter> {
    from_profile_json(DOCKER_DEFAULT_JSON.as_bytes(), caps)
}

/// A Docker-format profile (`--security-opt seccomp=FILE.json`) for `caps`.
pub fn from_profile_json(json: &[u8], caps: &[String]) -> Result<Filter> {
    let ctx = profile::Context::new(caps);
    Filter::from_resolved(profile::parse(json)?.resolve(&ctx)?)
}

/// What `--security-opt seccomp=VALUE` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeccompOpt {
    /// No `seccomp=` option: Docker's default.
    Default,
    /// `seccomp=unconfined`: no filter at all.
    Unconfined,
    /// `seccomp=FILE.json`
    File(String),
}

impl SeccompOpt {
    /// From the value after `seccomp=` (`None` when the option is absent).
    pub fn parse(value: Option<&str>) -> SeccompOpt {
        match value {
            None | Some("") => SeccompOpt::Default,
            Some("unconfined") => SeccompOpt::Unconfined,
            Some(path) => SeccompOpt::File(path.to_string()),
        }
    }
}

/// The filter for a `--security-opt seccomp=…` choice: `None` for unconfined. Errors on a
/// file name the path.
pub fn for_option(opt: &SeccompOpt, caps: &[String]) -> Result<Option<Filter>> {
    match opt {
        SeccompOpt::Default => docker_default(caps).map(Some),
        SeccompOpt::Unconfined => Ok(None),
        SeccompOpt::File(path) => {
            let json = std::fs::read(Path::new(path)).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            from_profile_json(&json, caps)
                .map(Some)
                .map_err(|e| Error::File {
                    path: path.clone(),
                    source: Box::new(e),
                })
        }
    }
}

#[cfg(test)]
mod tests;
