//! A small interpreter for the classic-BPF subset seccomp filters use, to check a compiled
//! program without installing it (tests, `seccomp-probe --dump`). It runs the program the way
//! the kernel would on a `struct seccomp_data`.

use seccompiler::sock_filter;

use crate::arch::{Arch, X32_SYSCALL_BIT};
pub use crate::arch::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};

/// What the kernel sees for one syscall.
#[derive(Debug, Clone, Copy)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub args: [u64; 6],
}

impl SeccompData {
    /// An x86_64 syscall `nr` with `args` (missing ones 0).
    pub fn x86_64(nr: i64, args: &[u64]) -> Self {
        SeccompData::new(Arch::X86_64, nr, args)
    }

    /// A syscall `nr` of ABI `arch` (for x32 without the x32 bit) with `args`.
    pub fn new(arch: Arch, nr: i64, args: &[u64]) -> Self {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        let nr = match arch {
            Arch::X32 => nr | i64::from(X32_SYSCALL_BIT),
            _ => nr,
        };
        SeccompData {
            nr: nr as i32,
            arch: arch.audit_arch(),
            args: a,
        }
    }

    fn word(&self, off: u32) -> Option<u32> {
        Some(match off {
            0 => self.nr as u32,
            4 => self.arch,
            8 | 12 => 0, // instruction pointer: never used by our filters
            16..=63 if off & 3 == 0 => {
                let arg = self.args[((off - 16) / 8) as usize];
                if (off - 16) & 7 == 0 {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            _ => return None,
        })
    }
}

/// Runs `prog` on `data`; returns the filter's SECCOMP_RET_* value, or `None` for a program
/// the kernel would refuse (bad instruction, load out of range, falling off the end).
pub fn run(prog: &[sock_filter], data: &SeccompData) -> Option<u32> {
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    loop {
        let ins = prog.get(pc)?;
        pc += 1;
        let jump = |cond: bool| {
            if cond {
                ins.jt as usize
            } else {
                ins.jf as usize
            }
        };
        match ins.code {
            0x00 => acc = ins.k,                  // LD IMM
            0x20 => acc = data.word(ins.k)?,      // LD W ABS
            0x54 => acc &= ins.k,                 // ALU AND K
            0x05 => pc += ins.k as usize,         // JA
            0x15 => pc += jump(acc == ins.k),     // JEQ K
            0x25 => pc += jump(acc > ins.k),      // JGT K
            0x35 => pc += jump(acc >= ins.k),     // JGE K
            0x45 => pc += jump(acc & ins.k != 0), // JSET K
            0x06 => return Some(ins.k),           // RET K
            _ => return None,
        }
    }
}
