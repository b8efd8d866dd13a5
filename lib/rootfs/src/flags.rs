//! `docker run`'s filesystem flags, shared by `berth-mount` and `berth-run`.

use crate::error::Result;
use crate::overlay::OverlayMethod;
use crate::setup::SetupOptions;
use crate::subid::UsernsRequest;

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
    /// User namespace: host (the default: none)
    #[arg(long, value_name = "host")]
    pub userns: Option<String>,
    /// Run in a user namespace: container uids 0.. are the ranges of NAME in /etc/subuid,
    /// one after another from the lowest host id, gids those of GROUP (default NAME) in
    /// /etc/subgid; `default` is the user
    /// berth (env BERTH_SUBUID_FILE, BERTH_SUBGID_FILE: other files)
    #[arg(long = "userns-remap", value_name = "NAME[:GROUP]")]
    pub userns_remap: Option<String>,
    /// Run in a user namespace with this uid range (repeatable)
    #[arg(long = "uidmap", value_name = "CONTAINER:HOST:SIZE")]
    pub uidmap: Vec<String>,
    /// Gid range of the user namespace (repeatable; default: as --uidmap)
    #[arg(long = "gidmap", value_name = "CONTAINER:HOST:SIZE")]
    pub gidmap: Vec<String>,
}

impl MountFlags {
    /// The setup for a container named `name`; `volatile` for one removed when it stops.
    /// Fails on user namespace flags that conflict, or a user without subordinate ids;
    /// nothing is made.
    pub fn setup_options(&self, name: Option<String>, volatile: bool) -> Result<SetupOptions> {
        Ok(SetupOptions {
            volumes: self.volumes.clone(),
            tmpfs: self.tmpfs.clone(),
            read_only: self.read_only,
            name: name
                .as_deref()
                .map(berth_common::ContainerName::parse)
                .transpose()?,
            method: self.overlay_method,
            volatile,
            userns: self.userns_request().resolve()?,
        })
    }

    /// The user namespace flags as given.
    pub fn userns_request(&self) -> UsernsRequest {
        UsernsRequest {
            userns: self.userns.clone(),
            remap: self.userns_remap.clone(),
            uidmap: self.uidmap.clone(),
            gidmap: self.gidmap.clone(),
        }
    }
}
