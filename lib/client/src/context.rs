//! Contexts in docker's store, so `docker context` and `berth context` share them:
//! `<config>/contexts/meta/<sha256 of the name>/meta.json` holds a context's name,
//! description and docker endpoint; `<config>/config.json`'s `currentContext` names the one
//! in use, `DOCKER_CONTEXT` overrides it. `default` is no endpoint of its own: the
//! environment's host, or in-process.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ClientError, Result};

pub const DEFAULT: &str = "default";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Metadata", default)]
    pub metadata: serde_json::Value,
    #[serde(rename = "Endpoints", default)]
    pub endpoints: serde_json::Map<String, serde_json::Value>,
}

impl Meta {
    pub fn new(name: &str, description: &str, host: &str) -> Meta {
        let mut endpoints = serde_json::Map::new();
        endpoints.insert(
            "docker".into(),
            serde_json::json!({"Host": host, "SkipTLSVerify": false}),
        );
        Meta {
            name: name.into(),
            metadata: serde_json::json!({"Description": description}),
            endpoints,
        }
    }

    pub fn host(&self) -> Option<String> {
        self.endpoints
            .get("docker")?
            .get("Host")?
            .as_str()
            .map(String::from)
    }

    pub fn description(&self) -> String {
        self.metadata
            .get("Description")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// docker's store of contexts under one config dir.
pub struct Store {
    config: PathBuf,
}

fn not_json(path: &Path, e: serde_json::Error) -> ClientError {
    ClientError::File(berth_common::json_file::JsonFileError {
        op: "parsing",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

fn io(what: &Path, e: std::io::Error) -> ClientError {
    ClientError::io(what.display().to_string(), e)
}

impl Store {
    pub fn new(config_dir: &Path) -> Store {
        Store {
            config: config_dir.to_path_buf(),
        }
    }

    fn meta_dir(&self, name: &str) -> PathBuf {
        let digest = hex::encode(Sha256::digest(name.as_bytes()));
        self.config.join("contexts").join("meta").join(digest)
    }

    fn not_found(name: &str) -> ClientError {
        ClientError::Usage(format!("context \"{name}\" does not exist"))
    }

    pub fn get(&self, name: &str) -> Result<Meta> {
        let path = self.meta_dir(name).join("meta.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Self::not_found(name))
            }
            Err(e) => return Err(io(&path, e)),
        };
        serde_json::from_slice(&text).map_err(|e| not_json(&path, e))
    }

    /// Every stored context, by name.
    pub fn list(&self) -> Result<Vec<Meta>> {
        let dir = self.config.join("contexts").join("meta");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut metas = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path().join("meta.json");
            if let Ok(text) = std::fs::read(&path) {
                if let Ok(meta) = serde_json::from_slice::<Meta>(&text) {
                    metas.push(meta);
                }
            }
        }
        metas.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(metas)
    }

    pub fn create(&self, meta: &Meta) -> Result<()> {
        if meta.name == DEFAULT || self.get(&meta.name).is_ok() {
            return Err(ClientError::Usage(format!(
                "context {:?} already exists",
                meta.name
            )));
        }
        let dir = self.meta_dir(&meta.name);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let path = dir.join("meta.json");
        Ok(berth_common::json_file::write_atomic(&path, meta)?)
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        self.get(name)?;
        let dir = self.meta_dir(name);
        std::fs::remove_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let tls = self
            .config
            .join("contexts")
            .join("tls")
            .join(dir.file_name().unwrap_or_default());
        let _ = std::fs::remove_dir_all(tls);
        if self.current_in_config()?.as_deref() == Some(name) {
            self.set_current(DEFAULT)?;
        }
        Ok(())
    }

    fn config_json(&self) -> PathBuf {
        self.config.join("config.json")
    }

    fn read_config(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let path = self.config_json();
        match std::fs::read(&path) {
            Ok(text) if text.iter().all(u8::is_ascii_whitespace) => Ok(Default::default()),
            Ok(text) => serde_json::from_slice(&text).map_err(|e| not_json(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
            Err(e) => Err(io(&path, e)),
        }
    }

    fn current_in_config(&self) -> Result<Option<String>> {
        Ok(self
            .read_config()?
            .get("currentContext")
            .and_then(|c| c.as_str())
            .filter(|c| !c.is_empty())
            .map(String::from))
    }

    /// The context in use: `DOCKER_CONTEXT`, else config.json's, else `default`.
    pub fn current(&self) -> Result<String> {
        if let Ok(name) = std::env::var("DOCKER_CONTEXT") {
            if !name.is_empty() {
                return Ok(name);
            }
        }
        Ok(self.current_in_config()?.unwrap_or_else(|| DEFAULT.into()))
    }

    /// Writes `currentContext`, keeping the rest of config.json (auths…) as it is.
    pub fn set_current(&self, name: &str) -> Result<()> {
        if name != DEFAULT {
            self.get(name)?;
        }
        let mut config = self.read_config()?;
        if name == DEFAULT {
            config.remove("currentContext");
        } else {
            config.insert("currentContext".into(), name.into());
        }
        std::fs::create_dir_all(&self.config).map_err(|e| io(&self.config, e))?;
        // config.json may hold `auths`: written as login writes it, whole and 0600.
        Ok(berth_common::json_file::write_private(
            &self.config_json(),
            &config,
        )?)
    }
}

/// The host of the context in use (`explicit`, else the current one); `None` for `default`.
pub fn host_of_current(config_dir: &Path, explicit: Option<&str>) -> Result<Option<String>> {
    let store = Store::new(config_dir);
    let name = match explicit {
        Some(n) => n.to_string(),
        None => store.current()?,
    };
    if name == DEFAULT {
        return Ok(None);
    }
    Ok(store.get(&name)?.host())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_stored_as_docker_stores_them() {
        let dir = tempfile_dir();
        let store = Store::new(&dir);
        store
            .create(&Meta::new("a", "first", "unix:///tmp/a.sock"))
            .unwrap();
        let digest = hex::encode(Sha256::digest(b"a"));
        let meta: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.join("contexts/meta").join(digest).join("meta.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["Endpoints"]["docker"]["Host"], "unix:///tmp/a.sock");
        assert_eq!(meta["Name"], "a");
        std::fs::write(dir.join("config.json"), r#"{"auths":{"x":{}}}"#).unwrap();
        store.set_current("a").unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["currentContext"], "a");
        assert!(config["auths"]["x"].is_object());
        assert_eq!(
            host_of_current(&dir, None).unwrap().as_deref(),
            Some("unix:///tmp/a.sock")
        );
        assert!(store.create(&Meta::new("a", "", "unix:///x")).is_err());
        store.remove("a").unwrap();
        assert_eq!(host_of_current(&dir, None).unwrap(), None);
        assert!(store.get("a").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "berth-client-context-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
