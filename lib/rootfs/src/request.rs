//! What a container asks of its root filesystem: `docker run`'s filesystem flags (`-v`,
//! `--tmpfs`, `--read-only`, the user namespace flags) as plain values. `berth-mount` and
//! `berth-run` build it from their flags, the daemon from a request's JSON.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::overlay::OverlayMethod;
use crate::setup::SetupOptions;
use crate::subid::UsernsRequest;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MountRequest {
    /// Binds and volumes, as `-v` takes them: `/host:/ctr[:ro]`, `name:/ctr[:ro,nocopy]`,
    /// `/ctr` (an anonymous volume).
    pub volumes: Vec<String>,
    /// tmpfs mounts, as `--tmpfs` takes them: `/ctr[:size=64m,mode=1777,...]`.
    pub tmpfs: Vec<String>,
    /// The container's root filesystem is read-only.
    pub read_only: bool,
    pub overlay_method: OverlayMethod,
    /// `--userns`: only `host` (the default: none).
    pub userns: Option<String>,
    /// `--userns-remap NAME[:GROUP]`: container ids from NAME's ranges in /etc/subuid
    /// and GROUP's (default NAME) in /etc/subgid; `default` is the user berth.
    pub userns_remap: Option<String>,
    /// `--uidmap CONTAINER:HOST:SIZE` ranges.
    pub uidmap: Vec<String>,
    /// `--gidmap CONTAINER:HOST:SIZE` ranges (default: as the uid map).
    pub gidmap: Vec<String>,
}

impl MountRequest {
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

    /// Whether the request asks for anything beyond the image's overlay.
    pub fn is_empty(&self) -> bool {
        let MountRequest {
            volumes,
            tmpfs,
            read_only,
            overlay_method: _,
            userns: _,
            userns_remap: _,
            uidmap: _,
            gidmap: _,
        } = self;
        volumes.is_empty()
            && tmpfs.is_empty()
            && !read_only
            && self.userns_request() == UsernsRequest::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_options_carry_the_request() {
        let request = MountRequest {
            volumes: vec!["data:/data".into()],
            tmpfs: vec!["/tmp:size=1m".into()],
            read_only: true,
            overlay_method: OverlayMethod::ShortLinks,
            ..Default::default()
        };
        let opts = request.setup_options(Some("web".into()), true).unwrap();
        assert_eq!(opts.volumes, request.volumes);
        assert_eq!(opts.tmpfs, request.tmpfs);
        assert!(opts.read_only && opts.volatile);
        assert_eq!(opts.name.as_deref(), Some("web"));
        assert_eq!(opts.method, OverlayMethod::ShortLinks);
        assert!(opts.userns.is_none());
        assert!(!request.is_empty());
        assert!(MountRequest::default().is_empty());
    }

    #[test]
    fn the_overlay_method_reads_as_the_flag_spells_it() {
        let request: MountRequest = serde_json::from_str(r#"{"overlay_method":"links"}"#).unwrap();
        assert_eq!(request.overlay_method, OverlayMethod::ShortLinks);
        assert_eq!(
            serde_json::to_value(OverlayMethod::Fsconfig).unwrap(),
            serde_json::json!("fsconfig")
        );
    }
}
