//! Credentials as docker keeps them: `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`), its `auths` (base64 `user:password`), and the credential
//! helpers named by `credHelpers` (per registry) or `credsStore` (all), which speak the
//! `docker-credential-NAME get` protocol: the server on stdin, JSON on stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use crate::auth::Credentials;
use crate::error::{DistributionError, Result};
use crate::reference::DOCKER_HUB;

/// The key docker files Docker Hub's credentials under.
const HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: std::collections::HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

pub fn config_dir() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")),
    }
}

/// The key of `registry` in `auths` and for helpers.
pub fn server_key(registry: &str) -> String {
    if registry == DOCKER_HUB {
        HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// Credentials for `registry` from the docker config, if any are stored.
pub fn lookup(registry: &str) -> Result<Option<Credentials>> {
    match config_dir() {
        Some(dir) => lookup_in(&dir, registry),
        None => Ok(None),
    }
}

/// Credentials for `registry` from the docker config in `dir` (a client's `--config`).
pub fn lookup_in(dir: &std::path::Path, registry: &str) -> Result<Option<Credentials>> {
    let path = dir.join("config.json");
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(creds_err(registry, format!("{}: {e}", path.display()))),
    };
    let config: ConfigFile = serde_json::from_slice(&data)
        .map_err(|e| creds_err(registry, format!("{}: not valid JSON: {e}", path.display())))?;
    let key = server_key(registry);
    let helper = config
        .cred_helpers
        .get(registry)
        .or_else(|| config.cred_helpers.get(&key))
        .or(config.creds_store.as_ref());
    if let Some(helper) = helper {
        return from_helper(helper, registry, &key);
    }
    let entry = [
        key.clone(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ]
    .iter()
    .find_map(|k| config.auths.get(k));
    entry.map(|e| decode(registry, e)).transpose()
}

fn decode(registry: &str, entry: &AuthEntry) -> Result<Credentials> {
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Credentials {
            username: username.clone(),
            password: password.clone(),
        });
    }
    let auth = entry
        .auth
        .as_deref()
        .ok_or_else(|| creds_err(registry, "the auths entry has no \"auth\"".into()))?;
    let pair = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| creds_err(registry, "\"auth\" is not base64 of user:password".into()))?;
    let (username, password) = pair.split_once(':').ok_or_else(|| {
        creds_err(
            registry,
            "\"auth\" has no ':' between user and password".into(),
        )
    })?;
    Ok(Credentials {
        username: username.into(),
        password: password.into(),
    })
}

/// `docker-credential-NAME get`; a helper that knows no credentials for the server
/// answers with an error, which is "none" here, as docker takes it.
fn from_helper(helper: &str, registry: &str, key: &str) -> Result<Option<Credentials>> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| creds_err(registry, format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading closes the pipe: its answer tells why.
        let _ = stdin.write_all(key.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| creds_err(registry, format!("{program}: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout);
        tracing::debug!(%program, answer = %said.trim(), "credential helper has none");
        return Ok(None);
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| creds_err(registry, format!("{program} answered no valid JSON: {e}")))?;
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
    }))
}

fn creds_err(registry: &str, reason: String) -> DistributionError {
    DistributionError::Credentials {
        registry: registry.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_entries_decode() {
        let entry = AuthEntry {
            auth: Some(base64::engine::general_purpose::STANDARD.encode("u:p:w")),
            ..AuthEntry::default()
        };
        let c = decode("r", &entry).unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p:w"));
        let broken = AuthEntry {
            auth: Some("!!".into()),
            ..AuthEntry::default()
        };
        assert!(decode("r", &broken).is_err());
        assert_eq!(server_key("docker.io"), HUB_KEY);
        assert_eq!(server_key("h:5000"), "h:5000");
    }
}
