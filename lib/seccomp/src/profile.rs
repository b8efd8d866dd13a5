//! Docker's seccomp profile format (`profiles/seccomp/default.json`, `--security-opt
//! seccomp=FILE.json`): parsing, and resolution of one profile for one container (its
//! capabilities, x86_64, the running kernel) into plain rules.
//!
//! Resolution follows moby's `profiles/seccomp` (setupSeccomp): a rule is skipped when
//! `excludes.arches` names this arch, when *any* of `excludes.caps` is held, or when the kernel
//! is at least `excludes.minKernel`; it is kept only if `includes.arches` (when given) names
//! this arch, *all* of `includes.caps` are held, and the kernel is at least
//! `includes.minKernel`. Capabilities are those of the container's bounding set.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::arch::Arch;
use crate::Error;

/// A whole profile, as Docker reads it. Unknown fields (`listenerPath`, `flags`, comments) are
/// ignored, as Docker does.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    pub syscalls: Option<Vec<SyscallRule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// One entry of `syscalls`. `name` is the old single-name form, still accepted by Docker.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub names: Option<Vec<String>>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<Arg>>,
    #[serde(default)]
    pub includes: Option<Filter>,
    #[serde(default)]
    pub excludes: Option<Filter>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// `includes` / `excludes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub caps: Option<Vec<String>>,
    #[serde(default)]
    pub arches: Option<Vec<String>>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// What a matching rule does (libseccomp's actions, as Docker names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Ordered from the most restrictive: see `compile`.
    KillProcess,
    KillThread,
    Trap,
    Errno(u32),
    Trace(u32),
    Log,
    Allow,
}

/// An argument comparison on the full 64-bit argument, as libseccomp does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    Eq(u64),
    Ne(u64),
    Lt(u64),
    Le(u64),
    Gt(u64),
    Ge(u64),
    /// `arg & mask == value`
    MaskedEq {
        mask: u64,
        value: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cond {
    pub index: u8,
    pub cmp: Cmp,
}

/// One rule after resolution: its conditions are ANDed; several rules for one syscall are ORed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Position in the profile's `syscalls` array (for error messages).
    pub index: usize,
    pub names: Vec<String>,
    pub action: Action,
    pub conds: Vec<Cond>,
}

/// A profile resolved for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub default_action: Action,
    pub rules: Vec<Rule>,
    /// The system call ABIs the filter covers; calls of any other one kill the process.
    pub arches: BTreeSet<Arch>,
}

/// What the rules are resolved against.
#[derive(Debug, Clone)]
pub struct Context {
    /// Capabilities of the bounding set, normalised to `CAP_XXX`.
    pub caps: Vec<String>,
    /// Go's name of the architecture (`amd64`), as Docker's `includes.arches` use.
    pub arch: &'static str,
    /// (major, minor) of the running kernel.
    pub kernel: (u32, u32),
}

impl Context {
    /// x86_64, the running kernel, and `caps` (`CAP_SYS_ADMIN` or `SYS_ADMIN`, any case).
    pub fn new(caps: &[String]) -> Self {
        Context {
            caps: caps.iter().map(|c| normalise_cap(c)).collect(),
            arch: "amd64",
            kernel: running_kernel(),
        }
    }

    fn has_cap(&self, cap: &str) -> bool {
        let cap = normalise_cap(cap);
        self.caps.contains(&cap)
    }

    fn is_arch(&self, arch: &str) -> bool {
        arch == self.arch || (self.arch == "amd64" && arch == "x86_64")
    }
}

/// `sys_admin` -> `CAP_SYS_ADMIN`.
pub fn normalise_cap(cap: &str) -> String {
    let up = cap.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// (major, minor) from uname's release, (0, 0) if unreadable (then no `minKernel` rule applies).
pub fn running_kernel() -> (u32, u32) {
    let uts = rustix::system::uname();
    parse_kernel(&uts.release().to_string_lossy()).unwrap_or((0, 0))
}

/// "4.8" or "6.18.44-fc" -> (major, minor).
pub fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Parses a profile (the JSON Docker's `--security-opt seccomp=FILE` takes).
pub fn parse(json: &[u8]) -> Result<Profile, Error> {
    serde_json::from_slice(json).map_err(|source| Error::Json { source })
}

fn action(name: &str, errno: Option<u32>, rule: Option<usize>) -> Result<Action, Error> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_TRACE" => Action::Trace(errno),
        "SCMP_ACT_LOG" => Action::Log,
        other => {
            return Err(Error::UnknownAction {
                rule,
                action: other.to_string(),
            })
        }
    })
}

fn cond(arg: &Arg, rule: usize, syscall: &str) -> Result<Cond, Error> {
    if arg.index > 5 {
        return Err(Error::ArgIndex {
            rule,
            syscall: syscall.to_string(),
            index: arg.index,
        });
    }
    let v = arg.value;
    let cmp = match arg.op.as_str() {
        "SCMP_CMP_EQ" => Cmp::Eq(v),
        "SCMP_CMP_NE" => Cmp::Ne(v),
        "SCMP_CMP_LT" => Cmp::Lt(v),
        "SCMP_CMP_LE" => Cmp::Le(v),
        "SCMP_CMP_GT" => Cmp::Gt(v),
        "SCMP_CMP_GE" => Cmp::Ge(v),
        "SCMP_CMP_MASKED_EQ" => Cmp::MaskedEq {
            mask: v,
            value: arg.value_two,
        },
        other => {
            return Err(Error::UnknownOperator {
                rule,
                syscall: syscall.to_string(),
                op: other.to_string(),
            })
        }
    };
    Ok(Cond {
        index: arg.index as u8,
        cmp,
    })
}

fn min_kernel(s: &str, rule: usize) -> Result<(u32, u32), Error> {
    parse_kernel(s).ok_or_else(|| Error::MinKernel {
        rule,
        value: s.to_string(),
    })
}

/// Whether rule `i` applies to the container described by `ctx` (moby's include/exclude logic).
fn applies(r: &SyscallRule, i: usize, ctx: &Context) -> Result<bool, Error> {
    if let Some(ex) = &r.excludes {
        if ex.arches.iter().flatten().any(|a| ctx.is_arch(a)) {
            return Ok(false);
        }
        if ex.caps.iter().flatten().any(|c| ctx.has_cap(c)) {
            return Ok(false);
        }
        if let Some(k) = &ex.min_kernel {
            if ctx.kernel >= min_kernel(k, i)? {
                return Ok(false);
            }
        }
    }
    if let Some(inc) = &r.includes {
        if let Some(arches) = &inc.arches {
            if !arches.is_empty() && !arches.iter().any(|a| ctx.is_arch(a)) {
                return Ok(false);
            }
        }
        if !inc.caps.iter().flatten().all(|c| ctx.has_cap(c)) {
            return Ok(false);
        }
        if let Some(k) = &inc.min_kernel {
            if ctx.kernel < min_kernel(k, i)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

impl Profile {
    /// The rules that apply to `ctx`, with actions and conditions checked. Every rule is
    /// validated (action, operators, indexes), even those that do not apply, so a bad profile
    /// fails the same way whatever the container's capabilities.
    pub fn resolve(&self, ctx: &Context) -> Result<Resolved, Error> {
        if self.architectures.as_ref().is_some_and(|a| !a.is_empty())
            && self.arch_map.as_ref().is_some_and(|m| !m.is_empty())
        {
            return Err(Error::ArchitecturesAndArchMap);
        }
        let default_action = action(&self.default_action, self.default_errno_ret, None)?;
        let mut rules = Vec::new();
        for (i, r) in self.syscalls.iter().flatten().enumerate() {
            let names: Vec<String> = r
                .names
                .iter()
                .flatten()
                .chain(r.name.iter())
                .filter(|n| !n.is_empty())
                .cloned()
                .collect();
            if names.is_empty() {
                return Err(Error::NoNames { rule: i });
            }
            let act = action(&r.action, r.errno_ret, Some(i))?;
            let conds = r
                .args
                .iter()
                .flatten()
                .map(|a| cond(a, i, &names[0]))
                .collect::<Result<Vec<_>, _>>()?;
            if applies(r, i, ctx)? {
                rules.push(Rule {
                    index: i,
                    names,
                    action: act,
                    conds,
                });
            }
        }
        Ok(Resolved {
            default_action,
            rules,
            arches: crate::arch::covered(self),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(caps: &[&str]) -> Context {
        Context {
            caps: caps.iter().map(|c| normalise_cap(c)).collect(),
            arch: "amd64",
            kernel: (6, 1),
        }
    }

    #[test]
    fn parses_docker_default() {
        let p = parse(crate::DOCKER_DEFAULT_JSON.as_bytes()).unwrap();
        assert_eq!(p.default_action, "SCMP_ACT_ERRNO");
        assert_eq!(p.default_errno_ret, Some(1));
        assert_eq!(
            p.arch_map.as_ref().unwrap()[0].architecture,
            "SCMP_ARCH_X86_64"
        );
        let r = p.resolve(&ctx(&[])).unwrap();
        assert_eq!(r.default_action, Action::Errno(1));
        let clone3 = r.rules.iter().find(|r| r.names == ["clone3"]).unwrap();
        assert_eq!(clone3.action, Action::Errno(38));
        let clone = r.rules.iter().find(|r| r.names == ["clone"]).unwrap();
        assert_eq!(
            clone.conds,
            [Cond {
                index: 0,
                cmp: Cmp::MaskedEq {
                    mask: 0x7E02_0000,
                    value: 0
                }
            }]
        );
    }

    #[test]
    fn caps_and_kernel_gate_rules() {
        let p = parse(crate::DOCKER_DEFAULT_JSON.as_bytes()).unwrap();
        let has = |r: &Resolved, name: &str| {
            r.rules
                .iter()
                .any(|x| x.action == Action::Allow && x.names.iter().any(|n| n == name))
        };
        let plain = p.resolve(&ctx(&["CAP_CHOWN"])).unwrap();
        let admin = p.resolve(&ctx(&["sys_admin"])).unwrap();
        assert!(!has(&plain, "mount") && has(&admin, "mount"));
        assert!(!has(&plain, "unshare") && has(&admin, "unshare"));
        // clone: arg filter without SYS_ADMIN, unconditional with it; clone3 ENOSYS only without
        assert!(plain
            .rules
            .iter()
            .any(|r| r.names == ["clone"] && !r.conds.is_empty()));
        assert!(!admin
            .rules
            .iter()
            .any(|r| r.names == ["clone"] && !r.conds.is_empty()));
        assert!(!admin.rules.iter().any(|r| r.action == Action::Errno(38)));
        let ptrace = p.resolve(&ctx(&["CAP_SYS_PTRACE"])).unwrap();
        assert!(has(&ptrace, "kcmp") && !has(&plain, "kcmp"));
        // minKernel 4.8 for ptrace
        let mut old = ctx(&[]);
        old.kernel = (4, 4);
        assert!(!has(&p.resolve(&old).unwrap(), "ptrace"));
        assert!(has(&plain, "ptrace"));
    }

    #[test]
    fn bad_profiles_name_the_rule() {
        let bad = br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_LIKE"}]}]}"#;
        let e = parse(bad)
            .unwrap()
            .resolve(&ctx(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("rule 1") && e.contains("socket") && e.contains("SCMP_CMP_LIKE"),
            "{e}"
        );
        let bad = br#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#;
        assert!(parse(bad).unwrap().resolve(&ctx(&[])).is_err());
        let bad = br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#;
        assert!(matches!(
            parse(bad).unwrap().resolve(&ctx(&[])),
            Err(Error::ArgIndex { index: 6, .. })
        ));
        assert!(matches!(parse(b"{"), Err(Error::Json { .. })));
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_kernel("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("5"), Some((5, 0)));
        assert_eq!(parse_kernel("x"), None);
    }
}
