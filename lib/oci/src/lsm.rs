//! `process.apparmorProfile` and `process.selinuxLabel`: refused, naming the field and what
//! the host lacks, when its kernel has no such module; otherwise the init writes the label
//! for its exec of the command (`/proc/self/attr/...`, as runc does), so the command starts
//! confined. `linux.mountLabel` (SELinux context= on the container's mounts) is refused.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::OciError;

/// Where the host's kernel shows each module.
pub struct Host<'a> {
    pub apparmor: &'a Path,
    pub selinux: &'a Path,
}

impl Host<'static> {
    /// This machine's.
    pub fn this() -> Host<'static> {
        Host {
            apparmor: Path::new("/sys/kernel/security/apparmor"),
            selinux: Path::new("/sys/fs/selinux"),
        }
    }
}

/// The label the init writes before its exec: (file under /proc/self/attr, content).
pub fn exec_label(spec: &Spec, host: &Host<'_>) -> Result<Option<(PathBuf, String)>, OciError> {
    let given = |v: Option<&String>| v.filter(|s| !s.is_empty()).cloned();
    let process = spec.process().as_ref();
    let apparmor = given(process.and_then(|p| p.apparmor_profile().as_ref()));
    let selinux = given(process.and_then(|p| p.selinux_label().as_ref()));
    let mount_label = given(spec.linux().as_ref().and_then(|l| l.mount_label().as_ref()));
    let missing = |field: &str, module: &str, path: &Path| {
        OciError::unsupported(
            field,
            format!(
                "this host has no {module} ({} is not there)",
                path.display()
            ),
        )
    };
    if mount_label.is_some() {
        return Err(if host.selinux.exists() {
            OciError::unsupported(
                "linux.mountLabel",
                "SELinux mount labels are not supported by berth-oci yet",
            )
        } else {
            missing("linux.mountLabel", "SELinux", host.selinux)
        });
    }
    match (apparmor, selinux) {
        (Some(_), Some(_)) => Err(OciError::unsupported(
            "process.selinuxLabel",
            "an AppArmor profile and an SELinux label together: one security module confines a process",
        )),
        (Some(profile), None) => {
            if !host.apparmor.exists() {
                return Err(missing("process.apparmorProfile", "AppArmor", host.apparmor));
            }
            Ok(Some((
                PathBuf::from("/proc/self/attr/apparmor/exec"),
                format!("exec {profile}"),
            )))
        }
        (None, Some(label)) => {
            if !host.selinux.exists() {
                return Err(missing("process.selinuxLabel", "SELinux", host.selinux));
            }
            Ok(Some((PathBuf::from("/proc/self/attr/exec"), label)))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(f: impl FnOnce(&mut serde_json::Value)) -> Spec {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("default-config.json")).unwrap();
        f(&mut v);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn labels_are_refused_by_field_where_the_module_is_missing_and_written_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent");
        let none = Host {
            apparmor: &absent,
            selinux: &absent,
        };
        let both = Host {
            apparmor: dir.path(),
            selinux: dir.path(),
        };
        let apparmor = spec_with(|s| s["process"]["apparmorProfile"] = "docker-default".into());
        let err = exec_label(&apparmor, &none).unwrap_err().to_string();
        assert!(
            err.contains("process.apparmorProfile") && err.contains("no AppArmor"),
            "{err}"
        );
        assert_eq!(
            exec_label(&apparmor, &both).unwrap(),
            Some((
                PathBuf::from("/proc/self/attr/apparmor/exec"),
                "exec docker-default".into()
            ))
        );
        let selinux =
            spec_with(|s| s["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0".into());
        let err = exec_label(&selinux, &none).unwrap_err().to_string();
        assert!(
            err.contains("process.selinuxLabel") && err.contains("no SELinux"),
            "{err}"
        );
        assert_eq!(
            exec_label(&selinux, &both).unwrap().unwrap().0,
            PathBuf::from("/proc/self/attr/exec")
        );
        let mount = spec_with(|s| s["linux"]["mountLabel"] = "x".into());
        assert!(exec_label(&mount, &none)
            .unwrap_err()
            .to_string()
            .contains("linux.mountLabel"));
        assert!(exec_label(&mount, &both).is_err());
        assert_eq!(exec_label(&spec_with(|_| {}), &none).unwrap(), None);
    }
}
