//! The device filter, Docker's default: deny everything, allow the standard nodes
//! (null, zero, full, random, urandom, tty, console, ptmx, the pts), mknod of any node,
//! and deny fuse (10:229). On v1 through devices.deny/devices.allow; on v2 by a small
//! hand-assembled `BPF_PROG_TYPE_CGROUP_DEVICE` program attached with `BPF_CGROUP_DEVICE`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{CgroupError, Result};
use crate::fs;

/// One rule: type `b`/`c`/`a`, major and minor (`None` = any), access `rwm` letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: &'static str,
}

const fn rule(
    allow: bool,
    kind: char,
    major: Option<u32>,
    minor: Option<u32>,
    access: &'static str,
) -> DeviceRule {
    DeviceRule {
        allow,
        kind,
        major,
        minor,
        access,
    }
}

/// Docker's default rules after the initial deny-all, in order (for BPF, first match wins,
/// so the fuse deny comes first).
pub const DEFAULT_RULES: &[DeviceRule] = &[
    rule(false, 'c', Some(10), Some(229), "rwm"),
    rule(true, 'c', None, None, "m"),
    rule(true, 'b', None, None, "m"),
    rule(true, 'c', Some(1), Some(3), "rwm"),
    rule(true, 'c', Some(1), Some(5), "rwm"),
    rule(true, 'c', Some(1), Some(7), "rwm"),
    rule(true, 'c', Some(1), Some(8), "rwm"),
    rule(true, 'c', Some(1), Some(9), "rwm"),
    rule(true, 'c', Some(5), Some(0), "rwm"),
    rule(true, 'c', Some(5), Some(1), "rwm"),
    rule(true, 'c', Some(5), Some(2), "rwm"),
    rule(true, 'c', Some(136), None, "rwm"),
];

impl DeviceRule {
    /// The v1 text form, e.g. `c 1:3 rwm`, `c 136:* rwm`.
    pub fn v1_text(&self) -> String {
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

/// v1: `a` to devices.deny, then the allows; the fuse deny last.
pub fn apply_v1(dir: &Path) -> Result<()> {
    fs::write(&dir.join("devices.deny"), "a")?;
    for r in DEFAULT_RULES.iter().filter(|r| r.allow) {
        fs::write(&dir.join("devices.allow"), &r.v1_text())?;
    }
    for r in DEFAULT_RULES.iter().filter(|r| !r.allow) {
        fs::write(&dir.join("devices.deny"), &r.v1_text())?;
    }
    Ok(())
}

// ---- eBPF ----------------------------------------------------------------------------

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst in the low nibble, src in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV64_X: u8 = 0xbf; // dst = src
const MOV64_K: u8 = 0xb7; // dst = imm
const AND32_K: u8 = 0x54; // dst &= imm
const RSH32_K: u8 = 0x74; // dst >>= imm
const JNE_K: u8 = 0x55; // if dst != imm goto +off
const JSET_K: u8 = 0x45; // if dst & imm goto +off
const EXIT: u8 = 0x95;

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |bits, c| match c {
        'm' => bits | ACC_MKNOD,
        'r' => bits | ACC_READ,
        'w' => bits | ACC_WRITE,
        _ => bits,
    })
}

/// The program for `rules`: context `struct bpf_cgroup_dev_ctx { u32 access_type; u32
/// major; u32 minor; }` (access_type = access << 16 | type); first matching rule decides,
/// no match denies.
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_W, 2, 1, 0, 0),        // r2 = access_type
        insn(MOV64_X, 3, 2, 0, 0),      // r3 = r2
        insn(AND32_K, 3, 0, 0, 0xffff), // r3 = type
        insn(MOV64_X, 4, 2, 0, 0),      // r4 = r2
        insn(RSH32_K, 4, 0, 0, 16),     // r4 = access
        insn(LDX_W, 5, 1, 4, 0),        // r5 = major
        insn(LDX_W, 6, 1, 8, 0),        // r6 = minor
    ];
    for r in rules {
        // Conditions that, when true, skip to the next rule (offset patched below).
        let mut conds = Vec::new();
        match r.kind {
            'c' => conds.push(insn(JNE_K, 3, 0, 0, DEV_CHAR)),
            'b' => conds.push(insn(JNE_K, 3, 0, 0, DEV_BLOCK)),
            _ => {}
        }
        let denied_access = !access_bits(r.access) & (ACC_MKNOD | ACC_READ | ACC_WRITE);
        if denied_access != 0 {
            conds.push(insn(JSET_K, 4, 0, 0, denied_access));
        }
        if let Some(major) = r.major {
            conds.push(insn(JNE_K, 5, 0, 0, major as i32));
        }
        if let Some(minor) = r.minor {
            conds.push(insn(JNE_K, 6, 0, 0, minor as i32));
        }
        let n = conds.len();
        for (i, mut c) in conds.into_iter().enumerate() {
            // Past the remaining conditions, the mov and the exit.
            c.off = (n - i - 1 + 2) as i16;
            prog.push(c);
        }
        prog.push(insn(MOV64_K, 0, 0, 0, i32::from(r.allow)));
        prog.push(insn(EXIT, 0, 0, 0, 0));
    }
    prog.push(insn(MOV64_K, 0, 0, 0, 0));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf_err(dir: &Path, reason: String) -> CgroupError {
    CgroupError::Bpf {
        path: dir.to_path_buf(),
        reason,
    }
}

/// Loads the program for `rules` and attaches it to the cgroup2 directory `dir`.
pub fn attach_program(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let prog = program(rules);
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 65536];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        ..ProgLoadAttr::default()
    };
    // SAFETY: bpf(BPF_PROG_LOAD) reads `attr` (a #[repr(C)] prefix of union bpf_attr,
    // size passed) and the instruction array and license it points to, and writes at most
    // log_size bytes into `log`; all outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        let verifier = String::from_utf8_lossy(&log[..end]);
        return Err(bpf_err(
            dir,
            format!(
                "loading the device program failed: {err} {}",
                verifier.trim()
            ),
        ));
    }
    // SAFETY: a successful BPF_PROG_LOAD returns a new file descriptor that we own.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cgroup = std::fs::File::open(dir)
        .map_err(|e| bpf_err(dir, format!("cannot open the cgroup: {e}")))?;
    let attach = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: bpf(BPF_PROG_ATTACH) only reads `attach` (size passed); both fds are open
    // for the duration of the call. The attachment keeps the program alive afterwards.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attach as *const ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>(),
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return Err(bpf_err(
            dir,
            format!("attaching the device program failed: {err}"),
        ));
    }
    Ok(())
}

/// v2: Docker's default filter as a BPF program. A host where it cannot be loaded fails
/// the create rather than run the container with every device open.
pub fn apply_v2(dir: &Path) -> Result<()> {
    attach_program(dir, DEFAULT_RULES)
}

/// Access letters (any order, any of `r`, `w`, `m`) as the one static set of them.
pub fn access(letters: &str) -> &'static str {
    const SETS: [&str; 8] = ["", "r", "w", "rw", "m", "rm", "wm", "rwm"];
    let bits = letters.chars().fold(0, |bits, c| match c {
        'r' => bits | 1,
        'w' => bits | 2,
        'm' => bits | 4,
        _ => bits,
    });
    SETS[bits]
}

fn standard_allows() -> impl DoubleEndedIterator<Item = DeviceRule> {
    DEFAULT_RULES.iter().filter(|r| r.allow).copied()
}

/// `rules` then the standard allows, as a BPF program reads them: the last applicable first.
fn first_match_order(rules: &[DeviceRule]) -> Vec<DeviceRule> {
    rules
        .iter()
        .copied()
        .chain(standard_allows())
        .rev()
        .collect()
}

/// A container's own device rules (an OCI spec's `linux.resources.devices`, applied in
/// order as runc does: later rules over earlier ones), then the standard nodes allowed (as
/// runc appends its own): in place of the default filter, which a cgroup created without
/// `device_filter` lacks. v1 through devices.deny/allow; v2 as one BPF program (first
/// match wins, so the sequence reversed).
pub fn apply_rules(part: &berth_common::CgroupPart, rules: &[DeviceRule]) -> Result<()> {
    let standard = standard_allows();
    if part.mode == "v2" {
        let dir = part
            .paths
            .get("unified")
            .ok_or_else(|| CgroupError::MissingPath {
                key: "unified".into(),
                mode: part.mode.clone(),
            })?;
        return attach_program(dir, &first_match_order(rules));
    }
    let dir = part
        .paths
        .get("devices")
        .ok_or_else(|| CgroupError::MissingPath {
            key: "devices".into(),
            mode: part.mode.clone(),
        })?;
    fs::write(&dir.join("devices.deny"), "a")?;
    for r in rules.iter().copied().chain(standard) {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fs::write(&dir.join(file), &r.v1_text())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_rules_read_like_docker() {
        let texts: Vec<String> = DEFAULT_RULES.iter().map(DeviceRule::v1_text).collect();
        assert!(texts.contains(&"c 1:3 rwm".to_string()));
        assert!(texts.contains(&"c 136:* rwm".to_string()));
        assert!(texts.contains(&"b *:* m".to_string()));
        assert_eq!(texts[0], "c 10:229 rwm");
    }

    #[test]
    fn a_containers_own_rules_come_before_the_standard_allows_and_later_ones_win() {
        assert_eq!(access("mwr"), "rwm");
        assert_eq!(access("wr"), "rw");
        assert_eq!(access(""), "");
        let rules = [
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(240), None, "rw"),
            rule(false, 'c', Some(240), Some(1), "rwm"),
        ];
        let prog = program(&first_match_order(&rules));
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 240, 0), 1);
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ | ACC_WRITE, 240, 7), 1);
        assert_eq!(
            run(&prog, DEV_CHAR, ACC_READ, 240, 1),
            0,
            "the later deny wins"
        );
        assert_eq!(
            run(&prog, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3),
            1,
            "/dev/null"
        );
        assert_eq!(run(&prog, DEV_BLOCK, ACC_READ, 8, 0), 0);
        let dir = tempfile::tempdir().unwrap();
        for file in ["devices.deny", "devices.allow"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        let part = berth_common::CgroupPart {
            mode: "v1".into(),
            paths: [("devices".to_string(), dir.path().to_path_buf())].into(),
            limits: Default::default(),
        };
        apply_rules(&part, &rules).unwrap();
        // The fake files keep the last write of each.
        let deny = std::fs::read_to_string(dir.path().join("devices.deny")).unwrap();
        assert_eq!(deny, "c 240:1 rwm");
        let allow = std::fs::read_to_string(dir.path().join("devices.allow")).unwrap();
        assert_eq!(allow, "c 136:* rwm");
    }

    #[test]
    fn v1_writes_deny_all_then_rules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("devices.deny"), "").unwrap();
        std::fs::write(dir.path().join("devices.allow"), "").unwrap();
        apply_v1(dir.path()).unwrap();
        // The fake files keep the last write of each.
        let deny = std::fs::read_to_string(dir.path().join("devices.deny")).unwrap();
        let allow = std::fs::read_to_string(dir.path().join("devices.allow")).unwrap();
        assert_eq!(deny, "c 10:229 rwm");
        assert_eq!(allow, "c 136:* rwm");
    }

    /// Interprets the program the way the kernel would, to check the jump arithmetic.
    fn run(prog: &[Insn], ty: i32, access: i32, major: u32, minor: u32) -> u64 {
        let mut r = [0u64; 11];
        let ctx = [((access << 16) | ty) as u32, major, minor];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => {
                    assert_eq!(src, 1);
                    r[dst] = u64::from(ctx[(i.off / 4) as usize]);
                }
                MOV64_X => r[dst] = r[src],
                MOV64_K => r[dst] = i.imm as u64,
                AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                RSH32_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                JNE_K if r[dst] != i.imm as u64 => pc += i.off as usize,
                JSET_K if r[dst] & i.imm as u64 != 0 => pc += i.off as usize,
                JNE_K | JSET_K => {}
                EXIT => return r[0],
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn program_decides_like_the_rules() {
        let prog = program(DEFAULT_RULES);
        let rw = ACC_READ | ACC_WRITE;
        assert_eq!(run(&prog, DEV_CHAR, rw, 1, 3), 1, "null");
        assert_eq!(run(&prog, DEV_CHAR, rw, 136, 7), 1, "pts");
        assert_eq!(run(&prog, DEV_CHAR, ACC_MKNOD, 4, 1), 1, "mknod any char");
        assert_eq!(run(&prog, DEV_BLOCK, ACC_MKNOD, 8, 0), 1, "mknod any block");
        assert_eq!(run(&prog, DEV_BLOCK, ACC_READ, 8, 0), 0, "read a disk");
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 1, 11), 0, "kmsg");
        assert_eq!(run(&prog, DEV_CHAR, ACC_MKNOD, 10, 229), 0, "fuse mknod");
        assert_eq!(run(&prog, DEV_CHAR, rw, 10, 229), 0, "fuse");
        assert_eq!(run(&prog, DEV_BLOCK, rw, 1, 3), 0, "block 1:3 is not null");
    }
}
