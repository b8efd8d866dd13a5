//! `berth-unpack`: the image stage. Thin: parses flags, calls berth-image, prints.

mod cli;
mod login;
mod output;
mod progress;
mod pull;
mod push;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use berth_common::Paths;
use berth_image::changes::apply_change;
use berth_image::export::{save, SaveItem};
use berth_image::formats::LayerSource;
use berth_image::import::{import_rootfs, load, ImportOptions};
use berth_image::spec::RunConfig;
use berth_image::store::TempPath;
use berth_image::unpack::UnpackOptions;
use berth_image::{reference, ImageError, Store};
use clap::Parser;

use cli::{Cli, Command, LoadFlags};

fn main() -> ExitCode {
    berth_common::edge::install_panic_hook("berth-unpack", berth_common::edge::Report::Stage);
    let cli = Cli::parse();
    berth_common::edge::init_logging(cli.verbose);
    // The pipeline's start, load and import print a record; the rest print for people.
    let is_stage = matches!(
        cli.command,
        None | Some(Command::Load { .. } | Command::Import { .. } | Command::Pull { .. })
    );
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_stage => berth_common::edge::fail_stage("berth-unpack", err.as_ref()),
        Err(err) => berth_common::edge::fail_command("berth-unpack", err.as_ref()),
    }
}

fn run(cli: Cli) -> Result<()> {
    let store = Store::open(Paths::new(&cli.root, &cli.run_dir))
        .with_context(|| format!("cannot open the store at {}", cli.root.display()))?;
    let Some(command) = cli.command else {
        let source = cli
            .source
            .context("give an image archive to load or an image name; see --help")?;
        return pipeline_start(&store, &source);
    };
    match command {
        Command::Load {
            path,
            name,
            quiet,
            flags,
        } => {
            let bars = progress::Bars::new(std::io::stderr().is_terminal() && !quiet);
            let spooled;
            let path = match path {
                Some(path) if path.as_os_str() != "-" => path,
                _ => {
                    spooled = spool_stdin(&store)?;
                    spooled.path().to_path_buf()
                }
            };
            let images = load(&store, &path, &import_options(&flags, &bars))?;
            let first = images.first().context("the archive holds no image")?;
            // --name picks the image of that name, or else names the first one.
            let first = match &name {
                Some(name) => {
                    let normalized = reference::normalize(name)?;
                    match images.iter().find(|i| i.names.contains(&normalized)) {
                        Some(named) => named.clone(),
                        None => {
                            store.tag(first, name)?;
                            store.resolve(name)?
                        }
                    }
                }
                None => first.clone(),
            };
            if quiet {
                for image in &images {
                    println!("{}", image.id);
                }
            } else {
                output::json_line(&store.record(&first, name.as_deref())?);
            }
        }
        Command::Import {
            file,
            reference,
            changes,
            message,
            quiet,
            flags,
        } => {
            let mut config = RunConfig::default();
            for change in &changes {
                apply_change(&mut config, change)?;
            }
            let (source, shown) = if file.as_os_str() == "-" {
                (
                    LayerSource::stream(Box::new(std::io::stdin().lock())),
                    "standard input".to_string(),
                )
            } else {
                (LayerSource::file(&file)?, file.display().to_string())
            };
            let bars = progress::Bars::new(std::io::stderr().is_terminal() && !quiet);
            let image = import_rootfs(
                &store,
                source,
                &shown,
                reference.as_deref(),
                config,
                message.as_deref(),
                &import_options(&flags, &bars),
            )?;
            if quiet {
                println!("{}", image.id);
            } else {
                output::json_line(&store.record(&image, reference.as_deref())?);
            }
        }
        Command::Pull {
            reference,
            insecure_registries,
            platform,
            max_concurrent_downloads,
            quiet,
            json,
            flags,
        } => {
            let request = pull::Request {
                reference: &reference,
                insecure_registries,
                platform: platform.as_deref(),
                concurrency: max_concurrent_downloads.into(),
                shown: progress::Shown::of(quiet, json),
            };
            let image = pull::run(
                &store,
                &request,
                import_options(&flags, &progress::Bars::new(false)),
            )?;
            if quiet {
                println!("{}", image.id);
            } else {
                output::json_line(&store.record(&image, image.names.first().map(String::as_str))?);
            }
        }
        Command::Push {
            reference,
            insecure_registries,
            quiet,
            json,
        } => push::run(
            &store,
            &reference,
            insecure_registries,
            progress::Shown::of(quiet, json),
        )?,
        Command::Login {
            registry,
            username,
            password,
            password_stdin,
            insecure_registries,
        } => {
            let request = login::Login {
                registry: registry.as_deref(),
                username,
                password,
                password_stdin,
                insecure: insecure_registries,
            };
            login::login(request)?;
        }
        Command::Logout { registry } => login::logout(registry.as_deref())?,
        Command::Save {
            images,
            output: dest,
            format,
        } => {
            let items = images
                .iter()
                .map(|asked| {
                    let image = store.resolve(asked)?;
                    let names = match reference::normalize(asked) {
                        Ok(name) if image.names.contains(&name) => vec![name],
                        _ => image.names.clone(),
                    };
                    Ok(SaveItem { image, names })
                })
                .collect::<Result<Vec<_>>>()?;
            save(&store, &items, format.into(), &dest)?;
        }
        Command::Ls { quiet, json } => output::list(&store, quiet, json)?,
        Command::Inspect { images } => {
            let docs = images
                .iter()
                .map(|i| store.inspect(&store.resolve(i)?).map_err(Into::into))
                .collect::<Result<Vec<_>>>()?;
            println!("{}", serde_json::to_string_pretty(&docs)?);
        }
        Command::Tag { source, target } => {
            let image = store.resolve(&source)?;
            store.tag(&image, &target)?;
        }
        Command::Rm { images, force } => {
            for asked in &images {
                output::remove(&store, asked, force)?;
            }
        }
        Command::Prune { build_cache } => {
            if build_cache {
                store.forget_build_cache()?;
            }
            let (images, report) = store.prune()?;
            output::pruned(&images, &report);
        }
    }
    Ok(())
}

/// `berth-unpack SOURCE`: an existing path is loaded, anything else is looked up.
fn pipeline_start(store: &Store, source: &str) -> Result<()> {
    let path = std::path::Path::new(source);
    let (image, asked) = if path.exists() {
        let bars = progress::Bars::new(std::io::stderr().is_terminal());
        let images = load(store, path, &import_options(&LoadFlags::default(), &bars))?;
        (
            images
                .into_iter()
                .next()
                .context("the archive holds no image")?,
            None,
        )
    } else {
        let image = store.resolve(source).map_err(|err| match err {
            ImageError::NotFound(name) => anyhow::anyhow!(
                "{}; or make one: `berth-unpack import ROOTFS.tar {name}`, \
                 or scripts/make-busybox-image.sh for a busybox image",
                berth_common::edge::missing_image(&name)
            ),
            err => err.into(),
        })?;
        (image, Some(source))
    };
    output::json_line(&store.record(&image, asked)?);
    Ok(())
}

/// The archive on standard input, copied into the store's `tmp/` (the formats are read by
/// offset, which a pipe cannot do); removed when the returned path drops.
fn spool_stdin(store: &Store) -> Result<TempPath> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        anyhow::bail!(
            "no archive given and standard input is a terminal: give a PATH, or pipe one in \
             (`docker save IMAGE | berth-unpack load`)"
        );
    }
    let spool = TempPath::new_file(&store.paths().tmp(), "stdin")?;
    let mut file = std::fs::File::create(spool.path())
        .with_context(|| format!("creating {}", spool.path().display()))?;
    let copied = std::io::copy(&mut stdin.lock(), &mut file).with_context(|| {
        format!(
            "reading the archive on standard input into {}",
            spool.path().display()
        )
    })?;
    if copied == 0 {
        anyhow::bail!("no archive on standard input (it was empty)");
    }
    Ok(spool)
}

fn import_options<'a>(flags: &LoadFlags, bars: &'a progress::Bars) -> ImportOptions<'a> {
    ImportOptions {
        unpack: UnpackOptions {
            allow_devices: !flags.no_devices,
        },
        max_layer_size: flags
            .max_layer_size
            .unwrap_or(berth_image::import::DEFAULT_MAX_LAYER_SIZE),
        progress: bars,
    }
}
