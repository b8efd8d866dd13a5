//! A container's identity as every stage, the wrapper and the daemon take it: a
//! [`ContainerId`] (64 lowercase hex digits, as Docker's) and a [`ContainerName`] (Docker's
//! name rule). Both are checked when parsed and when deserialised, so an id or a name from a
//! record, a state file or a flag is never joined into a path unchecked.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Length of an id's short form: the container's hostname and what `ps` shows.
pub const SHORT_ID_LEN: usize = 12;
const ID_LEN: usize = 64;

/// Why a text is not a container id or name; names the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid container id {0:?}: 64 lowercase hex digits expected")]
    Id(String),
    #[error(
        "invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least two characters"
    )]
    Name(String),
    #[error("invalid container reference {0:?}: a container name or ID expected")]
    Reference(String),
}

/// A full container id: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerId(String);

impl ContainerId {
    /// A fresh id, never one whose short form is all decimal digits
    /// ([`crate::units::random_id`]).
    pub fn random() -> ContainerId {
        ContainerId(crate::units::random_id())
    }

    pub fn parse(text: &str) -> Result<ContainerId, IdentityError> {
        if is_full_id(text) {
            Ok(ContainerId(text.to_string()))
        } else {
            Err(IdentityError::Id(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, as `docker ps` shows them.
    pub fn short(&self) -> &str {
        &self.0[..SHORT_ID_LEN]
    }
}

/// Whether `text` could be the start of an id: what a short-id lookup accepts.
pub fn is_id_prefix(text: &str) -> bool {
    !text.is_empty() && text.len() <= ID_LEN && text.bytes().all(is_lower_hex)
}

fn is_full_id(text: &str) -> bool {
    text.len() == ID_LEN && text.bytes().all(is_lower_hex)
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// A container name as Docker allows it: `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+` (the leading `/`
/// Docker's API shows is dropped), at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerName(String);

impl ContainerName {
    pub fn parse(text: &str) -> Result<ContainerName, IdentityError> {
        let name = text.strip_prefix('/').unwrap_or(text);
        let mut bytes = name.bytes();
        let valid = matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
            && (2..=255).contains(&name.len())
            && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if valid {
            Ok(ContainerName(name.to_string()))
        } else {
            Err(IdentityError::Name(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A container as a user names one: a name, a full id or an id prefix, what
/// [`crate::registry::resolve`] looks up. Checked to be one of them when parsed, so a
/// request naming `../x` is refused as invalid before anything is looked up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerRef(String);

impl ContainerRef {
    pub fn parse(text: &str) -> Result<ContainerRef, IdentityError> {
        if is_id_prefix(text) || ContainerName::parse(text).is_ok() {
            Ok(ContainerRef(text.to_string()))
        } else {
            Err(IdentityError::Reference(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_type {
    ($type:ident) => {
        impl FromStr for $type {
            type Err = IdentityError;
            fn from_str(text: &str) -> Result<Self, IdentityError> {
                $type::parse(text)
            }
        }

        impl TryFrom<String> for $type {
            type Error = IdentityError;
            fn try_from(text: String) -> Result<Self, IdentityError> {
                $type::parse(&text)
            }
        }

        impl From<$type> for String {
            fn from(value: $type) -> String {
                value.0
            }
        }

        impl Deref for $type {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $type {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<std::path::Path> for $type {
            fn as_ref(&self) -> &std::path::Path {
                self.0.as_ref()
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $type {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $type {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $type {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

text_type!(ContainerId);
text_type!(ContainerName);
text_type!(ContainerRef);

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f5e0c2b9a7d41e8b6c0d2f4a6e8c0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4";

    #[test]
    fn ids_are_64_lowercase_hex() {
        let id = ContainerId::parse(ID).unwrap();
        assert_eq!(id.short(), "3f5e0c2b9a7d");
        assert_eq!(id.to_string(), ID);
        for bad in [
            "abc",
            "../x",
            "../../x",
            "",
            &ID.to_uppercase(),
            &format!("{ID}0"),
        ] {
            assert_eq!(
                ContainerId::parse(bad),
                Err(IdentityError::Id(bad.to_string()))
            );
        }
        let path_like = format!("../{}", &ID[3..]);
        assert!(ContainerId::parse(&path_like).is_err());
    }

    #[test]
    fn ids_are_checked_when_deserialised() {
        let id: ContainerId = serde_json::from_str(&format!("{ID:?}")).unwrap();
        assert_eq!(id, ID);
        let err = serde_json::from_str::<ContainerId>(r#""../../x""#).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"invalid container id "../../x""#),
            "{err}"
        );
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("{ID:?}"));
    }

    #[test]
    fn random_ids_are_valid() {
        let (a, b) = (ContainerId::random(), ContainerId::random());
        assert!(ContainerId::parse(&a).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn prefixes() {
        assert!(is_id_prefix("3f5e"));
        assert!(is_id_prefix(ID));
        assert!(!is_id_prefix(""));
        assert!(!is_id_prefix("../"));
        assert!(!is_id_prefix("web"));
        assert!(!is_id_prefix(&format!("{ID}0")));
    }

    #[test]
    fn names_as_docker_allows_them() {
        assert_eq!(ContainerName::parse("web-1.a_b").unwrap(), "web-1.a_b");
        assert_eq!(ContainerName::parse("/web").unwrap(), "web");
        for bad in ["-x", "a", "a/b", "", "/", "../x", "we b", &"a".repeat(256)] {
            assert_eq!(
                ContainerName::parse(bad),
                Err(IdentityError::Name(bad.to_string()))
            );
        }
        let err = serde_json::from_str::<ContainerName>(r#""../x""#).unwrap_err();
        assert!(err.to_string().contains("invalid container name"), "{err}");
    }

    #[test]
    fn references_are_names_ids_or_prefixes() {
        for good in ["web", "/web", "3f5e", ID] {
            assert_eq!(ContainerRef::parse(good).unwrap(), good);
        }
        for bad in ["../x", "", "a/b", "-x", "we b"] {
            assert_eq!(
                ContainerRef::parse(bad),
                Err(IdentityError::Reference(bad.to_string()))
            );
        }
    }
}
