//! The flags of the image commands.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository[:tag]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// A file, or - for STDIN
    pub file: String,
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile)
    #[arg(short = 'f', long)]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Set metadata for an image
    #[arg(long = "label")]
    pub labels: Vec<String>,
    pub context: PathBuf,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    pub server: Option<String>,
}
