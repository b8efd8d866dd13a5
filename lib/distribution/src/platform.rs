//! `OS/ARCH[/VARIANT]` as `--platform` takes it, and the host's, for choosing an entry of
//! a manifest list.

use std::fmt;

use crate::error::{DistributionError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(text: &str) -> Result<Platform> {
        let bad = |reason| DistributionError::BadPlatform {
            platform: text.to_string(),
            reason,
        };
        let parts: Vec<&str> = text.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad("expected OS/ARCH or OS/ARCH/VARIANT"));
        }
        let part_ok = |p: &&str| {
            p.starts_with(|c: char| c.is_ascii_alphanumeric())
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        };
        if !parts.iter().all(part_ok) {
            return Err(bad(
                "each part starts with a letter or digit and holds only letters, digits and . _ -",
            ));
        }
        let lower = |s: &str| s.to_ascii_lowercase();
        Ok(Platform {
            os: lower(parts[0]),
            architecture: normalize_arch(&lower(parts[1])).to_string(),
            variant: parts.get(2).map(|v| lower(v)),
        })
    }

    /// linux and the architecture this binary runs on.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: berth_image::host_architecture().into(),
            variant: (berth_image::host_architecture() == "arm64").then(|| "v8".into()),
        }
    }

    /// Whether a manifest list entry for `os/architecture/variant` serves this platform.
    /// An entry without a variant serves any; arm64's v8 is its default.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != normalize_arch(architecture) {
            return false;
        }
        let default = |v: Option<&str>| match (self.architecture.as_str(), v) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(String::from),
        };
        match (default(self.variant.as_deref()), default(variant)) {
            (Some(wanted), Some(offered)) => wanted == offered,
            _ => true,
        }
    }
}

/// Names for one architecture that Go's and uname's worlds spell differently.
fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(p.matches("linux", "arm64", None));
        assert!(!p.matches("linux", "amd64", None));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(v7.matches("linux", "arm", Some("v7")));
        assert!(!v7.matches("linux", "arm", Some("v6")));
        assert_eq!(
            Platform::parse("Linux/X86_64").unwrap().to_string(),
            "linux/amd64"
        );
        for bad in ["linux", "linux/", "a/b/c/d", "linux/am d64", "../x"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }
}
