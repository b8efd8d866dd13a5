//! Image names: `busybox`, `busybox:1.36`, `registry:5000/team/app:v2`, `app@sha256:…`.
//! Stored normalised with a tag (`latest` when none is given) and without Docker Hub's
//! implicit `docker.io/library/` prefix, which is how `docker images` shows them.

use crate::error::{ImageError, Result};

/// Returns the normalised `name:tag` form of a reference.
pub fn normalize(reference: &str) -> Result<String> {
    let bad = |reason| ImageError::BadReference {
        reference: reference.to_string(),
        reason,
    };
    if reference.is_empty() {
        return Err(bad("empty"));
    }
    if reference.contains('@') {
        return Err(bad(
            "digest references are not supported for names; use the image ID",
        ));
    }
    let (name, tag) = split_tag(reference);
    let name = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name);
    if name.is_empty() {
        return Err(bad("empty repository name"));
    }
    let has_host = name.contains('/');
    let name_ok = name.split('/').enumerate().all(|(i, part)| {
        let host = i == 0 && has_host;
        // docker's grammar: separators only between alphanumerics, so no `.`, `..` or
        // `-x` component; a host's port is digits.
        let (part, port) = match part.split_once(':') {
            Some((host_name, port)) if host => (host_name, Some(port)),
            _ => (part, None),
        };
        let bytes = part.as_bytes();
        bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
            && !part.contains("..")
            && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && part.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b"._-".contains(&b)
                    || (host && b.is_ascii_uppercase())
            })
    });
    if !name_ok {
        return Err(bad(
            "repository names use lowercase letters, digits and . _ - separated by /",
        ));
    }
    let tag = tag.unwrap_or("latest");
    if tag.is_empty()
        || tag.len() > 128
        || !tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        || tag.starts_with(['.', '-'])
    {
        return Err(bad("tags use letters, digits and . _ - (at most 128)"));
    }
    Ok(format!("{name}:{tag}"))
}

/// Splits `name[:tag]`, where a colon inside the registry host (`host:5000/x`) is no tag.
fn split_tag(reference: &str) -> (&str, Option<&str>) {
    match reference.rfind(':') {
        Some(i) if !reference[i + 1..].contains('/') => {
            (&reference[..i], Some(&reference[i + 1..]))
        }
        _ => (reference, None),
    }
}

/// Splits `name[:tag]` into repository and tag (`latest` when none is given), for display
/// and for the API's `repo`/`tag` parameters; a `name@digest` reference stays whole, with an
/// empty tag, as the docker CLI sends it.
pub fn repository_and_tag(reference: &str) -> (&str, &str) {
    if reference.contains('@') {
        return (reference, "");
    }
    match split_tag(reference) {
        (name, Some(tag)) => (name, tag),
        (name, None) => (name, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_a_tag_and_lose_the_hub_prefix() {
        assert_eq!(normalize("busybox").unwrap(), "busybox:latest");
        assert_eq!(
            normalize("docker.io/library/busybox:1.36").unwrap(),
            "busybox:1.36"
        );
        assert_eq!(
            normalize("localhost:5000/a/b").unwrap(),
            "localhost:5000/a/b:latest"
        );
        assert_eq!(
            normalize("localhost:5000/a/b:v1").unwrap(),
            "localhost:5000/a/b:v1"
        );
    }

    #[test]
    fn references_split_into_repository_and_tag() {
        assert_eq!(repository_and_tag("busybox"), ("busybox", "latest"));
        assert_eq!(repository_and_tag("h:5000/a/b"), ("h:5000/a/b", "latest"));
        assert_eq!(repository_and_tag("h:5000/a/b:v1"), ("h:5000/a/b", "v1"));
        assert_eq!(repository_and_tag("a@sha256:00"), ("a@sha256:00", ""));
    }

    #[test]
    fn malformed_names_are_refused() {
        assert!(normalize("").is_err());
        assert!(normalize("Busy/Box").is_err());
        assert!(normalize("a:b:c").is_err());
        assert!(normalize("a@sha256:00").is_err());
        assert!(normalize("a:").is_err());
        // Components that would read as paths, or hosts with no port after the colon.
        for name in [
            "../x", "a/../b", "./a", "a/.", "a/..b", "-a", "a-", "a:../x", "h:/a",
        ] {
            assert!(normalize(name).is_err(), "{name}");
        }
        assert!(normalize("a..b").is_err());
        assert_eq!(normalize("a.b_c-d/e__f").unwrap(), "a.b_c-d/e__f:latest");
        assert_eq!(normalize("Reg.Host:80/x").unwrap(), "Reg.Host:80/x:latest");
    }

    #[test]
    fn display_split() {
        assert_eq!(
            repository_and_tag("localhost:5000/a:v1"),
            ("localhost:5000/a", "v1")
        );
    }
}
