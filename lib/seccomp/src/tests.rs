//! Tests of the compiled default filter, run through the BPF interpreter (nothing installed).

use std::collections::BTreeSet;

use super::*;
use crate::compile::ret_value;

/// Docker's 14 default capabilities.
pub const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The 67 syscalls blocked for a default container on x86_64 (security-defaults.md).
const BLOCKED_67: &str = "_sysctl acct add_key afs_syscall bpf clock_settime clone3 create_module \
delete_module fanotify_init finit_module fsconfig fsmount fsopen fspick get_kernel_syms \
get_mempolicy getpmsg init_module io_uring_enter io_uring_register io_uring_setup ioperm iopl \
kcmp kexec_file_load kexec_load keyctl lookup_dcookie mbind migrate_pages mount mount_setattr \
move_mount move_pages nfsservctl open_by_handle_at open_tree perf_event_open pidfd_getfd \
pivot_root process_madvise putpmsg query_module quotactl quotactl_fd reboot request_key security \
set_mempolicy set_mempolicy_home_node setdomainname sethostname setns settimeofday swapoff \
swapon sysfs syslog tuxcall umount2 unshare uselib userfaultfd ustat vhangup vserver";

/// Syscalls newer than that list (Linux 6.8, 6.15, 6.17) that the current profile blocks too:
/// lsm_* are in its CAP_SYS_ADMIN group, the others it does not name.
const BLOCKED_NEWER: [&str; 6] = [
    "lsm_get_self_attr",
    "lsm_set_self_attr",
    "lsm_list_modules",
    "open_tree_attr",
    "file_getattr",
    "file_setattr",
];

fn caps(extra: &[&str]) -> Vec<String> {
    DOCKER_CAPS
        .iter()
        .chain(extra)
        .map(|c| c.to_string())
        .collect()
}

fn filter(extra: &[&str]) -> Filter {
    let mut ctx = profile::Context::new(&caps(extra));
    ctx.kernel = (6, 1);
    let p = profile::parse(DOCKER_DEFAULT_JSON.as_bytes()).unwrap();
    Filter::from_resolved(p.resolve(&ctx).unwrap()).unwrap()
}

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

fn nr(name: &str) -> i64 {
    syscalls::number(name).unwrap()
}

fn blocked(f: &Filter) -> BTreeSet<&'static str> {
    syscalls::X86_64
        .iter()
        .filter(|(_, n)| f.evaluate(*n, &[]) != Some(ALLOW))
        .map(|(name, _)| *name)
        .collect()
}

#[test]
fn default_blocks_exactly_dockers_list() {
    let f = filter(&[]);
    let got = blocked(&f);
    let mut want: BTreeSet<&str> = BLOCKED_67.split_whitespace().collect();
    assert_eq!(want.len(), 67);
    want.extend(BLOCKED_NEWER);
    assert_eq!(
        got,
        want,
        "extra: {:?}, missing: {:?}",
        got.difference(&want),
        want.difference(&got)
    );
    // everything else is allowed (with zero arguments, which all the arg filters accept)
    assert_eq!(syscalls::X86_64.len() - got.len(), 382 - 73);
    // every blocked call answers EPERM, except clone3's ENOSYS
    for name in &got {
        let want = if *name == "clone3" { ENOSYS } else { EPERM };
        assert_eq!(f.evaluate(nr(name), &[]), Some(want), "{name}");
    }
    // unknown numbers (beyond the table) are refused
    assert_eq!(f.evaluate(470, &[]), Some(EPERM));
    assert_eq!(f.evaluate(1000, &[]), Some(EPERM));
}

#[test]
fn unconditional_allow_count() {
    // security-defaults.md: 292 x86_64 syscalls allowed unconditionally, against its list's
    // kernel; the current profile adds the newer ones it names.
    let p = profile::parse(DOCKER_DEFAULT_JSON.as_bytes()).unwrap();
    let r = p.resolve(&profile::Context::new(&caps(&[]))).unwrap();
    let uncond: BTreeSet<&str> = r
        .rules
        .iter()
        .filter(|r| r.action == Action::Allow && r.conds.is_empty())
        .flat_map(|r| r.names.iter())
        .filter_map(|n| syscalls::number(n).map(|_| n.as_str()))
        .collect();
    let with_args = ["socket", "personality", "clone"];
    assert!(with_args.iter().all(|n| !uncond.contains(n)));
    eprintln!("unconditionally allowed on x86_64: {}", uncond.len());
    assert_eq!(uncond.len(), syscalls::X86_64.len() - 73 - with_args.len());
    // the reference's 292, plus the 14 syscalls (Linux 6.5-6.13) the profile has named since
    let newer = [
        "cachestat",
        "fchmodat2",
        "map_shadow_stack",
        "futex_wake",
        "futex_wait",
        "futex_requeue",
        "statmount",
        "listmount",
        "mseal",
        "setxattrat",
        "getxattrat",
        "listxattrat",
        "removexattrat",
        "uretprobe",
    ];
    assert!(newer.iter().all(|n| uncond.contains(n)));
    assert_eq!(uncond.len() - newer.len(), 292);
}

#[test]
fn cap_sys_admin_opens_its_group() {
    let plain = filter(&[]);
    let admin = filter(&["CAP_SYS_ADMIN"]);
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "bpf",
        "fsopen",
        "sethostname",
        "syslog",
    ] {
        assert_eq!(plain.evaluate(nr(name), &[]), Some(EPERM), "{name}");
        assert_eq!(admin.evaluate(nr(name), &[]), Some(ALLOW), "{name}");
    }
    // clone with namespace flags: refused without SYS_ADMIN, allowed with it
    let newns = libc::CLONE_NEWNS as u64 | libc::SIGCHLD as u64;
    assert_eq!(plain.evaluate(nr("clone"), &[newns]), Some(EPERM));
    assert_eq!(admin.evaluate(nr("clone"), &[newns]), Some(ALLOW));
    assert_eq!(plain.evaluate(nr("clone3"), &[]), Some(ENOSYS));
    assert_eq!(admin.evaluate(nr("clone3"), &[]), Some(ALLOW));
    // still refused with SYS_ADMIN
    for name in [
        "keyctl",
        "kexec_load",
        "reboot",
        "init_module",
        "io_uring_setup",
    ] {
        assert_eq!(admin.evaluate(nr(name), &[]), Some(EPERM), "{name}");
    }
}

#[test]
fn other_caps_open_their_groups() {
    let cases: [(&str, &[&str]); 10] = [
        (
            "CAP_SYS_PTRACE",
            &["kcmp", "pidfd_getfd", "process_madvise"],
        ),
        (
            "CAP_SYS_MODULE",
            &["init_module", "finit_module", "delete_module"],
        ),
        ("CAP_SYS_BOOT", &["reboot"]),
        ("CAP_SYS_TIME", &["settimeofday", "clock_settime"]),
        ("CAP_SYS_NICE", &["mbind", "get_mempolicy", "set_mempolicy"]),
        ("CAP_SYSLOG", &["syslog"]),
        ("CAP_SYS_PACCT", &["acct"]),
        ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
        ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
        ("CAP_BPF", &["bpf"]),
    ];
    let plain = filter(&[]);
    for (cap, names) in cases {
        let f = filter(&[cap]);
        for name in names {
            assert_eq!(plain.evaluate(nr(name), &[]), Some(EPERM), "{cap} {name}");
            assert_eq!(f.evaluate(nr(name), &[]), Some(ALLOW), "{cap} {name}");
        }
    }
    assert_eq!(
        filter(&["CAP_PERFMON"]).evaluate(nr("perf_event_open"), &[]),
        Some(ALLOW)
    );
    assert_eq!(
        filter(&["CAP_SYS_TTY_CONFIG"]).evaluate(nr("vhangup"), &[]),
        Some(ALLOW)
    );
    // excludes.caps: without SYS_CHROOT (a --cap-drop), chroot is refused
    let mut ctx = profile::Context::new(&["CAP_CHOWN".to_string()]);
    ctx.kernel = (6, 1);
    let p = profile::parse(DOCKER_DEFAULT_JSON.as_bytes()).unwrap();
    let f = Filter::from_resolved(p.resolve(&ctx).unwrap()).unwrap();
    assert_eq!(f.evaluate(nr("chroot"), &[]), Some(EPERM));
    assert_eq!(filter(&[]).evaluate(nr("chroot"), &[]), Some(ALLOW));
}

#[test]
fn argument_filters() {
    let f = filter(&[]);
    let socket = nr("socket");
    for (family, want) in [
        (libc::AF_UNIX, ALLOW),
        (libc::AF_INET, ALLOW),
        (libc::AF_INET6, ALLOW),
        (libc::AF_NETLINK, ALLOW),
        (libc::AF_PACKET, ALLOW),
        (libc::AF_VSOCK, EPERM),
        (libc::AF_ALG, EPERM),
        (46, EPERM),
    ] {
        assert_eq!(
            f.evaluate(socket, &[family as u64, libc::SOCK_STREAM as u64]),
            Some(want),
            "AF {family}"
        );
    }
    // 64-bit comparison: garbage in the high half is not AF_INET
    assert_eq!(f.evaluate(socket, &[(1 << 32) | 2]), Some(EPERM));
    let pers = nr("personality");
    for (v, want) in [
        (0x0, ALLOW),
        (0x8, ALLOW),
        (0x20000, ALLOW),
        (0x20008, ALLOW),
        (0xffff_ffff, ALLOW),
        (0x1234, EPERM),
        (0x0040_0000, EPERM),
    ] {
        assert_eq!(f.evaluate(pers, &[v]), Some(want), "personality {v:#x}");
    }
    let clone = nr("clone");
    assert_eq!(
        f.evaluate(
            clone,
            &[(libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64]
        ),
        Some(ALLOW)
    );
    for flag in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWCGROUP,
        libc::CLONE_NEWNS,
    ] {
        assert_eq!(
            f.evaluate(clone, &[flag as u64]),
            Some(EPERM),
            "clone {flag:#x}"
        );
    }
}

#[test]
fn i386_and_x32_calls_get_the_same_answers_as_native_ones() {
    use arch::Arch;
    for extra in [&[][..], &["CAP_SYS_ADMIN"], &["CAP_SYS_PTRACE", "CAP_BPF"]] {
        let f = filter(extra);
        for abi in [Arch::I386, Arch::X32] {
            for &(name, number) in abi.table() {
                let got = f.evaluate_on(abi, number, &[]);
                match syscalls::number(name) {
                    Some(native) => {
                        assert_eq!(
                            got,
                            f.evaluate(native, &[]),
                            "{name} on {abi:?}, +{extra:?}"
                        )
                    }
                    // 32-bit-only names: what the profile says of them
                    None => assert!(got == Some(ALLOW) || got == Some(EPERM), "{name}"),
                }
            }
        }
    }
    let f = filter(&[]);
    let i386 = |name: &str| f.evaluate_on(Arch::I386, Arch::I386.number(name).unwrap().into(), &[]);
    for name in [
        "socketcall",
        "ipc",
        "mmap2",
        "fstat64",
        "_llseek",
        "chown32",
        "waitpid",
    ] {
        assert_eq!(i386(name), Some(ALLOW), "{name}");
    }
    for name in ["mount", "keyctl", "umount", "kexec_load", "unshare"] {
        assert_eq!(i386(name), Some(EPERM), "{name}");
    }
    // the i386 argument checks compare 32-bit arguments
    let pers = Arch::I386.number("personality").unwrap().into();
    assert_eq!(f.evaluate_on(Arch::I386, pers, &[0xffff_ffff]), Some(ALLOW));
    assert_eq!(f.evaluate_on(Arch::I386, pers, &[0x1234]), Some(EPERM));
    let clone = Arch::I386.number("clone").unwrap().into();
    assert_eq!(
        f.evaluate_on(Arch::I386, clone, &[libc::CLONE_NEWNS as u64]),
        Some(EPERM)
    );
    assert_eq!(
        f.evaluate_on(Arch::I386, clone, &[libc::SIGCHLD as u64]),
        Some(ALLOW)
    );
    // x32-only numbers and numbers beyond every table
    assert_eq!(f.evaluate_on(Arch::X32, 521, &[]), Some(ALLOW)); // ptrace
    assert_eq!(f.evaluate_on(Arch::X32, 600, &[]), Some(EPERM));
    assert_eq!(f.evaluate(-1, &[]), Some(EPERM));
    // an ABI no profile can cover
    let mut d = emulate::SeccompData::x86_64(0, &[]);
    d.arch = 0xC000_00B7; // AUDIT_ARCH_AARCH64
    assert_eq!(
        emulate::run(f.program(), &d),
        Some(libc::SECCOMP_RET_KILL_PROCESS)
    );
}

#[test]
fn abis_a_profile_leaves_out_kill() {
    use arch::Arch;
    let json = br#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
        "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
    let f = from_profile_json(json, &[]).unwrap();
    let kill = Some(libc::SECCOMP_RET_KILL_PROCESS);
    assert_eq!(f.evaluate(nr("getpid"), &[]), Some(ALLOW));
    assert_eq!(f.evaluate_on(Arch::X32, nr("getpid"), &[]), kill);
    assert_eq!(f.evaluate_on(Arch::I386, 20, &[]), kill);
    assert_eq!(f.evaluate(-1, &[]), kill, "-1 has the x32 bit");
    let json =
        br#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
        "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
    let f = from_profile_json(json, &[]).unwrap();
    assert_eq!(f.evaluate_on(Arch::I386, 39, &[]), Some(EPERM)); // i386 mkdir
    assert_eq!(f.evaluate_on(Arch::I386, 20, &[]), Some(ALLOW));
    assert_eq!(f.evaluate_on(Arch::X32, nr("getpid"), &[]), kill);
    let both = br#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
        "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}]}"#;
    let e = from_profile_json(both, &[]).unwrap_err().to_string();
    assert!(e.contains("archMap"), "{e}");
}

#[test]
fn instruction_count_is_well_under_the_limit() {
    for extra in [
        &[][..],
        &["CAP_SYS_ADMIN"],
        &[
            "CAP_SYS_ADMIN",
            "CAP_SYS_PTRACE",
            "CAP_SYS_MODULE",
            "CAP_SYS_TIME",
            "CAP_SYS_NICE",
            "CAP_BPF",
            "CAP_PERFMON",
        ],
    ] {
        let f = filter(extra);
        eprintln!("caps +{extra:?}: {} BPF instructions", f.instructions());
        // three ABIs in ~730; the x86_64-only chains of JEQs this replaced took 1857
        assert!(f.instructions() < 1024, "{}", f.instructions());
    }
    assert!(docker_default(&caps(&[])).unwrap().instructions() < MAX_INSTRUCTIONS);
}

#[test]
fn custom_profiles() {
    // a blocklist profile: default allow, a kill and an errno rule, ANDed args
    let json = br#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
      "syscalls":[
        {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
        {"name":"chmod","action":"SCMP_ACT_KILL_PROCESS"},
        {"names":["write"],"action":"SCMP_ACT_ERRNO",
         "args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":2,"value":100,"op":"SCMP_CMP_GT"}]},
        {"names":["chown32","getpid"],"action":"SCMP_ACT_ALLOW"}]}"#;
    let f = from_profile_json(json, &[]).unwrap();
    assert_eq!(
        f.evaluate(nr("mkdir"), &[]),
        Some(libc::SECCOMP_RET_ERRNO | 13)
    );
    assert_eq!(
        f.evaluate(nr("chmod"), &[]),
        Some(libc::SECCOMP_RET_KILL_PROCESS)
    );
    assert_eq!(f.evaluate(nr("write"), &[2, 0, 101]), Some(EPERM));
    assert_eq!(f.evaluate(nr("write"), &[2, 0, 100]), Some(ALLOW)); // AND: second fails
    assert_eq!(f.evaluate(nr("write"), &[1, 0, 101]), Some(ALLOW)); // AND: first fails
    assert_eq!(f.evaluate(nr("read"), &[]), Some(ALLOW));
    assert_eq!(f.skipped(), ["chown32"]);
    // x32 is not covered: its calls kill, even with a default-allow profile
    assert_eq!(
        f.evaluate_on(arch::Arch::X32, nr("mkdir"), &[]),
        Some(libc::SECCOMP_RET_KILL_PROCESS)
    );
    // the stricter action wins when a syscall is in two groups; rules of one syscall are ORed
    let json = br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["read"],"action":"SCMP_ACT_ALLOW"},
        {"names":["read"],"action":"SCMP_ACT_TRAP","args":[{"index":0,"value":7,"op":"SCMP_CMP_EQ"}]},
        {"names":["ioctl"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":5,"op":"SCMP_CMP_LE"}]},
        {"names":["ioctl"],"action":"SCMP_ACT_ALLOW","args":[{"index":1,"value":4294967296,"op":"SCMP_CMP_GE"}]},
        {"names":["mmap"],"action":"SCMP_ACT_LOG","args":[{"index":2,"value":4,"valueTwo":4,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#;
    let f = from_profile_json(json, &[]).unwrap();
    assert_eq!(f.evaluate(nr("read"), &[7]), Some(libc::SECCOMP_RET_TRAP));
    assert_eq!(f.evaluate(nr("read"), &[3]), Some(ALLOW));
    assert_eq!(f.evaluate(nr("ioctl"), &[0, 5]), Some(ALLOW));
    assert_eq!(f.evaluate(nr("ioctl"), &[0, 6]), Some(EPERM));
    assert_eq!(f.evaluate(nr("ioctl"), &[0, 1 << 33]), Some(ALLOW));
    assert_eq!(
        f.evaluate(nr("mmap"), &[0, 0, 7]),
        Some(libc::SECCOMP_RET_LOG)
    );
    assert_eq!(f.evaluate(nr("mmap"), &[0, 0, 3]), Some(EPERM));
    // nothing but a default
    let f = from_profile_json(
        br#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38}"#,
        &[],
    )
    .unwrap();
    assert_eq!(f.evaluate(0, &[]), Some(ENOSYS));
    assert_eq!(ret_value(Action::Errno(38)), ENOSYS);
}

#[test]
fn option_values() {
    assert_eq!(SeccompOpt::parse(None), SeccompOpt::Default);
    assert_eq!(
        SeccompOpt::parse(Some("unconfined")),
        SeccompOpt::Unconfined
    );
    assert!(for_option(&SeccompOpt::Unconfined, &[]).unwrap().is_none());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, br#"{"defaultAction":"SCMP_ACT_FOO"}"#).unwrap();
    let e = for_option(&SeccompOpt::File(path.display().to_string()), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.json") && e.contains("SCMP_ACT_FOO"), "{e}");
    let e = for_option(&SeccompOpt::File("/nonexistent.json".into()), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent.json"), "{e}");
}

#[test]
fn embedded_profile_is_moby_s() {
    assert_eq!(DOCKER_DEFAULT_JSON.len(), 17219);
    assert!(DOCKER_DEFAULT_JSON.contains("\"SCMP_ARCH_LOONGARCH64\""));
}

/// The meaning of resolved rules, computed directly for a call of `abi`: the stricter action
/// among matching rules (leaving out those with the default action, as runc does), else the
/// default; a call of an ABI the profile does not cover kills.
/// `numbers`: each rule's numbers on `abi`; `x32_numbers`: on x32.
fn reference(
    r: &profile::Resolved,
    abi: arch::Arch,
    numbers: &[Vec<u32>],
    x32_numbers: &[Vec<u32>],
    nr: i64,
    args: &[u64; 6],
) -> u32 {
    use profile::Cmp;
    // On the x86_64 entry, a number with the x32 bit is an x32 call.
    let (abi, numbers) = match abi {
        arch::Arch::X86_64 if nr as u32 & arch::X32_SYSCALL_BIT != 0 => {
            (arch::Arch::X32, x32_numbers)
        }
        other => (other, numbers),
    };
    if !r.arches.contains(&abi) {
        return libc::SECCOMP_RET_KILL_PROCESS;
    }
    let holds = |c: &profile::Cond| {
        let mut a = args[c.index as usize];
        let fits = |x: u64| x <= u64::from(u32::MAX);
        let narrow = abi.is_32_bit()
            && match c.cmp {
                Cmp::MaskedEq { mask, value } => fits(mask) && fits(value),
                Cmp::Eq(v) | Cmp::Ne(v) | Cmp::Lt(v) | Cmp::Le(v) | Cmp::Gt(v) | Cmp::Ge(v) => {
                    fits(v)
                }
            };
        if narrow {
            a &= u64::from(u32::MAX);
        }
        match c.cmp {
            Cmp::Eq(v) => a == v,
            Cmp::Ne(v) => a != v,
            Cmp::Lt(v) => a < v,
            Cmp::Le(v) => a <= v,
            Cmp::Gt(v) => a > v,
            Cmp::Ge(v) => a >= v,
            Cmp::MaskedEq { mask, value } => a & mask == value & mask,
        }
    };
    let number = emulate::SeccompData::new(abi, nr, &[]).nr as u32;
    r.rules
        .iter()
        .zip(numbers)
        .filter(|(rule, numbers)| rule.action != r.default_action && numbers.contains(&number))
        .map(|(rule, _)| rule)
        .filter(|rule| rule.conds.iter().all(holds))
        .map(|rule| rule.action)
        .min()
        .map_or(ret_value(r.default_action), ret_value)
}

#[test]
fn compiled_program_matches_the_rules_everywhere() {
    let argsets: Vec<[u64; 6]> = vec![
        [0; 6],
        [1, 2, 3, 4, 5, 6],
        [2, 1, 0, 0, 0, 0],
        [11, 0, 0, 0, 0, 0],
        [12, 0, 0, 0, 0, 0],
        [38, 0, 0, 0, 0, 0],
        [40, 0, 0, 0, 0, 0],
        [45, 0, 0, 0, 0, 0],
        [46, 0, 0, 0, 0, 0],
        [0x8, 0, 0, 0, 0, 0],
        [0x20008, 0, 0, 0, 0, 0],
        [0xffff_ffff, 0, 0, 0, 0, 0],
        [0x1_ffff_ffff, 0, 0, 0, 0, 0],
        [0x1234, 0, 0, 0, 0, 0],
        [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0],
        [0x0100_0000 | libc::SIGCHLD as u64, 0, 0, 0, 0, 0],
        [0x7E02_0000, 0, 0, 0, 0, 0],
        [u64::MAX; 6],
    ];
    let nrs: Vec<i64> = (0..600).chain([0x3fff_ffff, 0x7fff_ffff]).collect();
    let profiles: [&[u8]; 3] = [
        DOCKER_DEFAULT_JSON.as_bytes(),
        // x86_64 alone, several actions on one syscall, 64-bit values on a 32-bit ABI
        br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["read","chown32"],"action":"SCMP_ACT_ERRNO","errnoRet":5,"args":[{"index":0,"value":7,"op":"SCMP_CMP_GE"}]},
            {"names":["read"],"action":"SCMP_ACT_TRAP","args":[{"index":0,"value":11,"op":"SCMP_CMP_EQ"}]},
            {"names":["write"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
        br#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[
            {"names":["read","write","getpid","clone","personality"],"action":"SCMP_ACT_ALLOW"},
            {"names":["read"],"action":"SCMP_ACT_LOG","args":[{"index":0,"value":4294967296,"op":"SCMP_CMP_LT"}]},
            {"names":["write"],"action":"SCMP_ACT_TRAP","args":[{"index":1,"value":4294967295,"valueTwo":2,"op":"SCMP_CMP_MASKED_EQ"}]},
            {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":4294967297,"op":"SCMP_CMP_NE"}]}]}"#,
    ];
    for (i, json) in profiles.iter().enumerate() {
        let p = profile::parse(json).unwrap();
        for extra in [&[][..], &["CAP_SYS_ADMIN"], &["CAP_SYS_PTRACE", "CAP_BPF"]] {
            let mut ctx = profile::Context::new(&caps(extra));
            ctx.kernel = (6, 1);
            let r = p.resolve(&ctx).unwrap();
            let f = Filter::from_resolved(r.clone()).unwrap();
            let numbers = |abi: arch::Arch| -> Vec<Vec<u32>> {
                r.rules
                    .iter()
                    .map(|rule| rule.names.iter().filter_map(|n| abi.number(n)).collect())
                    .collect()
            };
            let x32 = numbers(arch::Arch::X32);
            for abi in arch::Arch::ALL {
                let on_abi = numbers(abi);
                for &nr in &nrs {
                    for args in &argsets {
                        let want = reference(&r, abi, &on_abi, &x32, nr, args);
                        assert_eq!(
                            f.evaluate_on(abi, nr, args),
                            Some(want),
                            "profile {i} caps +{extra:?} {abi:?} nr {nr} args {args:?}"
                        );
                    }
                }
            }
        }
    }
}
