//! A bundle's config.json onto berth-process's `ContainerSpec`. berth's isolation makes the
//! standard container filesystem itself (/proc, /dev with its nodes, /dev/pts, /dev/shm,
//! /dev/mqueue, /sys, /sys/fs/cgroup), so the spec's entries for those are checked to be
//! the standard ones and taken as done; binds and tmpfs mounts are berth-rootfs's entries.
//! What cannot be honoured yet is refused, naming the field: never silently dropped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use berth_common::{MountEntry, MountKind};
use berth_process::gate::CapSets;
use berth_process::join::ByPath;
use berth_process::NetworkMode;
use oci_spec::runtime::{LinuxNamespaceType, Mount, Process, Spec};

use crate::OciError;

/// A loaded bundle: its directory (absolute), the spec, the rootfs (absolute, checked to
/// be a directory).
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

pub fn load(bundle: &Path) -> Result<Bundle, OciError> {
    let dir = std::fs::canonicalize(bundle).map_err(OciError::io("open the bundle", bundle))?;
    let path = dir.join("config.json");
    let text = std::fs::read(&path).map_err(OciError::io("read", &path))?;
    let spec: Spec = serde_json::from_slice(&text).map_err(|e| OciError::Config {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| OciError::unsupported("root", "is required on Linux"))?;
    let given = dir.join(root.path());
    let rootfs = std::fs::canonicalize(&given).map_err(OciError::io("root.path", &given))?;
    if !rootfs.is_dir() {
        return Err(OciError::unsupported(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    Ok(Bundle { dir, spec, rootfs })
}

/// What the spec asks of the process and its isolation, besides the cgroups.
pub struct Mapped {
    pub spec: berth_process::ContainerSpec,
    pub terminal: bool,
    pub oom_score_adj: Option<i32>,
    pub caps: CapSets,
    pub additional_gids: Vec<u32>,
    /// `linux.sysctl`, checked to be namespaced ones.
    pub sysctl: std::collections::HashMap<String, String>,
    /// The AppArmor or SELinux label for the command (`lsm`).
    pub exec_label: Option<(PathBuf, String)>,
}

pub fn process(spec: &Spec) -> Result<&Process, OciError> {
    spec.process()
        .as_ref()
        .ok_or_else(|| OciError::unsupported("process", "is required to create a container"))
}

/// The `ContainerSpec` for `bundle` (without its gate, which `create` adds).
pub fn map(bundle: &Bundle) -> Result<Mapped, OciError> {
    let spec = &bundle.spec;
    let exec_label = crate::lsm::exec_label(spec, &crate::lsm::Host::this())?;
    let process = process(spec)?;
    let (network, joined) = namespaces(spec)?;
    let sysctl = linux_sysctl(spec);
    crate::sysctl::check(&sysctl, network != NetworkMode::Host)?;
    let (mounts, shm_size) = mounts(spec.mounts().as_deref().unwrap_or_default(), &bundle.dir)?;
    let linux = spec.linux().as_ref();
    let masked = linux
        .and_then(|l| l.masked_paths().as_ref())
        .is_some_and(|m| !m.is_empty());
    let read_only = linux
        .and_then(|l| l.readonly_paths().as_ref())
        .is_some_and(|m| !m.is_empty());
    let caps = capabilities(process)?;
    let user = process.user();
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(OciError::unsupported("process.args", "is empty"));
    }
    let cwd = process.cwd().display().to_string();
    if !cwd.starts_with('/') {
        return Err(OciError::unsupported(
            "process.cwd",
            format!("{cwd:?} is not absolute"),
        ));
    }
    let hostname = match spec.hostname() {
        Some(name) => name.clone(),
        // A joined one keeps its own.
        None if joined.uts.is_some() => String::new(),
        // The container's UTS namespace starts as a copy of ours: keep the name.
        None => rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
    };
    let seccomp = seccomp(spec, &caps)?;
    let container = berth_process::ContainerSpec {
        rootfs: bundle.rootfs.clone(),
        mounts,
        readonly: spec
            .root()
            .as_ref()
            .is_some_and(|r| r.readonly().unwrap_or(false)),
        // berth's masked and read-only paths are one set (docker's, a superset of runc's
        // default): the spec turns them on or off.
        privileged: !masked && !read_only,
        network,
        etc_files: Vec::new(),
        shm_size,
        hostname,
        args,
        env: process.env().clone().unwrap_or_default(),
        cwd,
        user: format!("{}:{}", user.uid(), user.gid()),
        caps: caps.bounding.clone(),
        no_new_privs: process.no_new_privileges().unwrap_or(false),
        seccomp,
        rlimits: rlimits(process)?,
        cgroup_procs: Vec::new(),
        cgroup: None,
        tty: None,
        // The caller's stdio is the container's (containerd's shim passes its pipes).
        stdin: true,
        init: false,
        userns: crate::userns::from_spec(spec)?,
        gate: None,
        joined,
        devices: crate::devices::nodes(spec)?,
    };
    Ok(Mapped {
        spec: container,
        terminal: process.terminal().unwrap_or(false),
        oom_score_adj: process.oom_score_adj(),
        caps,
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        sysctl,
        exec_label,
    })
}

fn linux_sysctl(spec: &Spec) -> std::collections::HashMap<String, String> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.sysctl().clone())
        .unwrap_or_default()
}

/// pid, mount, ipc and uts are never the host's: mount is always new, the others new or
/// joined by path (as cgroup may be); the network namespace is new, joined by path, or the
/// host's when the spec lists none.
fn namespaces(spec: &Spec) -> Result<(NetworkMode, ByPath), OciError> {
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut network = NetworkMode::Host;
    let mut joined = ByPath::default();
    let mut seen = HashSet::new();
    for (i, ns) in list.iter().enumerate() {
        let field = format!("linux.namespaces[{i}]");
        let typ = ns.typ();
        if !seen.insert(typ as u32) {
            return Err(OciError::unsupported(
                field,
                format!("{typ} is listed twice"),
            ));
        }
        match (typ, ns.path()) {
            (LinuxNamespaceType::Network, Some(path)) => network = NetworkMode::Join(path.clone()),
            (LinuxNamespaceType::Network, None) => network = NetworkMode::None,
            (LinuxNamespaceType::Pid, Some(path)) => joined.pid = Some(path.clone()),
            (LinuxNamespaceType::Ipc, Some(path)) => joined.ipc = Some(path.clone()),
            (LinuxNamespaceType::Uts, Some(path)) => joined.uts = Some(path.clone()),
            (LinuxNamespaceType::Cgroup, Some(path)) => joined.cgroup = Some(path.clone()),
            (
                LinuxNamespaceType::Pid
                | LinuxNamespaceType::Mount
                | LinuxNamespaceType::Ipc
                | LinuxNamespaceType::Uts,
                None,
            ) => {}
            // berth gives a container its own cgroup namespace on a pure v2 host only.
            (LinuxNamespaceType::Cgroup, None) => {}
            // With its maps: `userns`.
            (LinuxNamespaceType::User, None) => {}
            (typ, Some(path)) => {
                return Err(OciError::unsupported(
                    field,
                    format!(
                        "joining a {typ} namespace ({}) is not supported yet",
                        path.display()
                    ),
                ))
            }
            (typ, None) => {
                return Err(OciError::unsupported(
                    field,
                    format!("{typ} namespaces are not supported yet"),
                ))
            }
        }
    }
    for (typ, name) in [
        (LinuxNamespaceType::Pid, "pid"),
        (LinuxNamespaceType::Mount, "mount"),
        (LinuxNamespaceType::Ipc, "ipc"),
        (LinuxNamespaceType::Uts, "uts"),
    ] {
        if !seen.contains(&(typ as u32)) {
            return Err(OciError::unsupported(
                "linux.namespaces",
                format!("a container sharing the host's {name} namespace is not supported yet"),
            ));
        }
    }
    let in_userns = seen.contains(&(LinuxNamespaceType::User as u32));
    if in_userns && joined != ByPath::default() {
        return Err(OciError::unsupported(
            "linux.namespaces",
            "joining a pid, ipc, uts or cgroup namespace by path with a new user namespace is not supported yet",
        ));
    }
    Ok((network, joined))
}

/// The filesystems berth mounts itself: (destination, accepted types).
const STANDARD: &[(&str, &[&str])] = &[
    ("/proc", &["proc"]),
    ("/dev", &["tmpfs"]),
    ("/dev/pts", &["devpts"]),
    ("/dev/shm", &["tmpfs", "bind"]),
    ("/dev/mqueue", &["mqueue"]),
    ("/sys", &["sysfs", "bind", "none"]),
    ("/sys/fs/cgroup", &["cgroup", "cgroup2"]),
];

/// Docker's and runc's /dev/shm size when the spec gives none.
const DEFAULT_SHM: u64 = 64 << 20;

fn mounts(list: &[Mount], bundle: &Path) -> Result<(Vec<MountEntry>, u64), OciError> {
    let mut entries = Vec::new();
    let mut shm = DEFAULT_SHM;
    for (i, mount) in list.iter().enumerate() {
        let target = mount.destination().display().to_string();
        let field = format!("mounts[{i}] ({target})");
        if !target.starts_with('/') {
            return Err(OciError::unsupported(
                field,
                "the destination is not absolute",
            ));
        }
        let options = mount.options().clone().unwrap_or_default();
        let bind = options.iter().any(|o| o == "bind" || o == "rbind");
        let typ =
            mount
                .typ()
                .clone()
                .unwrap_or_else(|| if bind { "bind".into() } else { String::new() });
        let clean = target.trim_end_matches('/');
        if let Some((_, types)) = STANDARD.iter().find(|(dest, _)| *dest == clean) {
            let typ = if bind { "bind" } else { typ.as_str() };
            if !types.contains(&typ) {
                return Err(OciError::unsupported(
                    field,
                    format!("berth-oci mounts {clean} itself; type {typ:?} there is not supported"),
                ));
            }
            if clean == "/dev/shm" {
                if let Some(size) = options.iter().find_map(|o| o.strip_prefix("size=")) {
                    shm = berth_common::units::parse_size(size)
                        .map_err(|reason| OciError::unsupported(field, reason))?;
                }
            }
            continue;
        }
        let readonly = options.iter().any(|o| o == "ro");
        let kind = match typ.as_str() {
            "bind" | "none" if bind => MountKind::Bind,
            "tmpfs" => MountKind::Tmpfs,
            other => {
                return Err(OciError::unsupported(
                    field,
                    format!("mounts of type {other:?} are not supported yet"),
                ))
            }
        };
        let source = match kind {
            MountKind::Bind => {
                let source = mount
                    .source()
                    .clone()
                    .ok_or_else(|| OciError::unsupported(field.clone(), "a bind needs a source"))?;
                // A relative source is the bundle's, as in runc.
                Some(bundle.join(source))
            }
            _ => None,
        };
        let options = match kind {
            // The flags berth-rootfs takes; the rest are tmpfs data (size=, mode=).
            MountKind::Tmpfs => options
                .into_iter()
                .filter(|o| o != "rw" && o != "ro")
                .collect(),
            _ => options,
        };
        entries.push(MountEntry {
            kind,
            source,
            target,
            readonly,
            volume: None,
            anonymous: false,
            options,
        });
    }
    Ok((entries, shm))
}

fn cap_set(
    set: &Option<oci_spec::runtime::Capabilities>,
    field: &str,
) -> Result<HashSet<caps::Capability>, OciError> {
    let mut out = HashSet::new();
    for cap in set.iter().flatten() {
        let name = serde_json::to_value(cap)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let parsed = name.parse::<caps::Capability>().map_err(|_| {
            OciError::unsupported(
                format!("process.capabilities.{field}"),
                format!("{name} is not known to this kernel's capability list"),
            )
        })?;
        out.insert(parsed);
    }
    Ok(out)
}

fn capabilities(process: &Process) -> Result<CapSets, OciError> {
    let Some(caps) = process.capabilities() else {
        return Ok(CapSets::default());
    };
    Ok(CapSets {
        bounding: cap_set(caps.bounding(), "bounding")?,
        effective: cap_set(caps.effective(), "effective")?,
        permitted: cap_set(caps.permitted(), "permitted")?,
        inheritable: cap_set(caps.inheritable(), "inheritable")?,
        ambient: cap_set(caps.ambient(), "ambient")?,
    })
}

fn rlimits(process: &Process) -> Result<Vec<(rustix::process::Resource, u64, u64)>, OciError> {
    use rustix::process::Resource;
    let mut out = Vec::new();
    for (i, limit) in process.rlimits().iter().flatten().enumerate() {
        let name = serde_json::to_value(limit.typ())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let resource = match name.as_str() {
            "RLIMIT_CPU" => Resource::Cpu,
            "RLIMIT_FSIZE" => Resource::Fsize,
            "RLIMIT_DATA" => Resource::Data,
            "RLIMIT_STACK" => Resource::Stack,
            "RLIMIT_CORE" => Resource::Core,
            "RLIMIT_RSS" => Resource::Rss,
            "RLIMIT_NPROC" => Resource::Nproc,
            "RLIMIT_NOFILE" => Resource::Nofile,
            "RLIMIT_MEMLOCK" => Resource::Memlock,
            "RLIMIT_AS" => Resource::As,
            "RLIMIT_LOCKS" => Resource::Locks,
            "RLIMIT_SIGPENDING" => Resource::Sigpending,
            "RLIMIT_MSGQUEUE" => Resource::Msgqueue,
            "RLIMIT_NICE" => Resource::Nice,
            "RLIMIT_RTPRIO" => Resource::Rtprio,
            "RLIMIT_RTTIME" => Resource::Rttime,
            other => {
                return Err(OciError::unsupported(
                    format!("process.rlimits[{i}]"),
                    format!("unknown type {other:?}"),
                ))
            }
        };
        if limit.soft() > limit.hard() {
            return Err(OciError::unsupported(
                format!("process.rlimits[{i}] ({name})"),
                "the soft limit is above the hard one",
            ));
        }
        out.push((resource, limit.soft(), limit.hard()));
    }
    Ok(out)
}

/// `linux.seccomp` compiled by berth-seccomp (its profile format is Docker's, which the
/// runtime spec's is a subset of); what it cannot express is refused there, by rule.
fn seccomp(
    spec: &Spec,
    caps: &CapSets,
) -> Result<Option<berth_process::seccomp::Installer>, OciError> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    if profile.listener_path().is_some() {
        return Err(OciError::unsupported(
            "linux.seccomp.listenerPath",
            "seccomp notify is not supported",
        ));
    }
    let json = serde_json::to_vec(profile)
        .map_err(|e| OciError::unsupported("linux.seccomp", e.to_string()))?;
    let names: Vec<String> = berth_process::caps::names(&caps.bounding);
    let filter = berth_seccomp::from_profile_json(&json, &names)?;
    Ok(Some(Box::new(move || {
        filter.apply().map_err(|e| e.to_string())
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(
        change: impl FnOnce(&mut serde_json::Value),
    ) -> (tempfile::TempDir, Result<Mapped, OciError>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let mut spec = crate::default_spec::default_spec(false);
        change(&mut spec);
        std::fs::write(dir.path().join("config.json"), spec.to_string()).unwrap();
        let mapped = load(dir.path()).and_then(|b| map(&b));
        (dir, mapped)
    }

    fn refusal(change: impl FnOnce(&mut serde_json::Value)) -> String {
        match bundle_with(change).1 {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn runcs_default_spec_maps_onto_berths_isolation() {
        let (_dir, mapped) = bundle_with(|_| {});
        let mapped = mapped.unwrap();
        assert_eq!(mapped.spec.network, NetworkMode::None);
        assert!(mapped.spec.readonly && !mapped.spec.privileged && mapped.spec.no_new_privs);
        assert!(
            mapped.spec.mounts.is_empty(),
            "the standard mounts are berth's own"
        );
        assert_eq!(mapped.spec.hostname, "berth");
        assert_eq!(mapped.spec.user, "0:0");
        assert!(mapped.terminal);
        assert_eq!(mapped.caps.bounding.len(), 3);
        assert_eq!(mapped.spec.rlimits.len(), 1);
    }

    #[test]
    fn binds_and_tmpfs_become_entries_and_a_relative_source_is_the_bundles() {
        let (dir, mapped) = bundle_with(|s| {
            let mounts = s["mounts"].as_array_mut().unwrap();
            mounts.push(serde_json::json!({"destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "ro"]}));
            mounts.push(serde_json::json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "rw"]}));
        });
        let mounts = mapped.unwrap().spec.mounts;
        assert_eq!(mounts[0].kind, MountKind::Bind);
        assert_eq!(
            mounts[0].source.as_deref(),
            Some(dir.path().canonicalize().unwrap().join("data").as_path())
        );
        assert!(mounts[0].readonly);
        assert_eq!(mounts[1].kind, MountKind::Tmpfs);
        assert_eq!(mounts[1].options, ["size=1m"]);
    }

    #[test]
    fn namespaces_with_a_path_are_joined_but_mount_and_user_ones_are_refused() {
        let set_path = |s: &mut serde_json::Value, typ: &str, path: &str| {
            for ns in s["linux"]["namespaces"].as_array_mut().unwrap() {
                if ns["type"] == typ {
                    ns["path"] = path.into();
                }
            }
        };
        let (_dir, mapped) = bundle_with(|s| {
            set_path(s, "ipc", "/proc/7/ns/ipc");
            set_path(s, "pid", "/proc/7/ns/pid");
            s.as_object_mut().unwrap().remove("hostname");
        });
        let spec = mapped.unwrap().spec;
        assert_eq!(
            spec.joined.ipc.as_deref(),
            Some(Path::new("/proc/7/ns/ipc"))
        );
        assert_eq!(
            spec.joined.pid.as_deref(),
            Some(Path::new("/proc/7/ns/pid"))
        );
        assert_eq!(
            (spec.joined.uts.clone(), spec.joined.cgroup.clone()),
            (None, None)
        );
        // A new UTS namespace without a hostname keeps the host's name, a joined one its own.
        assert!(!spec.hostname.is_empty());
        let (_dir, mapped) = bundle_with(|s| {
            set_path(s, "uts", "/proc/7/ns/uts");
            s.as_object_mut().unwrap().remove("hostname");
        });
        assert_eq!(mapped.unwrap().spec.hostname, "");
        let msg = refusal(|s| set_path(s, "mount", "/proc/7/ns/mnt"));
        assert!(
            msg.contains("linux.namespaces[") && msg.contains("/proc/7/ns/mnt"),
            "{msg}"
        );
        let msg = refusal(|s| {
            set_path(s, "ipc", "/proc/7/ns/ipc");
            let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
            ns.push(serde_json::json!({"type": "user"}));
            s["linux"]["uidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            s["linux"]["gidMappings"] = s["linux"]["uidMappings"].clone();
        });
        assert!(msg.contains("with a new user namespace"), "{msg}");
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_field() {
        let msg = refusal(|s| {
            s["mounts"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"destination": "/x", "type": "nfs", "source": "h:/x"}))
        });
        assert!(
            msg.contains("mounts[7] (/x)") && msg.contains("nfs"),
            "{msg}"
        );
        let msg = refusal(|s| {
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"type": "user"}))
        });
        assert!(msg.contains("linux.uidMappings"), "{msg}");
        let msg = refusal(|s| {
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "uts")
        });
        assert!(msg.contains("uts"), "{msg}");
        let msg = refusal(|s| s["linux"]["sysctl"] = serde_json::json!({"kernel.domainname": "x"}));
        assert!(msg.contains("linux.sysctl.kernel.domainname"), "{msg}");
        let msg = refusal(|s| s["process"]["cwd"] = "rel".into());
        assert!(msg.contains("process.cwd"), "{msg}");
        let msg = refusal(|s| {
            s["linux"]["seccomp"] =
                serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x"})
        });
        assert!(msg.contains("listenerPath"), "{msg}");
        let msg = refusal(|s| s["mounts"][1]["type"] = "bind".into());
        assert!(msg.contains("/dev"), "{msg}");
    }
}
