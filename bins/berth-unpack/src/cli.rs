//! Command-line flags, docker-style.

use std::path::PathBuf;

use berth_common::{DEFAULT_ROOT, DEFAULT_RUN_DIR};
use berth_image::export::SaveFormat;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "berth-unpack",
    version,
    about = "berth's image stage: import, verify and unpack images; prints the container record"
)]
pub struct Cli {
    /// State directory of the store
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT, global = true)]
    pub root: PathBuf,
    /// Runtime state directory
    #[arg(long, env = "BERTH_RUN_DIR", default_value = DEFAULT_RUN_DIR, global = true)]
    pub run_dir: PathBuf,
    /// More log output on stderr (-v info, -vv debug; BERTH_LOG overrides)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// An image archive to load, or an image in the store: prints its container record
    pub source: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Load a docker-archive or an OCI layout (directory or tarball); without PATH (or with
    /// -) the archive is read on standard input, as from `docker save IMAGE`
    Load {
        path: Option<PathBuf>,
        /// Tag the (first) loaded image with this name
        #[arg(long)]
        name: Option<String>,
        /// Print only the image IDs
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        flags: LoadFlags,
    },
    /// Create an image from a rootfs tarball, like `docker import`
    Import {
        /// The tarball (plain, gzip or zstd), or - for standard input
        file: PathBuf,
        reference: Option<String>,
        /// Dockerfile instruction to apply (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)
        #[arg(short = 'c', long = "change")]
        changes: Vec<String>,
        /// Commit message for the image history
        #[arg(short, long)]
        message: Option<String>,
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        flags: LoadFlags,
    },
    /// Pull an image from a registry, like `docker pull`; prints its container record
    Pull {
        /// NAME[:TAG] or NAME@sha256:DIGEST; the default registry is docker.io
        reference: String,
        /// Try this registry (HOST[:PORT]) over HTTPS unchecked, then plain HTTP, as loopback ones are
        #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
        insecure_registries: Vec<String>,
        /// The entry of a manifest list to pull (default: the host's)
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
        /// Layers downloaded at once
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
        max_concurrent_downloads: u16,
        /// Print only the image ID
        #[arg(short, long)]
        quiet: bool,
        /// Progress as dockerd's JSON messages on stderr, one a line
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        flags: LoadFlags,
    },
    /// Push an image of the store to the registry its name says, like `docker push`
    Push {
        /// The image's name in the store (tag it first: `berth-unpack tag SRC HOST/REPO:TAG`)
        reference: String,
        /// Try this registry (HOST[:PORT]) over HTTPS unchecked, then plain HTTP, as loopback ones are
        #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
        insecure_registries: Vec<String>,
        /// No progress lines on stderr
        #[arg(short, long)]
        quiet: bool,
        /// Progress as dockerd's JSON messages on stderr, one a line
        #[arg(long)]
        json: bool,
    },
    /// Log in to a registry (checked against it), storing the credentials as docker does
    Login {
        /// HOST[:PORT]; Docker Hub when left out
        registry: Option<String>,
        #[arg(short, long)]
        username: Option<String>,
        #[arg(short, long)]
        password: Option<String>,
        /// Read the password from standard input
        #[arg(long)]
        password_stdin: bool,
        /// Try this registry (HOST[:PORT]) over HTTPS unchecked, then plain HTTP, as loopback ones are
        #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
        insecure_registries: Vec<String>,
    },
    /// Forget a registry's stored credentials
    Logout {
        /// HOST[:PORT]; Docker Hub when left out
        registry: Option<String>,
    },
    /// Save images to a docker-archive, an OCI archive or an OCI layout directory
    Save {
        #[arg(required = true)]
        images: Vec<String>,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, value_enum, default_value = "docker-archive")]
        format: Format,
    },
    /// List images
    #[command(alias = "images")]
    Ls {
        /// Only image IDs
        #[arg(short, long)]
        quiet: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show images in detail (JSON)
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Give an image another name
    Tag { source: String, target: String },
    /// Remove names; an image left without one is deleted with its unused layers
    #[command(alias = "rmi")]
    Rm {
        #[arg(required = true)]
        images: Vec<String>,
        /// Remove an image by ID even when several names point at it
        #[arg(short, long)]
        force: bool,
    },
    /// Delete images without a name and everything only they used
    Prune {
        /// Also forget the build cache (berth-build's steps and cache mounts)
        #[arg(long)]
        build_cache: bool,
    },
}

#[derive(Args, Default, Clone)]
pub struct LoadFlags {
    /// Refuse images that contain device nodes
    #[arg(long)]
    pub no_devices: bool,
    /// Refuse a layer whose uncompressed size exceeds this (k, m, g suffixes)
    #[arg(long, value_parser = berth_common::units::parse_size)]
    pub max_layer_size: Option<u64>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    DockerArchive,
    OciArchive,
    OciDir,
}

impl From<Format> for SaveFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::DockerArchive => SaveFormat::DockerArchive,
            Format::OciArchive => SaveFormat::OciArchive,
            Format::OciDir => SaveFormat::OciDir,
        }
    }
}
