//! berthd's settings: flags, and the config file (`/etc/berth/daemon.json`) with the same
//! keys. A key set both ways is refused, as dockerd refuses it, so that nobody wonders
//! which one won.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;
use serde::Deserialize;

pub const DEFAULT_CONFIG: &str = "/etc/berth/daemon.json";
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "berthd",
    version,
    about = "The berth daemon: the Docker Engine API for one root"
)]
pub struct Cli {
    /// The store: images, containers, networks, volumes.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Runtime state (mounts, sockets), lost on reboot.
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Where to listen: unix:///path or tcp://ADDR:PORT (loopback only); repeatable.
    #[arg(short = 'H', long = "host", value_name = "ADDR")]
    hosts: Vec<String>,
    /// The group that may use the Unix sockets (mode 0660).
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// A registry tried over HTTPS unchecked, then plain HTTP (HOST[:PORT] or a CIDR); repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// Serve TCP listeners over TLS (--tlscert, --tlskey).
    #[arg(long)]
    tls: bool,
    /// TLS, and clients must present a certificate signed by --tlscacert.
    #[arg(long)]
    tlsverify: bool,
    /// The CA that signs clients' certificates (with --tlsverify).
    #[arg(long, value_name = "FILE")]
    tlscacert: Option<PathBuf>,
    /// The daemon's certificate (PEM).
    #[arg(long, value_name = "FILE")]
    tlscert: Option<PathBuf>,
    /// The daemon's private key (PEM).
    #[arg(long, value_name = "FILE")]
    tlskey: Option<PathBuf>,
    /// Where containers' cgroups go: a parent at the root of each hierarchy.
    #[arg(long = "cgroup-parent", env = "BERTH_CGROUP_PARENT", default_value = berth_cgroups::DEFAULT_PARENT)]
    cgroup_parent: String,
    #[command(flatten)]
    net: berth_cli::HostArgs,
    /// The config file, with the same keys as the flags.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    config_file: PathBuf,
}

/// The config file's keys; any other key is refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    root: Option<PathBuf>,
    run_dir: Option<PathBuf>,
    hosts: Option<Vec<String>>,
    group: Option<String>,
    log_level: Option<String>,
    insecure_registries: Option<Vec<String>>,
    tls: Option<bool>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
}

/// What berthd runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub hosts: Vec<String>,
    pub group: Option<String>,
    pub log_level: String,
    pub tls: Option<crate::listen::Tls>,
    pub engine: berth_engine::EngineSettings,
}

impl Settings {
    pub fn resolve(cli: Cli) -> anyhow::Result<Settings> {
        let file = read_config(
            &cli.config_file,
            cli.config_file != Path::new(DEFAULT_CONFIG),
        )?;
        let mut both = Vec::new();
        let mut pick = |name: &str, flag_set: bool, file_set: bool| {
            if flag_set && file_set {
                both.push(name.to_string());
            }
        };
        pick("root", cli.root.is_some(), file.root.is_some());
        pick("run-dir", cli.run_dir.is_some(), file.run_dir.is_some());
        pick("hosts", !cli.hosts.is_empty(), file.hosts.is_some());
        pick("group", cli.group.is_some(), file.group.is_some());
        pick(
            "log-level",
            cli.log_level.is_some(),
            file.log_level.is_some(),
        );
        pick(
            "insecure-registries",
            !cli.insecure_registries.is_empty(),
            file.insecure_registries.is_some(),
        );
        pick("tls", cli.tls, file.tls.is_some());
        pick("tlsverify", cli.tlsverify, file.tlsverify.is_some());
        pick(
            "tlscacert",
            cli.tlscacert.is_some(),
            file.tlscacert.is_some(),
        );
        pick("tlscert", cli.tlscert.is_some(), file.tlscert.is_some());
        pick("tlskey", cli.tlskey.is_some(), file.tlskey.is_some());
        if !both.is_empty() {
            bail!(
                "the following directives are specified both as a flag and in the \
                 configuration file ({}): {}",
                cli.config_file.display(),
                both.join(", ")
            );
        }
        let hosts = if !cli.hosts.is_empty() {
            cli.hosts
        } else {
            file.hosts.unwrap_or_else(|| vec![DEFAULT_HOST.to_string()])
        };
        let tls = tls_settings(
            cli.tls || file.tls.unwrap_or(false),
            cli.tlsverify || file.tlsverify.unwrap_or(false),
            cli.tlscacert.or(file.tlscacert),
            cli.tlscert.or(file.tlscert),
            cli.tlskey.or(file.tlskey),
        )?;
        let log_level = cli
            .log_level
            .or(file.log_level)
            .unwrap_or_else(|| "info".into());
        check_level(&log_level)?;
        Ok(Settings {
            root: cli
                .root
                .or(file.root)
                .unwrap_or_else(|| berth_common::DEFAULT_ROOT.into()),
            run_dir: cli
                .run_dir
                .or(file.run_dir)
                .unwrap_or_else(|| berth_common::DEFAULT_RUN_DIR.into()),
            hosts,
            group: cli.group.or(file.group),
            log_level,
            tls,
            engine: berth_engine::EngineSettings {
                cgroup_parent: cli.cgroup_parent,
                net: cli.net.into(),
                insecure_registries: if cli.insecure_registries.is_empty() {
                    file.insecure_registries.unwrap_or_default()
                } else {
                    cli.insecure_registries
                },
            },
        })
    }
}

/// The keys whose change a running berthd cannot apply.
pub fn restart_only_changes(running: &Settings, new: &Settings) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |key, differs: bool| {
        if differs {
            changed.push(key);
        }
    };
    check("root", running.root != new.root);
    check("run-dir", running.run_dir != new.run_dir);
    check("hosts", running.hosts != new.hosts);
    check("group", running.group != new.group);
    check(
        "tls",
        running.tls.as_ref().map(|t| &t.files) != new.tls.as_ref().map(|t| &t.files),
    );
    check(
        "insecure-registries",
        running.engine.insecure_registries != new.engine.insecure_registries,
    );
    changed
}

/// The config file; the default one may be missing, one named by `--config-file` may not.
fn read_config(path: &Path, named: bool) -> anyhow::Result<FileConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => {
            return Ok(FileConfig::default())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_json::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// `--tlsverify` implies TLS; either needs the certificate and key, and verifying needs
/// the CA.
fn tls_settings(
    tls: bool,
    verify: bool,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> anyhow::Result<Option<crate::listen::Tls>> {
    if !tls && !verify {
        if cert.is_some() || key.is_some() || ca.is_some() {
            bail!("--tlscert, --tlskey and --tlscacert need --tls or --tlsverify");
        }
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (cert, key) else {
        bail!("--tls and --tlsverify need --tlscert and --tlskey");
    };
    let client_ca = match (verify, ca) {
        (true, Some(ca)) => Some(ca),
        (true, None) => bail!("--tlsverify needs --tlscacert: the CA of the clients' certificates"),
        (false, _) => None,
    };
    Ok(Some(crate::listen::Tls {
        files: berth_api::tls::TlsFiles {
            cert,
            key,
            client_ca,
        },
    }))
}

fn check_level(level: &str) -> anyhow::Result<()> {
    match level {
        "error" | "warn" | "info" | "debug" | "trace" => Ok(()),
        other => bail!("invalid --log-level {other:?}: use error, warn, info, debug or trace"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str], config: &Path) -> Cli {
        let mut argv = vec!["berthd", "--config-file", config.to_str().unwrap()];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap()
    }

    #[test]
    fn flags_and_file_merge_and_a_key_set_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("daemon.json");
        std::fs::write(&config, r#"{"root": "/srv/berth", "log-level": "debug"}"#).unwrap();
        let settings = Settings::resolve(cli(&["-H", "unix:///tmp/x.sock"], &config)).unwrap();
        assert_eq!(settings.root, PathBuf::from("/srv/berth"));
        assert_eq!(settings.log_level, "debug");
        assert_eq!(settings.hosts, vec!["unix:///tmp/x.sock"]);

        let twice = Settings::resolve(cli(&["--root", "/other"], &config)).unwrap_err();
        assert!(twice.to_string().contains("both as a flag"), "{twice}");
        assert!(twice.to_string().contains("root"), "{twice}");
    }

    #[test]
    fn unknown_keys_and_levels_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("daemon.json");
        std::fs::write(&config, r#"{"rooot": "/x"}"#).unwrap();
        let err = format!("{:#}", Settings::resolve(cli(&[], &config)).unwrap_err());
        assert!(err.contains("rooot"), "{err}");
        std::fs::write(&config, "{}").unwrap();
        let err = Settings::resolve(cli(&["--log-level", "loud"], &config)).unwrap_err();
        assert!(err.to_string().contains("loud"), "{err}");
    }

    #[test]
    fn a_named_config_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let err = format!("{:#}", Settings::resolve(cli(&[], &missing)).unwrap_err());
        assert!(err.contains("nope.json"), "{err}");
    }
}
