//! The system call ABIs a filter on an x86_64 host covers, named as Docker's profiles name
//! them: the native x86_64 ABI, the x32 ABI (the same `AUDIT_ARCH_X86_64`, numbers with bit
//! 30 set) and i386 (32-bit programs, and `int 0x80` from 64-bit ones; `AUDIT_ARCH_I386`).
//! Each has its own numbers for the same names.

use std::collections::BTreeSet;

use crate::profile::Profile;
use crate::{syscalls, syscalls_i386, syscalls_x32};

/// `AUDIT_ARCH_X86_64`
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386`
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `__X32_SYSCALL_BIT`
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    X86_64,
    X32,
    I386,
}

impl Arch {
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::X32, Arch::I386];

    /// libseccomp's name, as profiles write it.
    pub fn scmp_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X32 => "SCMP_ARCH_X32",
            Arch::I386 => "SCMP_ARCH_X86",
        }
    }

    pub fn from_scmp_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.scmp_name() == name)
    }

    /// `seccomp_data.arch` for a call of this ABI.
    pub fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::I386 => AUDIT_ARCH_I386,
        }
    }

    /// `(name, number)` of every call of this ABI; x32 numbers without the x32 bit.
    pub fn table(self) -> &'static [(&'static str, i64)] {
        match self {
            Arch::X86_64 => syscalls::X86_64,
            Arch::X32 => syscalls_x32::X32,
            Arch::I386 => syscalls_i386::I386,
        }
    }

    /// `seccomp_data.nr` for the call `name` of this ABI (x32's with its bit set), or `None`
    /// when the ABI has no such call.
    pub fn number(self, name: &str) -> Option<u32> {
        let nr = self.table().iter().find(|(n, _)| *n == name)?.1 as u32;
        Some(match self {
            Arch::X32 => nr | X32_SYSCALL_BIT,
            _ => nr,
        })
    }

    /// Whether the ABI's arguments are 32 bits wide (libseccomp compares only those bits).
    pub fn is_32_bit(self) -> bool {
        self == Arch::I386
    }
}

/// The ABIs a profile covers, as Docker and libseccomp decide: the host's own always; with an
/// `archMap`, its x86_64 entry's sub-architectures; with `architectures`, those named. Names
/// of other hosts' architectures (`SCMP_ARCH_AARCH64`, ...) cannot occur here and are ignored.
pub fn covered(profile: &Profile) -> BTreeSet<Arch> {
    let mut arches = BTreeSet::from([Arch::X86_64]);
    let listed = profile.architectures.iter().flatten().chain(
        profile
            .arch_map
            .iter()
            .flatten()
            .filter(|m| m.architecture == Arch::X86_64.scmp_name())
            .flat_map(|m| m.sub_architectures.iter().flatten()),
    );
    arches.extend(listed.filter_map(|name| Arch::from_scmp_name(name)));
    arches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_per_abi() {
        assert_eq!(Arch::X86_64.number("getppid"), Some(110));
        assert_eq!(Arch::I386.number("getppid"), Some(64));
        assert_eq!(Arch::X32.number("getppid"), Some(X32_SYSCALL_BIT | 110));
        assert_eq!(Arch::X32.number("execve"), Some(X32_SYSCALL_BIT | 520));
        assert_eq!(Arch::X86_64.number("socketcall"), None);
        assert_eq!(Arch::I386.number("socketcall"), Some(102));
    }

    #[test]
    fn covered_arches_follow_the_profile() {
        let p = crate::profile::parse(crate::DOCKER_DEFAULT_JSON.as_bytes()).unwrap();
        assert_eq!(covered(&p), BTreeSet::from(Arch::ALL));
        let p = crate::profile::parse(br#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap();
        assert_eq!(covered(&p), BTreeSet::from([Arch::X86_64]));
        let p = crate::profile::parse(
            br#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86","SCMP_ARCH_AARCH64"]}"#,
        )
        .unwrap();
        assert_eq!(covered(&p), BTreeSet::from([Arch::X86_64, Arch::I386]));
    }
}
