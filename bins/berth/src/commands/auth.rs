//! `login` and `logout`: the daemon checks the credentials (`POST /auth`); they are kept
//! as docker keeps them (berth-distribution's login: the credential helper config.json
//! names, else its `auths`, written whole and 0600; a config.json that does not parse is
//! an error, never overwritten).

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use berth_distribution::auth::Credentials;
use berth_distribution::login::{erase_in, registry_of, store_in};

use berth_client::multi::Clients;
use hyper::Method;
use serde_json::{json, Value};

use crate::cli::LoginArgs;
use crate::exit::{Failure, Outcome};

pub async fn login(clients: &Clients, config_dir: &Path, args: &LoginArgs) -> Outcome {
    let registry = registry_of(args.server.as_deref());
    let server = berth_distribution::credentials::server_key(&registry);
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
    let credentials = Credentials { username, password };
    store_in(config_dir, &registry, &credentials).map_err(|e| Failure::new(1, e.to_string()))?;
    println!("{}", answer["Status"].as_str().unwrap_or("Login Succeeded"));
    Ok(0)
}

pub fn logout(config_dir: &Path, server: Option<&str>) -> Outcome {
    let registry = registry_of(server);
    let key = berth_distribution::credentials::server_key(&registry);
    if erase_in(config_dir, &registry).map_err(|e| Failure::new(1, e.to_string()))? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}
