//! One module per group of docker commands; `dispatch` runs the one asked for and turns
//! its outcome into the exit code, printing the error on stderr as docker does.

mod auth;
mod containers;
mod context;
mod cp;
mod create_body;
mod create_flags;
mod files;
mod images;
mod objects;
mod observe;
mod ps;
mod registry_auth;
mod run;
mod session;
mod system;

use berth_client::multi::Clients;
use berth_client::template::Format;
use berth_client::ClientError;

use crate::cli::{Cli, Command, ContainerCommand, ImageCommand, SystemCommand};
use crate::exit::{Failure, Outcome};

pub async fn dispatch(cli: Cli) -> u8 {
    registry_auth::set_config_dir(crate::connect::config_dir(&cli));
    let outcome = match &cli.command {
        Command::Completion { shell } => completion(*shell),
        Command::Man { dir } => man(dir),
        Command::Context(c) => context::run(&crate::connect::config_dir(&cli), c),
        Command::Logout { server } => {
            auth::logout(&crate::connect::config_dir(&cli), server.as_deref())
        }
        Command::Login(args) => match crate::connect::clients(&cli) {
            Ok(clients) => auth::login(&clients, &crate::connect::config_dir(&cli), args).await,
            Err(e) => Err(Failure::new(125, e.to_string())),
        },
        _ => match crate::connect::clients(&cli) {
            Ok(clients) => on_daemons(&clients, cli.command).await,
            Err(e) => Err(Failure::new(125, e.to_string())),
        },
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            if let Some(message) = failure.message {
                eprintln!("{message}");
            }
            failure.code
        }
    }
}

async fn on_daemons(clients: &Clients, command: Command) -> Outcome {
    match command {
        Command::Run(args) => run::run(clients, args).await,
        Command::Create(args) => run::create(clients, args).await,
        Command::Start(args) => run::start(clients, args).await,
        Command::Attach(args) => run::attach(clients, args).await,
        Command::Exec(args) => run::exec(clients, args).await,
        Command::Stop(args) => containers::stop(clients, args, false).await,
        Command::Restart(args) => containers::stop(clients, args, true).await,
        Command::Kill(args) => containers::kill(clients, args).await,
        Command::Rm(args) => containers::rm(clients, args).await,
        Command::Wait(args) => containers::wait(clients, args).await,
        Command::Pause(args) => containers::simple(clients, args, "pause").await,
        Command::Unpause(args) => containers::simple(clients, args, "unpause").await,
        Command::Rename {
            container,
            new_name,
        } => containers::rename(clients, &container, &new_name).await,
        Command::Port {
            container,
            private_port,
        } => containers::port(clients, &container, private_port.as_deref()).await,
        Command::Top { container, ps_args } => containers::top(clients, &container, &ps_args).await,
        Command::Logs(args) => containers::logs(clients, args).await,
        Command::Inspect(args) => containers::inspect(clients, args).await,
        Command::Ps(args) => ps::ps(clients, args).await,
        Command::Images(args) => images::images(clients, args).await,
        Command::Rmi(args) => images::rmi(clients, args).await,
        Command::Tag { source, target } => images::tag(clients, &source, &target).await,
        Command::Load(args) => images::load(clients, args).await,
        Command::Save(args) => images::save(clients, args).await,
        Command::History(args) => images::history(clients, args).await,
        Command::Pull(args) => images::pull(clients, args).await,
        Command::Push(args) => images::push(clients, args).await,
        Command::Version(args) => system::version(clients, args).await,
        Command::Info(args) => system::info(clients, args).await,
        Command::Volume(c) => objects::run(clients, objects::Kind::Volume, c).await,
        Command::Network(c) => objects::run(clients, objects::Kind::Network, c).await,
        Command::AutoRemove { id } => run::autoremove(clients, &id).await,
        Command::Supervise { id } => run::supervise(clients, &id).await,
        Command::Cp {
            source,
            destination,
            follow_link,
            ..
        } => cp::cp(clients, &source, &destination, follow_link).await,
        Command::Diff { container } => observe::diff(clients, &container).await,
        Command::Export { output, container } => {
            files::export(clients, &container, output.as_deref()).await
        }
        Command::Update(args) => observe::update(clients, args).await,
        Command::Stats(args) => observe::stats(clients, args).await,
        Command::Events(args) => observe::events(clients, args).await,
        Command::Import(args) => files::import(clients, args).await,
        Command::Build(args) => files::build(clients, args).await,
        Command::System(SystemCommand::Df { verbose, format }) => {
            observe::system_df(clients, verbose, format.as_deref()).await
        }
        Command::System(SystemCommand::Info(args)) => system::info(clients, args).await,
        Command::System(SystemCommand::DialStdio) => system::dial_stdio(clients).await,
        Command::System(SystemCommand::Events(args)) => observe::events(clients, args).await,
        Command::System(SystemCommand::Prune { all, volumes, .. }) => {
            observe::system_prune(clients, all, volumes).await
        }
        Command::Container(ContainerCommand::Prune { filters, .. }) => {
            observe::prune_one(clients, "containers", &filters).await
        }
        Command::Container(ContainerCommand::Ls(args)) => ps::ps(clients, args).await,
        Command::Image(ImageCommand::Prune { all, filters, .. }) => {
            let mut filters = filters;
            if all {
                filters.push("dangling=false".into());
            }
            observe::prune_one(clients, "images", &filters).await
        }
        Command::Image(ImageCommand::Ls(args)) => images::images(clients, args).await,
        Command::Completion { .. }
        | Command::Man { .. }
        | Command::Context(_)
        | Command::Login(_)
        | Command::Logout { .. } => Ok(0),
    }
}

/// A `--format` for a table whose default is `default`; a bad one exits 125.
pub fn format(text: Option<&str>, default: &str) -> Result<Format, Failure> {
    Format::parse(text.unwrap_or("table"), default).map_err(Failure::from)
}

/// Prints every daemon's error on stderr (naming it when there are several); exit 1 when
/// any failed, after the others' rows are printed.
pub fn report_failures(clients: &Clients, failed: &[(String, ClientError)]) -> u8 {
    for (host, e) in failed {
        if clients.several() {
            eprintln!("{host}: {e}");
        } else {
            eprintln!("{e}");
        }
    }
    u8::from(!failed.is_empty())
}

/// Docker's docs for the query parameter `filters`: `{"key":["value",…]}` from `k=v` flags.
pub fn filters_json(filters: &[String]) -> String {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for f in filters {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        map.entry(k.to_string()).or_default().push(v.to_string());
    }
    serde_json::json!(map).to_string()
}

fn completion(shell: clap_complete::Shell) -> Outcome {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "berth", &mut script);
    use std::io::Write;
    // A reader that has gone (`| head`) is no error of ours.
    let _ = std::io::stdout().write_all(&script);
    Ok(0)
}

/// One man page per command, `berth.1` and `berth-run.1`…, generated from the flags.
fn man(dir: &std::path::Path) -> Outcome {
    let write = |name: &str, command: clap::Command| -> Result<(), Failure> {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut out)
            .map_err(|e| Failure::new(1, format!("{}: {e}", path.display())))?;
        std::fs::write(&path, out).map_err(|e| Failure::new(1, format!("{}: {e}", path.display())))
    };
    std::fs::create_dir_all(dir).map_err(|e| Failure::new(1, format!("{}: {e}", dir.display())))?;
    let command = <Cli as clap::CommandFactory>::command();
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("berth-{}", sub.get_name());
        write(&name, sub.clone().name(name.clone()))?;
    }
    write("berth", command)?;
    Ok(0)
}

/// A size flag (`-m 512m`, `--shm-size 64m`) in bytes, as docker's units read it.
pub fn size_flag(flag: &str, value: &str) -> Result<i64, String> {
    berth_common::units::parse_size(value)
        .map(|bytes| bytes as i64)
        .map_err(|e| format!("invalid argument {value:?} for \"{flag}\" flag: {e}"))
}

/// `--since`/`--until` (named by `flag`) as the API takes them, `SECONDS.NANOS`: the client
/// reads the user's time (Unix seconds, RFC 3339, or a duration before now) as dockerd
/// would, so a relative time is the client's now, as with docker.
pub fn time_param(flag: &str, value: &str) -> Result<String, Failure> {
    let nanos = berth_api::events::parse_time(value, std::time::SystemTime::now()).ok_or_else(|| {
        Failure::new(
            125,
            format!(
                "invalid value for \"--{flag}\": {value:?} (a Unix time, an RFC 3339 time or a duration like 10m)"
            ),
        )
    })?;
    Ok(format!(
        "{}.{:09}",
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_flags_are_read_as_dockerd_reads_them_and_errors_name_the_flag() {
        assert_eq!(
            time_param("since", "1700000000.5").unwrap(),
            "1700000000.500000000"
        );
        assert_eq!(
            time_param("until", "2023-11-14T22:13:20Z").unwrap(),
            "1700000000.000000000"
        );
        let ago: f64 = time_param("since", "10m").unwrap().parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - 600.0 - ago).abs() < 5.0, "{ago} vs {now}");
        let err = time_param("until", "yesterday").unwrap_err();
        assert_eq!(err.code, 125);
        let message = err.message.unwrap();
        assert!(message.contains("\"--until\""), "{message}");
        assert!(message.contains("yesterday"), "{message}");
    }

    #[test]
    fn sizes_are_docker_s_units_and_errors_name_the_flag() {
        assert_eq!(size_flag("--memory", "1.5g").unwrap(), 3 << 29);
        let err = size_flag("--shm-size", "12x").unwrap_err();
        assert!(err.contains("--shm-size") && err.contains("12x"), "{err}");
    }
}
