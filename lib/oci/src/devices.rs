//! `linux.devices` (the nodes berth-process makes in the rootfs) and
//! `linux.resources.devices` (the device cgroup rules berth-cgroups applies).

use berth_cgroups::devices::DeviceRule;
use berth_process::devices::DeviceNode;
use oci_spec::runtime::{LinuxDeviceType, LinuxResources, Spec};

use crate::OciError;

/// `linux.devices`: the nodes to make (mode 0666 and owner root unless given, as runc).
pub fn nodes(spec: &Spec) -> Result<Vec<DeviceNode>, OciError> {
    let list = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    let mut nodes = Vec::new();
    for (i, d) in list.iter().enumerate() {
        let field = format!("linux.devices[{i}]");
        let path = d.path().display().to_string();
        if !path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(OciError::unsupported(
                format!("{field}.path"),
                format!("{path:?} is not an absolute path inside the container"),
            ));
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::P => 'p',
            other => {
                return Err(OciError::unsupported(
                    format!("{field}.type"),
                    format!("{other:?} is not a node type (c, b, u, p)"),
                ))
            }
        };
        let number = |n: i64, what: &str| {
            u32::try_from(n).map_err(|_| {
                OciError::unsupported(format!("{field}.{what}"), format!("{n} is out of range"))
            })
        };
        nodes.push(DeviceNode {
            path,
            kind,
            major: number(d.major(), "major")?,
            minor: number(d.minor(), "minor")?,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(nodes)
}

/// `linux.resources.devices`, in order; None when the spec lists none (berth's default
/// filter then, Docker's). A missing or negative major or minor is any, a missing access
/// `rwm`, as in runc.
pub fn cgroup_rules(
    resources: Option<&LinuxResources>,
) -> Result<Option<Vec<DeviceRule>>, OciError> {
    let Some(list) = resources.and_then(|r| r.devices().as_ref()) else {
        return Ok(None);
    };
    let mut rules = Vec::new();
    for (i, d) in list.iter().enumerate() {
        let kind = match d.typ() {
            None | Some(LinuxDeviceType::A) => 'a',
            Some(LinuxDeviceType::B) => 'b',
            Some(LinuxDeviceType::C | LinuxDeviceType::U) => 'c',
            Some(other) => {
                return Err(OciError::unsupported(
                    format!("linux.resources.devices[{i}].type"),
                    format!("{other:?} is not a device type of the device cgroup (a, b, c)"),
                ))
            }
        };
        let number = |n: Option<i64>| n.filter(|n| *n >= 0).map(|n| n as u32);
        let letters = d.access().clone().unwrap_or_default();
        if let Some(bad) = letters.chars().find(|c| !"rwm".contains(*c)) {
            return Err(OciError::unsupported(
                format!("linux.resources.devices[{i}].access"),
                format!("{bad:?} is not one of r, w, m"),
            ));
        }
        rules.push(DeviceRule {
            allow: d.allow(),
            kind,
            major: number(d.major()),
            minor: number(d.minor()),
            access: match berth_cgroups::devices::access(&letters) {
                "" => "rwm",
                set => set,
            },
        });
    }
    Ok(Some(rules))
}
