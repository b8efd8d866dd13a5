//! The daemons a command talks to, from the global flags: `-H` (repeatable), then
//! `BERTH_HOST`/`DOCKER_HOST`, then the context; none means the API in-process.

use std::path::PathBuf;

use berth_client::host::Address;
use berth_client::inprocess::{Local, LocalStore};
use berth_client::multi::Clients;
use berth_client::tls::{client_config, TlsFiles};
use berth_client::transport::Transport;
use berth_client::{Client, ClientError};

use crate::cli::Cli;

/// The name of the in-process "host", in errors and the HOST column.
pub const LOCAL: &str = "local";

pub fn clients(cli: &Cli) -> Result<Clients, ClientError> {
    let context_host =
        berth_client::context::host_of_current(&config_dir(cli), cli.context.as_deref())?;
    let hosts = berth_client::host::configured(&cli.hosts, context_host);
    if hosts.is_empty() {
        return Ok(Clients(vec![Client::new(
            LOCAL,
            Transport::InProcess(local(cli)),
        )]));
    }
    let tls = cli.tls || cli.tlsverify;
    let tls_config = if tls {
        let files = TlsFiles {
            verify: cli.tlsverify,
            ca: cli.tlscacert.clone(),
            cert: cli.tlscert.clone(),
            key: cli.tlskey.clone(),
        }
        .with_defaults_from(&cert_dir(cli));
        Some(client_config(&files)?)
    } else {
        None
    };
    let clients = hosts
        .iter()
        .map(|h| {
            let address = Address::parse(h, tls)?;
            Ok(Client::new(
                h.clone(),
                Transport::new(address, tls_config.clone()),
            ))
        })
        .collect::<Result<Vec<_>, ClientError>>()?;
    Ok(Clients(clients))
}

fn local(cli: &Cli) -> Local {
    Local::new(LocalStore {
        root: cli
            .root
            .clone()
            .unwrap_or_else(|| berth_common::DEFAULT_ROOT.into()),
        run_dir: cli
            .run_dir
            .clone()
            .unwrap_or_else(|| berth_common::DEFAULT_RUN_DIR.into()),
        engine: berth_engine::EngineSettings {
            cgroup_parent: cli.cgroup_parent.clone(),
            net: cli.net.clone().into(),
            insecure_registries: Vec::new(),
        },
    })
}

/// docker's config dir: `--config`/`DOCKER_CONFIG`, else ~/.docker.
pub fn config_dir(cli: &Cli) -> PathBuf {
    cli.config.clone().unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".docker")
    })
}

fn cert_dir(cli: &Cli) -> PathBuf {
    std::env::var_os("DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| config_dir(cli))
}
