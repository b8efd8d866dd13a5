//! `docker run`'s filesystem flags, shared by `berth-mount` and `berth-run`.

use crate::overlay::OverlayMethod;
use crate::setup::SetupOptions;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct MountFlags {
    /// Bind mount or volume: /host:/ctr[:ro], name:/ctr[:ro,nocopy], /ctr (anonymous volume)
    #[arg(short = 'v', long = "volume", value_name = "SPEC")]
    pub volumes: Vec<String>,
    /// A tmpfs mount: /ctr[:size=64m,mode=1777,...]
    #[arg(long, value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// The container's root filesystem is read-only (berth-enter remounts / read-only)
    #[arg(long)]
    pub read_only: bool,
    /// How to mount the overlay: auto, fsconfig (Linux 6.8+ lowerdir+), links (short links)
    #[arg(
        long,
        default_value = "auto",
        hide = true,
        env = "BERTH_OVERLAY_METHOD"
    )]
    pub overlay_method: OverlayMethod,
}

impl MountFlags {
    /// The setup for a container named `name`; `volatile` for one removed when it stops.
    pub fn setup_options(&self, name: Option<String>, volatile: bool) -> SetupOptions {
        SetupOptions {
            volumes: self.volumes.clone(),
            tmpfs: self.tmpfs.clone(),
            read_only: self.read_only,
            name,
            method: self.overlay_method,
            volatile,
        }
    }
}
