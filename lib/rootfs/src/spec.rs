//! Docker's `-v/--volume` and `--tmpfs` syntax, and the names berth accepts.

use std::path::PathBuf;

use crate::error::{Result, RootfsError};

/// A parsed `-v` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSpec {
    /// `-v /host:/ctr[:opts]`
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
        options: Vec<String>,
    },
    /// `-v name:/ctr[:opts]`
    Named {
        name: String,
        target: String,
        readonly: bool,
        nocopy: bool,
        options: Vec<String>,
    },
    /// `-v /ctr[:opts]`: a new anonymous volume.
    Anonymous {
        target: String,
        readonly: bool,
        nocopy: bool,
        options: Vec<String>,
    },
}

impl VolumeSpec {
    pub fn target(&self) -> &str {
        match self {
            VolumeSpec::Bind { target, .. }
            | VolumeSpec::Named { target, .. }
            | VolumeSpec::Anonymous { target, .. } => target,
        }
    }
}

/// A parsed `--tmpfs` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsSpec {
    pub target: String,
    pub readonly: bool,
    /// Docker's defaults (`noexec,nosuid,nodev`) merged with the given options, last wins.
    pub options: Vec<String>,
}

fn spec_err(what: &'static str, spec: &str, reason: impl Into<String>) -> RootfsError {
    RootfsError::Spec {
        what,
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

/// Parses `-v` as Docker does: `/ctr`, `/ctr:opts`, `src:/ctr`, `src:/ctr:opts`, where `src`
/// is an absolute host path (a bind) or a volume name, and opts is a comma list of `ro`,
/// `rw`, `nocopy` (volumes: do not fill from the image), `z`/`Z` (accepted, ignored: no
/// SELinux relabelling) and a propagation mode (`[r]private`, `[r]shared`, `[r]slave`).
pub fn parse_volume(spec: &str) -> Result<VolumeSpec> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [target] => (None, *target, ""),
        [a, b] if b.starts_with('/') => (Some(*a), *b, ""),
        [a, b] => (None, *a, *b),
        [a, b, c] => (Some(*a), *b, *c),
        _ => return Err(spec_err("volume", spec, "too many colons")),
    };
    if source == Some("") {
        return Err(spec_err("volume", spec, "empty source"));
    }
    let target = clean_target(target).map_err(|reason| spec_err("volume", spec, reason))?;
    let mut readonly = false;
    let mut nocopy = false;
    let mut options = Vec::new();
    let mut seen_mode = false;
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" | "rw" => {
                if seen_mode {
                    return Err(spec_err("volume", spec, "ro and rw given together"));
                }
                seen_mode = true;
                readonly = opt == "ro";
            }
            "nocopy" => nocopy = true,
            "z" | "Z" => {}
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                options.push(opt.to_string())
            }
            other => {
                return Err(spec_err(
                    "volume",
                    spec,
                    format!("unknown option {other:?} (ro, rw, nocopy, z, Z, [r]private, [r]shared, [r]slave)"),
                ))
            }
        }
    }
    match source {
        None => Ok(VolumeSpec::Anonymous {
            target,
            readonly,
            nocopy,
            options,
        }),
        Some(src) if src.starts_with('/') => {
            if nocopy {
                return Err(spec_err(
                    "volume",
                    spec,
                    "nocopy applies to volumes, not binds",
                ));
            }
            Ok(VolumeSpec::Bind {
                source: PathBuf::from(src),
                target,
                readonly,
                options,
            })
        }
        Some(name) => {
            check_volume_name(name).map_err(|reason| {
                spec_err(
                    "volume",
                    spec,
                    format!("{reason}; to bind a host directory, give its absolute path"),
                )
            })?;
            Ok(VolumeSpec::Named {
                name: name.to_string(),
                target,
                readonly,
                nocopy,
                options,
            })
        }
    }
}

/// Parses `--tmpfs /path[:opts]`. The options start from Docker's `noexec,nosuid,nodev`;
/// later options override earlier ones (`exec` removes `noexec`, `size=` replaces `size=`);
/// `ro`/`rw` set [`TmpfsSpec::readonly`].
pub fn parse_tmpfs(spec: &str) -> Result<TmpfsSpec> {
    let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let target = clean_target(target).map_err(|reason| spec_err("tmpfs", spec, reason))?;
    let mut readonly = false;
    let mut options: Vec<String> = ["noexec", "nosuid", "nodev"].map(String::from).to_vec();
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        if opt.contains(':') {
            return Err(spec_err("tmpfs", spec, "too many colons"));
        }
        match opt {
            "ro" => readonly = true,
            "rw" => readonly = false,
            _ => {
                let key = opt.split('=').next().unwrap_or(opt);
                let base = key.strip_prefix("no").unwrap_or(key);
                options.retain(|o| {
                    let k = o.split('=').next().unwrap_or(o);
                    k != key && k.strip_prefix("no").unwrap_or(k) != base
                });
                options.push(opt.to_string());
            }
        }
    }
    Ok(TmpfsSpec {
        target,
        readonly,
        options,
    })
}

/// An absolute container path, lexically cleaned (`//`, `.`, `..` resolved as far as `/`,
/// trailing `/` dropped); `/` itself is refused.
pub fn clean_target(target: &str) -> std::result::Result<String, String> {
    if !target.starts_with('/') {
        return Err(format!("the container path {target:?} must be absolute"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for comp in target.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err("the container path cannot be /".into());
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_volume_name(name: &str) -> std::result::Result<(), String> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid volume name: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least two characters"
        ))
    }
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && name.len() >= 2
        && name.len() <= 255
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_volumes_and_anonymous() {
        assert_eq!(
            parse_volume("/host/dir:/ctr:ro").unwrap(),
            VolumeSpec::Bind {
                source: "/host/dir".into(),
                target: "/ctr".into(),
                readonly: true,
                options: vec![]
            }
        );
        assert_eq!(
            parse_volume("data:/var//lib/./db/").unwrap(),
            VolumeSpec::Named {
                name: "data".into(),
                target: "/var/lib/db".into(),
                readonly: false,
                nocopy: false,
                options: vec![]
            }
        );
        assert_eq!(
            parse_volume("/cache").unwrap(),
            VolumeSpec::Anonymous {
                target: "/cache".into(),
                readonly: false,
                nocopy: false,
                options: vec![]
            }
        );
        assert_eq!(
            parse_volume("/cache:ro,nocopy").unwrap(),
            VolumeSpec::Anonymous {
                target: "/cache".into(),
                readonly: true,
                nocopy: true,
                options: vec![]
            }
        );
        assert!(matches!(
            parse_volume("v1:/x:rw,rslave,z").unwrap(),
            VolumeSpec::Named { options, readonly: false, .. } if options == ["rslave"]
        ));
    }

    #[test]
    fn bad_volumes_are_refused_with_reasons() {
        for (spec, needle) in [
            ("relative/dir:/x", "absolute path"),
            ("a:/x:ro:extra", "too many colons"),
            ("/h:/x:bogus", "unknown option"),
            ("/h:relative", "unknown option"),
            ("relative", "must be absolute"),
            ("vol:/", "cannot be /"),
            ("/h:/x:nocopy", "not binds"),
            (":/x", "empty source"),
            ("/h:/x:ro,rw", "together"),
            ("x:/y", "valid volume name"),
        ] {
            let err = parse_volume(spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec}: {err}");
            assert!(err.contains(spec), "{spec}: {err}");
        }
    }

    #[test]
    fn tmpfs_options_merge_over_docker_defaults() {
        let t = parse_tmpfs("/run").unwrap();
        assert_eq!(t.target, "/run");
        assert_eq!(t.options, ["noexec", "nosuid", "nodev"]);
        assert!(!t.readonly);
        let t = parse_tmpfs("/tmp/x/:size=64m,exec,mode=1777,ro,size=32m").unwrap();
        assert_eq!(t.target, "/tmp/x");
        assert!(t.readonly);
        assert_eq!(
            t.options,
            ["nosuid", "nodev", "exec", "mode=1777", "size=32m"]
        );
        assert!(parse_tmpfs("relative").is_err());
        assert!(parse_tmpfs("/").is_err());
    }

    #[test]
    fn targets_are_cleaned() {
        assert_eq!(clean_target("/a/../../b/.//c/").unwrap(), "/b/c");
        assert!(clean_target("/..").is_err());
        assert!(clean_target("a").is_err());
    }

    #[test]
    fn names() {
        assert!(check_volume_name("data").is_ok());
        assert!(check_volume_name("../x").is_err());
    }
}
