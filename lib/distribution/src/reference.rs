//! Remote image references as docker parses them: `busybox` is
//! `docker.io/library/busybox:latest`; a first component with a `.` or a `:`, or
//! `localhost`, is a registry host; `@sha256:…` pins a digest.

use std::fmt;

use berth_image::Digest;

use crate::error::{DistributionError, Result};

/// The registry docker.io names, and the host its API is served from.
pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// `docker.io` or `host[:port]`.
    pub registry: String,
    /// The repository path on the registry (`library/busybox`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl RemoteRef {
    pub fn parse(text: &str) -> Result<RemoteRef> {
        let bad = |reason: &str| DistributionError::BadReference {
            reference: text.to_string(),
            reason: reason.to_string(),
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(Digest::parse(digest).map_err(|e| bad(&e.to_string()))?),
            ),
            None => (text, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        // The name grammar (lowercase components, tag characters) is the store's.
        let check = format!("{registry}/{repository}:{}", tag.unwrap_or("latest"));
        berth_image::reference::normalize(&check).map_err(|e| bad(&e.to_string()))?;
        Ok(RemoteRef {
            registry,
            repository,
            tag: tag.map(String::from),
            digest,
        })
    }

    /// The host the registry API answers on.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// The repository as docker shows it (`busybox`, `team/app`, `host:5000/x`).
    pub fn familiar_name(&self) -> String {
        if self.registry == DOCKER_HUB {
            let short = self.repository.strip_prefix("library/");
            short.unwrap_or(&self.repository).to_string()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// The name the pulled image gets in the store: `name:tag`, none for a digest pull.
    pub fn store_name(&self) -> Option<String> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(format!("{}:{tag}", self.familiar_name())),
            (None, Some(_)) => None,
            (None, None) => Some(format!("{}:latest", self.familiar_name())),
        }
    }
}

impl fmt::Display for RemoteRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar_name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        if self.tag.is_none() && self.digest.is_none() {
            f.write_str(":latest")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_names_get_library_and_the_default_registry() {
        let r = RemoteRef::parse("busybox").unwrap();
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.manifest_reference(), "latest");
        assert_eq!(r.store_name().unwrap(), "busybox:latest");
        let r = RemoteRef::parse("team/app:v2").unwrap();
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.store_name().unwrap(), "team/app:v2");
        let r = RemoteRef::parse("index.docker.io/library/alpine:3").unwrap();
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.to_string(), "alpine:3");
    }

    #[test]
    fn hosts_ports_and_digests() {
        let r = RemoteRef::parse("127.0.0.1:5000/x/y:1").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "x/y");
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.store_name().unwrap(), "127.0.0.1:5000/x/y:1");
        let r = RemoteRef::parse("localhost/x").unwrap();
        assert_eq!(r.registry, "localhost");
        let hex = "a".repeat(64);
        let r = RemoteRef::parse(&format!("reg.io/x@sha256:{hex}")).unwrap();
        assert_eq!(r.manifest_reference(), format!("sha256:{hex}"));
        assert_eq!(r.store_name(), None);
        // A first component without a dot or colon is a Hub namespace, not a host.
        let r = RemoteRef::parse("team/x").unwrap();
        assert_eq!(r.registry, "docker.io");
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "",
            "Busy",
            "x@sha256:00",
            "x:",
            "../x",
            "h:5000/../x",
            "x@md5:00",
        ] {
            assert!(RemoteRef::parse(bad).is_err(), "{bad}");
        }
    }
}
