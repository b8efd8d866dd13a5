//! `login` and `logout` as docker keeps them: credentials verified against the registry,
//! then stored with the registry's credential helper (`credHelpers`, `credsStore`:
//! `docker-credential-NAME store`/`erase`) or else as base64 `user:password` in
//! config.json's `auths` (the file written whole, mode 0600, other keys kept; read, changed
//! and written under a lock beside it, so two logins at once both land).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use berth_common::{FileLock, LockMode};
use serde_json::{json, Value};

use crate::auth::Credentials;
use crate::client::{Registry, RegistryOptions};
use crate::credentials::{config_dir, server_key};
use crate::error::{DistributionError, Result};
use crate::reference::{DOCKER_HUB, DOCKER_HUB_API};

/// The registry a `login ARG` means: a host, a URL, or nothing for Docker Hub.
pub fn registry_of(arg: Option<&str>) -> String {
    let arg = arg.unwrap_or(DOCKER_HUB);
    let host = arg
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or(arg);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "" => DOCKER_HUB.into(),
        host => host.into(),
    }
}

/// Checks `credentials` against `registry` (`docker.io` or `host[:port]`).
pub fn verify(registry: &str, credentials: &Credentials, insecure: &[String]) -> Result<()> {
    let api = if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        registry
    };
    let options = RegistryOptions {
        insecure: insecure.to_vec(),
        credentials: Some(credentials.clone()),
        docker_config: false,
        identity_token: None,
    };
    Registry::connect(registry, api, &options)?.check_credentials()
}

/// Stores verified credentials for `registry`; returns where they went.
pub fn store(registry: &str, credentials: &Credentials) -> Result<String> {
    store_in(&default_dir(registry)?, registry, credentials)
}

/// [`store`] into the docker config in `dir` (a client's `--config`).
pub fn store_in(dir: &Path, registry: &str, credentials: &Credentials) -> Result<String> {
    let (path, mut config, _lock) = read_config(dir, registry)?;
    let key = server_key(registry);
    if let Some(helper) = helper_for(&config, registry, &key) {
        let input = json!({"ServerURL": key, "Username": credentials.username, "Secret": credentials.password});
        run_helper(registry, &helper, "store", input.to_string().as_bytes())?;
        return Ok(format!("the credential helper docker-credential-{helper}"));
    }
    let pair = format!("{}:{}", credentials.username, credentials.password);
    let auth = base64::engine::general_purpose::STANDARD.encode(pair);
    if !config["auths"].is_object() {
        config["auths"] = json!({});
    }
    config["auths"][&key] = json!({ "auth": auth });
    write_config(registry, &path, &config)?;
    Ok(path.display().to_string())
}

/// Forgets `registry`'s credentials; false when there were none.
pub fn erase(registry: &str) -> Result<bool> {
    erase_in(&default_dir(registry)?, registry)
}

/// [`erase`] from the docker config in `dir` (a client's `--config`).
pub fn erase_in(dir: &Path, registry: &str) -> Result<bool> {
    let (path, mut config, _lock) = read_config(dir, registry)?;
    let key = server_key(registry);
    if let Some(helper) = helper_for(&config, registry, &key) {
        run_helper(registry, &helper, "erase", key.as_bytes())?;
        return Ok(true);
    }
    let removed = config["auths"]
        .as_object_mut()
        .and_then(|auths| auths.remove(&key))
        .is_some();
    if removed {
        write_config(registry, &path, &config)?;
    }
    Ok(removed)
}

fn err(registry: &str, reason: String) -> DistributionError {
    DistributionError::Credentials {
        registry: registry.to_string(),
        reason,
    }
}

fn default_dir(registry: &str) -> Result<PathBuf> {
    config_dir().ok_or_else(|| err(registry, "neither DOCKER_CONFIG nor HOME is set".into()))
}

/// config.json, parsed (`{}` when there is none), with the lock that keeps others from
/// changing it until the caller has written it back. A config.json that is not a JSON
/// object is an error, never overwritten: it may hold what the user cannot get back.
fn read_config(dir: &Path, registry: &str) -> Result<(PathBuf, Value, FileLock)> {
    let path = dir.join("config.json");
    let lock = lock_config(registry, &path)?;
    let config: Value = match std::fs::read(&path) {
        Ok(data) => serde_json::from_slice(&data)
            .map_err(|e| err(registry, format!("{}: not valid JSON: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(err(registry, format!("{}: {e}", path.display()))),
    };
    if !config.is_object() {
        return Err(err(
            registry,
            format!("{}: not a JSON object", path.display()),
        ));
    }
    Ok((path, config, lock))
}

fn lock_config(registry: &str, path: &Path) -> Result<FileLock> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| err(registry, format!("{}: {e}", dir.display())))?;
    FileLock::acquire(&dir.join(".config.json.lock"), LockMode::Exclusive)
        .map_err(|e| err(registry, e.to_string()))
}

/// Written to a temp file of its own beside it (mode 0600) and renamed: a crash leaves the
/// old file or the new, and two writers never share a temp file.
fn write_config(registry: &str, path: &Path, config: &Value) -> Result<()> {
    let io = |e: std::io::Error| err(registry, format!("{}: {e}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(dir)
        .map_err(io)?;
    let text = serde_json::to_string_pretty(config).expect("a JSON value serialises");
    file.write_all(text.as_bytes()).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    file.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

fn helper_for(config: &Value, registry: &str, key: &str) -> Option<String> {
    let helpers = &config["credHelpers"];
    helpers[registry]
        .as_str()
        .or_else(|| helpers[key].as_str())
        .or_else(|| config["credsStore"].as_str())
        .filter(|h| !h.is_empty())
        .map(String::from)
}

fn run_helper(registry: &str, helper: &str, verb: &str, input: &[u8]) -> Result<()> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(registry, format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading closes the pipe: its status tells why.
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| err(registry, format!("{program}: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout);
        return Err(err(
            registry,
            format!("{program} {verb} failed: {}", said.trim()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            username: "u".into(),
            password: "p".into(),
        }
    }

    #[test]
    fn stored_auths_keep_other_keys_and_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"currentContext":"x","auths":{"other:1":{"auth":"eA=="}}}"#,
        )
        .unwrap();
        store_in(dir.path(), "reg:5000", &creds()).unwrap();
        let config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(config["currentContext"], "x");
        assert_eq!(config["auths"]["other:1"]["auth"], "eA==");
        assert_eq!(config["auths"]["reg:5000"]["auth"], "dTpw");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(erase_in(dir.path(), "reg:5000").unwrap());
        assert!(!erase_in(dir.path(), "reg:5000").unwrap());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != ".config.json.lock")
            .collect();
        assert_eq!(names, ["config.json"], "no temp file is left");
    }

    #[test]
    fn a_corrupt_config_is_named_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        for text in ["{\"auths\": {", "[1, 2]"] {
            std::fs::write(&path, text).unwrap();
            let e = store_in(dir.path(), "reg:5000", &creds()).unwrap_err();
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            assert!(erase_in(dir.path(), "reg:5000").is_err());
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn login_arguments_name_registries() {
        assert_eq!(registry_of(None), "docker.io");
        assert_eq!(
            registry_of(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(registry_of(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(registry_of(Some("http://reg.lan:5000/v2/")), "reg.lan:5000");
    }

    /// What `store` does with config.json, for `registry`, without the credential helpers.
    fn add_entry(path: &Path, registry: &str) {
        let _lock = lock_config(registry, path).unwrap();
        let mut config: Value = match std::fs::read(path) {
            Ok(data) => serde_json::from_slice(&data).unwrap(),
            Err(_) => json!({}),
        };
        if !config["auths"].is_object() {
            config["auths"] = json!({});
        }
        config["auths"][registry] = json!({ "auth": "dTpw" });
        write_config(registry, path, &config).unwrap();
    }

    #[test]
    fn logins_at_once_all_land_and_the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker").join("config.json");
        std::thread::scope(|scope| {
            for i in 0..16 {
                let path = &path;
                scope.spawn(move || add_entry(path, &format!("reg{i}.lan:5000")));
            }
        });
        let config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(config["auths"].as_object().unwrap().len(), 16, "{config}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "config.json" && n != ".config.json.lock")
            .collect();
        assert!(left.is_empty(), "temp files left: {left:?}");
    }
}
