//! Resolved rules -> one classic-BPF program covering every ABI the profile names (x86_64,
//! x32, i386), as libseccomp builds Docker's filter.
//!
//! The dispatch is ours, the argument checks are seccompiler's. seccompiler compiles one
//! ABI, one match action and one linear chain of `JEQ nr` per filter; a Docker profile needs
//! three ABIs, several actions, and should not walk a chain of 300 syscalls. So:
//!
//! - every syscall number of an ABI gets a *leaf*: a `RET` of its action when the action does
//!   not depend on the arguments, or a jump to a *block* that checks them;
//! - runs of neighbouring numbers with the same `RET` merge into one range (Docker's profile
//!   allows most numbers from 0 to 335 with few holes), and a binary search over the ranges'
//!   first numbers (`JGE`) finds the leaf: a call costs ~log2(ranges) + 3 instructions, and the
//!   program stays short (the kernel converts, JIT-compiles and pre-evaluates it on every
//!   install, so its length is paid on every container start);
//! - a block is the syscall's rules, one action after another from the most restrictive
//!   (kill, trap, errno, trace, log, allow; as the kernel does between stacked filters, the
//!   stricter wins), each compiled by seccompiler with a sentinel mismatch action that is
//!   rewritten into a jump to the next action's rules; the last mismatch returns the default.
//!   Its `LD nr` becomes a constant load, so x86_64 and x32 share the blocks of the syscalls
//!   they have in common (Docker's `socket` alone is 26 alternatives, 182 instructions).
//!
//! ```text
//! LD arch; JEQ X86_64 -> native; [JEQ I386 -> i386;] RET KILL_PROCESS
//! native: LD nr; search over x86_64 numbers (and x32's, bit 30 set; if x32 is not covered,
//!         every number with that bit kills)
//! i386:   LD nr; search over i386 numbers
//! blocks
//! ```
//!
//! The program is emitted back to front, so the target of every forward jump is already
//! placed when the jump is written; a conditional jump further than its 8-bit offset reaches
//! goes through a `JA` (32-bit offset) placed next to it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use crate::arch::{Arch, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use crate::profile::{Action, Cmp, Cond, Resolved};
use crate::Error;

/// Names the program layout below, for caches of compiled programs.
pub const LAYOUT: &str = "abis-ranges-1";

/// The kernel's limit on a filter's length (BPF_MAXINSNS).
pub const MAX_INSTRUCTIONS: usize = 4096;

/// BPF_LD | BPF_W | BPF_ABS
const BPF_LD_W_ABS: u16 = 0x20;
/// BPF_LD | BPF_IMM
const BPF_LD_IMM: u16 = 0x00;
/// BPF_JMP | BPF_JA
const BPF_JMP_JA: u16 = 0x05;
/// BPF_JMP | BPF_JEQ | BPF_K
const BPF_JMP_JEQ_K: u16 = 0x15;
/// BPF_JMP | BPF_JGE | BPF_K
const BPF_JMP_JGE_K: u16 = 0x35;
/// BPF_RET | BPF_K
const BPF_RET_K: u16 = 0x06;
/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
/// Length of the arch check seccompiler puts in front of every filter it compiles.
const SECCOMPILER_ARCH_CHECK: usize = 3;

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

/// What one syscall number does: the actions its rules can take, from the most restrictive,
/// each with its alternatives of ANDed conditions (`None`: whatever the arguments, so
/// nothing after it matters).
type Chain = BTreeMap<Action, Option<Vec<Vec<Cond>>>>;

/// Where the search over one ABI's numbers ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Leaf {
    Ret(u32),
    /// Index into the blocks.
    Block(usize),
}

/// The rules of one ABI, by syscall number; names the ABI lacks are added to `unknown`.
fn chains(resolved: &Resolved, arch: Arch, unknown: &mut BTreeSet<String>) -> BTreeMap<u32, Chain> {
    let mut by_nr: BTreeMap<u32, Chain> = BTreeMap::new();
    for rule in &resolved.rules {
        for name in &rule.names {
            let Some(nr) = arch.number(name) else {
                unknown.insert(name.clone());
                continue;
            };
            // As runc does: a rule with the default action changes nothing.
            if rule.action == resolved.default_action {
                continue;
            }
            let alternatives = by_nr.entry(nr).or_default().entry(rule.action);
            if rule.conds.is_empty() {
                *alternatives.or_default() = None;
            } else if let Some(list) = alternatives.or_insert_with(|| Some(Vec::new())) {
                list.push(rule.conds.clone());
            }
        }
    }
    for chain in by_nr.values_mut() {
        // Actions after an unconditional one are never reached.
        if let Some(&first) = chain.iter().find(|(_, c)| c.is_none()).map(|(a, _)| a) {
            chain.retain(|action, _| *action <= first);
        }
    }
    by_nr
}

/// The instructions under construction, last one first.
#[derive(Default)]
struct Emitter {
    reversed: Vec<sock_filter>,
}

/// The position of an emitted instruction, counted from the program's end.
type Label = usize;

impl Emitter {
    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.reversed.push(sock_filter { code, jt, jf, k });
        self.reversed.len() - 1
    }

    /// The label the next instruction falls through to.
    fn next(&self) -> Label {
        self.reversed.len() - 1
    }

    /// Distance from the next instruction to `target`.
    fn distance(&self, target: Label) -> usize {
        self.reversed.len() - target - 1
    }

    fn ret(&mut self, k: u32) -> Label {
        self.push(BPF_RET_K, 0, 0, k)
    }

    fn jump(&mut self, target: Label) -> Label {
        let k = self.distance(target) as u32;
        self.push(BPF_JMP_JA, 0, 0, k)
    }

    /// Makes `target` the next instruction (a `JA` unless it already is).
    fn fall_into(&mut self, target: Label) -> Label {
        if target == self.next() {
            target
        } else {
            self.jump(target)
        }
    }

    /// A conditional jump, with `JA` trampolines for targets beyond 255 instructions.
    fn branch(&mut self, code: u16, k: u32, mut on_true: Label, mut on_false: Label) -> Label {
        loop {
            if self.distance(on_true) > 255 {
                on_true = self.jump(on_true);
            } else if self.distance(on_false) > 255 {
                on_false = self.jump(on_false);
            } else {
                break;
            }
        }
        let (jt, jf) = (self.distance(on_true) as u8, self.distance(on_false) as u8);
        self.push(code, jt, jf, k)
    }

    /// Instructions in program order, whose jumps stay within them or lead to what follows.
    fn append(&mut self, code: &[sock_filter]) -> Label {
        self.reversed.extend(code.iter().rev().cloned());
        self.next()
    }

    fn finish(mut self) -> BpfProgram {
        self.reversed.reverse();
        self.reversed
    }
}

fn condition(
    index: u8,
    cmp: Cmp,
    arch: Arch,
) -> Result<SeccompCondition, seccompiler::BackendError> {
    let (op, v) = match cmp {
        Cmp::Eq(v) => (SeccompCmpOp::Eq, v),
        Cmp::Ne(v) => (SeccompCmpOp::Ne, v),
        Cmp::Lt(v) => (SeccompCmpOp::Lt, v),
        Cmp::Le(v) => (SeccompCmpOp::Le, v),
        Cmp::Gt(v) => (SeccompCmpOp::Gt, v),
        Cmp::Ge(v) => (SeccompCmpOp::Ge, v),
        Cmp::MaskedEq { mask, value } => (SeccompCmpOp::MaskedEq(mask), value),
    };
    let fits = |x: u64| u32::try_from(x).is_ok();
    let small = fits(v) && !matches!(cmp, Cmp::MaskedEq { mask, .. } if !fits(mask));
    // libseccomp compares the low 32 bits on a 32-bit ABI, the full 64 bits otherwise.
    let len = if arch.is_32_bit() && small {
        SeccompCmpArgLen::Dword
    } else {
        SeccompCmpArgLen::Qword
    };
    SeccompCondition::new(index, len, op, v)
}

/// A mismatch action for one action's compilation that can be told apart from its match
/// action; it is rewritten into a jump to what comes next.
fn sentinel(action: Action) -> SeccompAction {
    if action == Action::Log {
        SeccompAction::Trap
    } else {
        SeccompAction::Log
    }
}

/// The argument checks of syscall `nr`, emitted at the current end: each action's
/// alternatives in turn, then the unconditional action or the default.
fn block(
    out: &mut Emitter,
    arch: Arch,
    nr: u32,
    chain: &Chain,
    default: u32,
    names: &dyn Fn(u32) -> String,
) -> Result<Label, Error> {
    let mut pieces = Vec::new();
    let mut last = default;
    for (&action, alternatives) in chain {
        let Some(alternatives) = alternatives else {
            last = ret_value(action);
            break;
        };
        let rules = alternatives
            .iter()
            .map(|conds| {
                conds
                    .iter()
                    .map(|c| condition(c.index, c.cmp, arch))
                    .collect::<Result<Vec<_>, _>>()
                    .and_then(SeccompRule::new)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| Error::Rule {
                syscall: names(nr),
                source,
            })?;
        let mismatch = sentinel(action);
        let sentinel_k = u32::from(mismatch.clone());
        let filter = SeccompFilter::new(
            BTreeMap::from([(i64::from(nr), rules)]),
            mismatch,
            action.into(),
            TargetArch::x86_64,
        )
        .and_then(BpfProgram::try_from)
        .map_err(|source| Error::Compile { source })?;
        // Without seccompiler's arch check; it starts with its own `LD nr`.
        let mut piece = filter[SECCOMPILER_ARCH_CHECK..].to_vec();
        let end = piece.len();
        for (pc, ins) in piece.iter_mut().enumerate() {
            if ins.code == BPF_LD_W_ABS && ins.k == NR_OFFSET {
                // `nr` as a constant: the block is reached only for its syscall, and so can
                // serve another ABI's number of the same syscall (x86_64 and x32).
                *ins = sock_filter {
                    code: BPF_LD_IMM,
                    jt: 0,
                    jf: 0,
                    k: nr,
                };
            } else if ins.code == BPF_RET_K && ins.k == sentinel_k {
                *ins = sock_filter {
                    code: BPF_JMP_JA,
                    jt: 0,
                    jf: 0,
                    k: (end - pc - 1) as u32,
                };
            }
        }
        pieces.push(piece);
    }
    let mut entry = out.ret(last);
    for piece in pieces.iter().rev() {
        entry = out.append(piece);
    }
    Ok(entry)
}

/// `(first number, leaf)` of every range of numbers that share a leaf, covering 0..=u32::MAX.
fn ranges(leaves: &BTreeMap<u32, Leaf>, default: Leaf) -> Vec<(u32, Leaf)> {
    let mut out: Vec<(u32, Leaf)> = vec![(0, default.clone())];
    let mut put = |nr: u32, leaf: Leaf| match out.last_mut() {
        Some(last) if last.1 == leaf => {}
        Some(last) if last.0 == nr => last.1 = leaf,
        _ => out.push((nr, leaf)),
    };
    let mut expected = 0u64;
    for (&nr, leaf) in leaves {
        if u64::from(nr) != expected {
            put(expected as u32, default.clone());
        }
        put(nr, leaf.clone());
        expected = u64::from(nr) + 1;
    }
    if expected <= u64::from(u32::MAX) {
        put(expected as u32, default);
    }
    // Merging may leave two neighbours with the same leaf after a replacement.
    out.dedup_by(|b, a| a.1 == b.1);
    out
}

/// The argument checks still to place: a block is emitted where the search reaches it, so
/// the jump to it is short.
struct Blocks<'a> {
    chains: Vec<(Arch, u32, Chain)>,
    default: u32,
    rets: HashMap<u32, Label>,
    /// Blocks already placed, by argument width and rules.
    placed: HashMap<(bool, Chain), Label>,
    names: &'a dyn Fn(Arch, u32) -> String,
}

/// Binary search over `ranges` (on the number in the accumulator); returns its entry.
fn search(out: &mut Emitter, ranges: &[(u32, Leaf)], blocks: &mut Blocks) -> Result<Label, Error> {
    if let [(_, leaf)] = ranges {
        return Ok(match leaf {
            Leaf::Block(i) => {
                let (arch, nr, chain) = &blocks.chains[*i];
                let key = (arch.is_32_bit(), chain.clone());
                match blocks.placed.get(&key) {
                    Some(&label) => label,
                    None => {
                        let names = |nr| (blocks.names)(*arch, nr);
                        let label = block(out, *arch, *nr, chain, blocks.default, &names)?;
                        blocks.placed.insert(key, label);
                        label
                    }
                }
            }
            Leaf::Ret(k) => match blocks.rets.get(k) {
                // Share a nearby RET; a far one would cost a trampoline, as much as a new RET.
                Some(&label) if out.distance(label) < 64 => label,
                _ => {
                    let label = out.ret(*k);
                    blocks.rets.insert(*k, label);
                    label
                }
            },
        });
    }
    let mid = ranges.len() / 2;
    let upper = search(out, &ranges[mid..], blocks)?;
    let lower = search(out, &ranges[..mid], blocks)?;
    Ok(out.branch(BPF_JMP_JGE_K, ranges[mid].0, upper, lower))
}

fn syscall_name(arch: Arch, nr: u32) -> String {
    let plain = i64::from(nr & !X32_SYSCALL_BIT);
    let name = arch.table().iter().find(|(_, n)| *n == plain);
    format!("{} on {}", name.map_or("?", |(n, _)| *n), arch.scmp_name())
}

/// One section: `LD nr` and the search over the numbers of `arches` (which share one
/// `seccomp_data.arch`).
fn section(
    out: &mut Emitter,
    resolved: &Resolved,
    arches: &[Arch],
    x32_uncovered: bool,
    unknown: &mut BTreeSet<String>,
) -> Result<Label, Error> {
    let default = ret_value(resolved.default_action);
    let mut leaves: BTreeMap<u32, Leaf> = BTreeMap::new();
    let mut blocks = Blocks {
        chains: Vec::new(),
        default,
        rets: HashMap::new(),
        placed: HashMap::new(),
        names: &syscall_name,
    };
    for &arch in arches {
        for (nr, chain) in chains(resolved, arch, unknown) {
            let leaf = match chain.first_key_value() {
                Some((&action, None)) => Leaf::Ret(ret_value(action)),
                Some(_) => {
                    blocks.chains.push((arch, nr, chain));
                    Leaf::Block(blocks.chains.len() - 1)
                }
                None => continue,
            };
            leaves.insert(nr, leaf);
        }
    }
    let mut ranges = ranges(&leaves, Leaf::Ret(default));
    if x32_uncovered {
        // Every number with the x32 bit is an x32 call: an ABI the profile does not cover.
        ranges.retain(|(first, _)| *first < X32_SYSCALL_BIT);
        ranges.push((X32_SYSCALL_BIT, Leaf::Ret(libc::SECCOMP_RET_KILL_PROCESS)));
    }
    let entry = search(out, &ranges, &mut blocks)?;
    out.fall_into(entry);
    Ok(out.push(BPF_LD_W_ABS, 0, 0, NR_OFFSET))
}

/// Compiles `resolved`. Returns the program and the names that none of its ABIs has.
pub fn compile(resolved: &Resolved) -> Result<(BpfProgram, Vec<String>), Error> {
    let covers = |a: Arch| resolved.arches.contains(&a);
    let mut out = Emitter::default();
    let mut unknown = BTreeSet::new();
    let i386 = if covers(Arch::I386) {
        Some(section(
            &mut out,
            resolved,
            &[Arch::I386],
            false,
            &mut unknown,
        )?)
    } else {
        None
    };
    let native_arches: &[Arch] = if covers(Arch::X32) {
        &[Arch::X86_64, Arch::X32]
    } else {
        &[Arch::X86_64]
    };
    let native = section(
        &mut out,
        resolved,
        native_arches,
        !covers(Arch::X32),
        &mut unknown,
    )?;
    let mut other = out.ret(libc::SECCOMP_RET_KILL_PROCESS);
    if let Some(i386) = i386 {
        other = out.branch(BPF_JMP_JEQ_K, AUDIT_ARCH_I386, i386, other);
    }
    out.branch(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, native, other);
    out.push(BPF_LD_W_ABS, 0, 0, ARCH_OFFSET);
    let program = out.finish();
    if program.len() > MAX_INSTRUCTIONS {
        return Err(Error::TooLarge {
            instructions: program.len(),
        });
    }
    // A name is skipped only if no covered ABI knows it.
    let skipped = unknown
        .into_iter()
        .filter(|name| !resolved.arches.iter().any(|a| a.number(name).is_some()))
        .collect();
    Ok((program, skipped))
}
