//! Resolved rules -> one classic-BPF program for x86_64, built with seccompiler.
//!
//! seccompiler compiles a filter with a single on-match action. Docker's profiles need several
//! (ALLOW, and ERRNO(ENOSYS) for clone3; custom profiles may use any), so the rules are grouped
//! by action and each group is compiled by seccompiler with a sentinel mismatch action; the
//! groups are then chained: every sentinel `RET` is rewritten into a `JA` to the next group,
//! and the last group's mismatch is the profile's default action. Groups run from the most
//! restrictive action to the least (kill, trap, errno, trace, log, allow), so when a syscall
//! matches rules of two actions the stricter wins, as the kernel does between stacked filters.
//!
//! Within a group, the syscalls are cut into chunks of [`CHUNK`] numbers, each compiled by
//! seccompiler (a linear chain of `JEQ nr`), and a binary search on the syscall number picks the
//! chunk, so a call walks ~log2(chunks) + 2*CHUNK instructions instead of two per allowed
//! syscall below it.
//!
//! Layout:
//! ```text
//! [0..3]  arch == AUDIT_ARCH_X86_64, else KILL_PROCESS        (seccompiler's; i386 int 0x80)
//! [3..6]  nr >= 0x40000000 (x32 ABI) -> ERRNO(EPERM)          (ours)
//! group 1 (most restrictive action): LD nr; JGE tree; chunks ... mismatch -> JA group 2
//! ...
//! group n (allow): LD nr; JGE tree; chunks ... mismatch -> RET default action
//! ```

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use crate::profile::{Action, Cmp, Resolved};
use crate::{syscalls, Error};

/// The kernel's limit on a filter's length (BPF_MAXINSNS).
pub const MAX_INSTRUCTIONS: usize = 4096;

/// `__X32_SYSCALL_BIT`
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// BPF_LD | BPF_W | BPF_ABS
const BPF_LD_W_ABS: u16 = 0x20;
/// BPF_JMP | BPF_JA
const BPF_JMP_JA: u16 = 0x05;
/// BPF_JMP | BPF_JGE | BPF_K
const BPF_JMP_JGE_K: u16 = 0x35;
/// BPF_RET | BPF_K
const BPF_RET_K: u16 = 0x06;
const ARCH_CHECK_LEN: usize = 3;

impl From<Action> for SeccompAction {
    fn from(a: Action) -> Self {
        match a {
            Action::KillProcess => SeccompAction::KillProcess,
            Action::KillThread => SeccompAction::KillThread,
            Action::Trap => SeccompAction::Trap,
            Action::Errno(e) => SeccompAction::Errno(e),
            Action::Trace(e) => SeccompAction::Trace(e),
            Action::Log => SeccompAction::Log,
            Action::Allow => SeccompAction::Allow,
        }
    }
}

/// The kernel's return value for `a` (SECCOMP_RET_*).
pub fn ret_value(a: Action) -> u32 {
    u32::from(SeccompAction::from(a))
}

fn condition(index: u8, cmp: Cmp) -> Result<SeccompCondition, seccompiler::BackendError> {
    let (op, v) = match cmp {
        Cmp::Eq(v) => (SeccompCmpOp::Eq, v),
        Cmp::Ne(v) => (SeccompCmpOp::Ne, v),
        Cmp::Lt(v) => (SeccompCmpOp::Lt, v),
        Cmp::Le(v) => (SeccompCmpOp::Le, v),
        Cmp::Gt(v) => (SeccompCmpOp::Gt, v),
        Cmp::Ge(v) => (SeccompCmpOp::Ge, v),
        Cmp::MaskedEq { mask, value } => (SeccompCmpOp::MaskedEq(mask), value),
    };
    // 64-bit comparisons, as libseccomp makes them for Docker.
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, v)
}

/// Per syscall number: `None` = unconditional, `Some(rules)` = OR of ANDed conditions.
type Group = BTreeMap<i64, Option<Vec<SeccompRule>>>;

/// Groups the rules by action; names unknown on x86_64 are collected in `skipped`.
fn group(resolved: &Resolved, skipped: &mut Vec<String>) -> Result<BTreeMap<Action, Group>, Error> {
    let mut groups: BTreeMap<Action, Group> = BTreeMap::new();
    for rule in &resolved.rules {
        for name in &rule.names {
            let Some(nr) = syscalls::number(name) else {
                if !skipped.contains(name) {
                    skipped.push(name.clone());
                }
                continue;
            };
            // A rule with the default action changes nothing.
            if rule.action == resolved.default_action {
                continue;
            }
            let entry = groups.entry(rule.action).or_default().entry(nr);
            if rule.conds.is_empty() {
                *entry.or_default() = None;
                continue;
            }
            let conds = rule
                .conds
                .iter()
                .map(|c| condition(c.index, c.cmp))
                .collect::<Result<Vec<_>, _>>()
                .and_then(SeccompRule::new)
                .map_err(|source| Error::Rule {
                    rule: rule.index,
                    syscall: name.clone(),
                    source,
                })?;
            match entry.or_insert_with(|| Some(Vec::new())) {
                None => {} // already unconditional: OR with anything stays true
                Some(v) => v.push(conds),
            }
        }
    }
    Ok(groups)
}

/// A mismatch action for one group's compilation that can be told apart from its match
/// action; it is rewritten into a jump to the next group.
fn sentinel(action: Action) -> SeccompAction {
    if action == Action::Log {
        SeccompAction::Trap
    } else {
        SeccompAction::Log
    }
}

/// Syscalls per seccompiler filter inside a group: a binary search over the chunks' first
/// numbers picks the chunk, which seccompiler's linear chain then scans.
const CHUNK: usize = 16;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// Binary search over `bounds[lo..hi]` (first syscall number of each chunk), appended to `out`:
/// inner nodes `JGE bound` (true: the upper half, placed after the lower half), leaves `JA` to
/// the chunk, whose offset is patched later (`leaves` records (pc, chunk)).
fn dispatch(
    bounds: &[u32],
    lo: usize,
    hi: usize,
    out: &mut Vec<sock_filter>,
    leaves: &mut Vec<(usize, usize)>,
) -> Result<(), Error> {
    if hi - lo == 1 {
        leaves.push((out.len(), lo));
        out.push(stmt(BPF_JMP_JA, 0));
        return Ok(());
    }
    let mid = (lo + hi) / 2;
    let node = out.len();
    out.push(sock_filter {
        code: BPF_JMP_JGE_K,
        jt: 0,
        jf: 0,
        k: bounds[mid],
    });
    dispatch(bounds, lo, mid, out, leaves)?;
    let jt = out.len() - node - 1;
    out[node].jt = u8::try_from(jt).map_err(|_| Error::TooLarge { instructions: jt })?;
    dispatch(bounds, mid, hi, out, leaves)
}

/// One action's rules: `LD nr`, a binary search over chunks of [`CHUNK`] syscalls, each chunk
/// compiled by seccompiler. A mismatch returns `mismatch`, or, unless `last`, jumps to the end
/// of the group (the next group) instead.
fn compile_group(
    group: Group,
    action: Action,
    mismatch: SeccompAction,
    last: bool,
) -> Result<Vec<sock_filter>, Error> {
    let all: Vec<(i64, Vec<SeccompRule>)> = group
        .into_iter()
        .map(|(nr, r)| (nr, r.unwrap_or_default()))
        .collect();
    let mut bounds = Vec::new();
    let mut chunks = Vec::new();
    let mut rest = all.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: BTreeMap<i64, Vec<SeccompRule>> = rest.by_ref().take(CHUNK).collect();
        bounds.push(*chunk.keys().next().unwrap_or(&0) as u32);
        let body = SeccompFilter::new(chunk, mismatch.clone(), action.into(), TargetArch::x86_64)
            .and_then(BpfProgram::try_from)
            .map_err(|source| Error::Compile { source })?;
        // seccompiler's body without its arch check; it starts with its own `LD nr`.
        chunks.push(body[ARCH_CHECK_LEN..].to_vec());
    }
    let mut out = vec![stmt(BPF_LD_W_ABS, 0)];
    let mut leaves = Vec::new();
    if chunks.len() > 1 {
        dispatch(&bounds, 0, chunks.len(), &mut out, &mut leaves)?;
    }
    let mut starts = Vec::new();
    for chunk in chunks {
        starts.push(out.len());
        out.extend(chunk);
    }
    for (pc, chunk) in leaves {
        out[pc].k = (starts[chunk] - pc - 1) as u32;
    }
    if !last {
        // Every mismatch continues with the next group, which starts at `end`.
        let sentinel_k = u32::from(mismatch);
        let end = out.len();
        for (pc, ins) in out.iter_mut().enumerate() {
            if ins.code == BPF_RET_K && ins.k == sentinel_k {
                *ins = stmt(BPF_JMP_JA, (end - pc - 1) as u32);
            }
        }
    }
    Ok(out)
}

/// Compiles `resolved` for x86_64. Returns the program and the names it skipped (no such
/// syscall on x86_64).
pub fn compile(resolved: &Resolved) -> Result<(BpfProgram, Vec<String>), Error> {
    let mut skipped = Vec::new();
    let groups = group(resolved, &mut skipped)?;
    let default = SeccompAction::from(resolved.default_action);

    // seccompiler's arch check, then the x32 check.
    let mut program: BpfProgram = SeccompFilter::new(
        BTreeMap::new(),
        default.clone(),
        SeccompAction::KillProcess,
        TargetArch::x86_64,
    )
    .and_then(BpfProgram::try_from)
    .map_err(|source| Error::Compile { source })?;
    program.truncate(ARCH_CHECK_LEN);
    program.extend([
        sock_filter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0, // seccomp_data.nr
        },
        sock_filter {
            code: BPF_JMP_JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        },
    ]);

    let n = groups.len();
    for (i, (action, group)) in groups.into_iter().enumerate() {
        let last = i + 1 == n;
        let mismatch = if last {
            default.clone()
        } else {
            sentinel(action)
        };
        program.extend(compile_group(group, action, mismatch, last)?);
    }
    if n == 0 {
        program.push(sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: u32::from(default),
        });
    }
    if program.len() > MAX_INSTRUCTIONS {
        return Err(Error::TooLarge {
            instructions: program.len(),
        });
    }
    Ok((program, skipped))
}
