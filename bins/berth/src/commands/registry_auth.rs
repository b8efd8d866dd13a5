//! The `X-Registry-Auth` header a pull or push sends, as the docker CLI builds it: the
//! credentials stored for the image's registry (config.json's `auths` or a credential
//! helper, read by berth-distribution's lookup) as base64url JSON. With none stored it is
//! `{}`, and the daemon goes anonymous.

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::json;

static CONFIG_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The client's docker config dir (`--config`, DOCKER_CONFIG, ~/.docker), set once at start.
pub fn set_config_dir(dir: PathBuf) {
    let _ = CONFIG_DIR.set(dir);
}

/// The header's value for a pull or push of `image`.
pub fn header_for(image: &str) -> String {
    let empty = || base64::engine::general_purpose::URL_SAFE.encode("{}");
    let (Some(dir), Ok(reference)) = (
        CONFIG_DIR.get(),
        berth_distribution::reference::RemoteRef::parse(image),
    ) else {
        return empty();
    };
    match berth_distribution::credentials::lookup_in(dir, &reference.registry) {
        Ok(Some(creds)) => {
            let body = json!({
                "username": creds.username,
                "password": creds.password,
                "serveraddress": berth_distribution::credentials::server_key(&reference.registry),
            });
            base64::engine::general_purpose::URL_SAFE.encode(body.to_string())
        }
        Ok(None) => empty(),
        Err(e) => {
            // docker goes on without credentials when its store fails, and says so.
            eprintln!("WARNING: {e}");
            empty()
        }
    }
}
