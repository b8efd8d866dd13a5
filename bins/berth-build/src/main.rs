//! `berth-build [OPTIONS] CONTEXT`: an image from a Dockerfile into the store, as
//! `docker build` makes it, with no daemon. CONTEXT is a directory, or `-` for a tar on
//! stdin.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use berth_builder::builder::{build, BuildOptions};
use berth_builder::progress::{Progress, ProgressMode};
use berth_common::{Paths, DEFAULT_ROOT, DEFAULT_RUN_DIR};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProgressArg {
    Auto,
    Plain,
    Json,
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NetworkArg {
    None,
    Default,
}

#[derive(Parser, Debug)]
#[command(
    name = "berth-build",
    version,
    about = "Build an image from a Dockerfile"
)]
struct Cli {
    /// State directory of the store
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Runtime state directory
    #[arg(long, env = "BERTH_RUN_DIR", default_value = DEFAULT_RUN_DIR)]
    run_dir: PathBuf,
    /// Name and optionally a tag (name:tag); repeatable
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile)
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Set a build-time variable (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Do not use the cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Pull the FROM images even when the store has them
    #[arg(long)]
    pull: bool,
    /// The network RUN steps get
    #[arg(long, value_enum, default_value = "none")]
    network: NetworkArg,
    /// Set metadata for the image (KEY=VALUE)
    #[arg(long = "label")]
    labels: Vec<String>,
    /// A secret RUN --mount=type=secret can use: id=ID,src=FILE (or env=VAR)
    #[arg(long = "secret")]
    secrets: Vec<String>,
    /// How progress is shown: plain lines, docker's JSON stream, or only the image ID
    #[arg(long, value_enum, default_value = "auto")]
    progress: ProgressArg,
    /// Suppress the build output and print the image ID on success
    #[arg(short = 'q', long)]
    quiet: bool,
    /// The platform to build for: only the host's (linux/ARCH)
    #[arg(long)]
    platform: Option<String>,
    /// Also write the image out: type=docker|oci,dest=FILE (a docker-archive or OCI archive)
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// Parent cgroup of the RUN steps' containers
    #[arg(long = "cgroup-parent", env = "BERTH_CGROUP_PARENT", default_value = berth_cgroups::DEFAULT_PARENT)]
    cgroup_parent: String,
    #[command(flatten)]
    host: berth_cli::HostArgs,
    /// The build context: a directory, or - for a tar on stdin
    context: String,
}

fn pair(text: &str, flag: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        None if !text.is_empty() && flag == "--build-arg" => {
            Ok((text.to_string(), std::env::var(text).unwrap_or_default()))
        }
        _ => anyhow::bail!("invalid {flag} {text:?}: expected KEY=VALUE"),
    }
}

fn main() -> ExitCode {
    if let Some(code) = berth_builder::helper_main() {
        return ExitCode::from(code as u8);
    }
    berth_common::edge::install_panic_hook("berth-build", berth_common::edge::Report::StderrOnly);
    let cli = Cli::parse();
    berth_common::edge::init_logging(0);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-build: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let paths = Paths::new(&cli.root, &cli.run_dir);
    if let Some(platform) = &cli.platform {
        let host = format!("linux/{}", berth_image::host_architecture());
        anyhow::ensure!(
            *platform == host,
            "--platform {platform}: only the host's platform ({host}) can be built here"
        );
    }
    let output = cli.output.as_deref().map(parse_output).transpose()?;
    let store = berth_image::Store::open(paths.clone())?;
    // A tar on stdin is unpacked into the store's tmp/ for the build, and goes after.
    let (context, _unpacked) = if cli.context == "-" {
        let temp = berth_image::store::TempPath::new_dir(&store.paths().tmp(), "build-context")?;
        berth_image::extract::extract_into(
            temp.path(),
            &mut std::io::stdin().lock(),
            berth_image::extract::ExtractOptions::untrusted(),
        )
        .context("unpacking the build context from stdin")?;
        (temp.path().to_path_buf(), Some(temp))
    } else {
        (PathBuf::from(&cli.context), None)
    };
    anyhow::ensure!(
        context.is_dir(),
        "unable to prepare context: path {:?} not found",
        cli.context
    );
    // An env= secret's file lives as long as the build (its TempPath).
    let secrets = cli
        .secrets
        .iter()
        .map(|s| secret(s, &store))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let dockerfile = cli.file.map(|f| {
        if f.is_absolute() || cli.context == "-" {
            context.join(f.strip_prefix("/").unwrap_or(&f))
        } else {
            f
        }
    });
    let opts = BuildOptions {
        context: context.clone(),
        dockerfile,
        tags: cli.tags,
        build_args: cli
            .build_args
            .iter()
            .map(|a| pair(a, "--build-arg"))
            .collect::<anyhow::Result<_>>()?,
        target: cli.target,
        no_cache: cli.no_cache,
        network: cli.network == NetworkArg::Default,
        labels: cli
            .labels
            .iter()
            .map(|a| pair(a, "--label"))
            .collect::<anyhow::Result<_>>()?,
        secrets: secrets
            .iter()
            .map(|(id, path, _)| (id.clone(), path.clone()))
            .collect(),
        cgroup_parent: cli.cgroup_parent,
        net_host: cli.host.into(),
        pull: cli.pull,
        platform: cli.platform,
        insecure_registries: Vec::new(),
        docker_config: true,
    };
    let mode = match (cli.quiet, cli.progress) {
        (true, _) | (_, ProgressArg::Quiet) => ProgressMode::Quiet,
        (_, ProgressArg::Json) => ProgressMode::Json,
        _ => ProgressMode::Plain,
    };
    // Progress goes to stderr, as BuildKit's; -q prints the ID on stdout.
    let out: Box<dyn std::io::Write + Send> = match mode {
        ProgressMode::Quiet | ProgressMode::Json | ProgressMode::JsonQuiet => {
            Box::new(std::io::stdout())
        }
        ProgressMode::Plain => Box::new(std::io::stderr()),
    };
    let mut progress = Progress::new(mode, out);
    let built = build(&paths, &opts, &mut progress)?;
    if let Some((format, dest)) = output {
        let item = berth_image::export::SaveItem {
            image: built.image,
            names: built.names,
        };
        berth_image::export::save(&store, &[item], format, &dest)
            .with_context(|| format!("writing the image to {}", dest.display()))?;
    }
    Ok(())
}

/// `--secret id=ID,src=FILE` (`source=` too), or `id=ID,env=VAR`: an environment
/// variable's value is written to a file under the store's tmp/ for the build.
type Secret = (String, PathBuf, Option<berth_image::store::TempPath>);

fn secret(text: &str, store: &berth_image::Store) -> anyhow::Result<Secret> {
    let (mut id, mut src, mut env) = (None, None, None);
    for part in text.split(',') {
        match part.split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
            Some(("env", v)) => env = Some(v.to_string()),
            _ => anyhow::bail!("--secret {text:?}: expected id=ID,src=FILE or id=ID,env=VAR"),
        }
    }
    let id = id.ok_or_else(|| anyhow::anyhow!("--secret {text:?}: no id"))?;
    match (src, env) {
        (Some(src), None) => {
            anyhow::ensure!(
                src.is_file(),
                "--secret {text:?}: {} is not a file",
                src.display()
            );
            Ok((id, src.canonicalize()?, None))
        }
        (None, Some(var)) => {
            let value = std::env::var(&var)
                .with_context(|| format!("--secret {text:?}: ${var} is not set"))?;
            let file =
                berth_image::store::TempPath::new_file(&store.paths().tmp(), "build-secret")?;
            std::fs::write(file.path(), value)?;
            Ok((id, file.path().to_path_buf(), Some(file)))
        }
        _ => anyhow::bail!("--secret {text:?}: give src=FILE or env=VAR"),
    }
}

/// `-o type=docker,dest=FILE` (BuildKit's exporter syntax; `type=oci`, `type=tar` too).
fn parse_output(text: &str) -> anyhow::Result<(berth_image::export::SaveFormat, PathBuf)> {
    use berth_image::export::SaveFormat;
    let (mut format, mut dest) = (None, None);
    for part in text.split(',') {
        match part.split_once('=') {
            Some(("type", "docker")) => format = Some(SaveFormat::DockerArchive),
            Some(("type", "oci")) => format = Some(SaveFormat::OciArchive),
            Some(("type", other)) => {
                anyhow::bail!("-o type={other}: berth-build writes type=docker or type=oci")
            }
            Some(("dest", path)) => dest = Some(PathBuf::from(path)),
            _ => anyhow::bail!("-o {text:?}: expected type=docker|oci,dest=FILE"),
        }
    }
    match (format, dest) {
        (Some(format), Some(dest)) => Ok((format, dest)),
        _ => anyhow::bail!("-o {text:?}: expected type=docker|oci,dest=FILE"),
    }
}
