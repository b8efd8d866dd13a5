//! `login` and `logout`: the daemon checks the credentials (`POST /auth`); they are kept
//! where docker keeps them, `auths` in config.json, base64 of `user:password`.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use berth_client::multi::Clients;
use hyper::Method;
use serde_json::{json, Value};

use crate::cli::LoginArgs;
use crate::exit::{Failure, Outcome};

const DEFAULT_SERVER: &str = "https://index.docker.io/v1/";

fn read_config(path: &Path) -> serde_json::Map<String, Value> {
    std::fs::read(path)
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok())
        .unwrap_or_default()
}

fn write_config(path: &Path, config: &serde_json::Map<String, Value>) -> Result<(), Failure> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::new(1, format!("{}: {e}", dir.display())))?;
    }
    let text = serde_json::to_vec_pretty(config).unwrap_or_default();
    std::fs::write(path, text).map_err(|e| Failure::new(1, format!("{}: {e}", path.display())))
}

/// docker's `auth` field: standard base64 of `user:password`.
fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub async fn login(clients: &Clients, config_dir: &Path, args: &LoginArgs) -> Outcome {
    let server = args.server.clone().unwrap_or_else(|| DEFAULT_SERVER.into());
    let username = args.username.clone().ok_or_else(|| {
        Failure::new(
            1,
            "Error: Cannot perform an interactive login from a non TTY device: give -u",
        )
    })?;
    let password = match (&args.password, args.password_stdin) {
        (Some(p), false) => p.clone(),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Failure::new(1, format!("reading the password: {e}")))?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        (Some(_), true) => {
            return Err(Failure::new(
                1,
                "--password and --password-stdin are mutually exclusive",
            ))
        }
        (None, false) if std::io::stdin().is_terminal() => {
            return Err(Failure::new(
                1,
                "give the password with -p or --password-stdin",
            ))
        }
        (None, false) => {
            return Err(Failure::new(
                1,
                "Error: Cannot perform an interactive login from a non TTY device",
            ))
        }
    };
    let body = json!({"username": username, "password": password, "serveraddress": server});
    let answer: Value = clients
        .first()
        .send_json(Method::POST, "/auth", &body)
        .await?;
    let path = config_dir.join("config.json");
    let mut config = read_config(&path);
    let auths = config.entry("auths").or_insert_with(|| json!({}));
    auths[&server] = json!({"auth": base64(format!("{username}:{password}").as_bytes())});
    write_config(&path, &config)?;
    println!("{}", answer["Status"].as_str().unwrap_or("Login Succeeded"));
    Ok(0)
}

pub fn logout(config_dir: &Path, server: Option<&str>) -> Outcome {
    let server = server.unwrap_or(DEFAULT_SERVER);
    let path = config_dir.join("config.json");
    let mut config = read_config(&path);
    let removed = config
        .get_mut("auths")
        .and_then(|a| a.as_object_mut())
        .and_then(|a| a.remove(server))
        .is_some();
    if removed {
        write_config(&path, &config)?;
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_as_docker_stores_auth() {
        assert_eq!(super::base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(super::base64(b"ab"), "YWI=");
        assert_eq!(super::base64(b"a"), "YQ==");
    }
}
