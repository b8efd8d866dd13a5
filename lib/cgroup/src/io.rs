//! Per-device block I/O limits (an OCI spec's `linux.resources.blockIO` throttles and
//! weights): on v1 the blkio controller's `blkio.throttle.*_device` and
//! `blkio.bfq.weight_device`, on v2 `io.max` and `io.bfq.weight`/`io.weight` lines.

use std::path::Path;

use berth_common::CgroupPart;

use crate::error::{CgroupError, Result};
use crate::fs;

/// One device's rate: bytes or operations per second, or a weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRate {
    pub major: u64,
    pub minor: u64,
    pub rate: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoLimits {
    pub read_bps: Vec<DeviceRate>,
    pub write_bps: Vec<DeviceRate>,
    pub read_iops: Vec<DeviceRate>,
    pub write_iops: Vec<DeviceRate>,
    /// 10..1000, runc's blkio weight scale.
    pub weight: Vec<DeviceRate>,
}

impl IoLimits {
    pub fn is_empty(&self) -> bool {
        *self == IoLimits::default()
    }
}

fn dir<'a>(part: &'a CgroupPart, key: &str) -> Result<&'a Path> {
    part.paths
        .get(key)
        .map(|p| p.as_path())
        .ok_or_else(|| CgroupError::MissingPath {
            key: key.into(),
            mode: part.mode.clone(),
        })
}

/// Writes `limits` into the container's cgroup, one line per device.
pub fn apply(part: &CgroupPart, limits: &IoLimits) -> Result<()> {
    if limits.is_empty() {
        return Ok(());
    }
    let line = |d: &DeviceRate| format!("{}:{} {}", d.major, d.minor, d.rate);
    if part.mode == "v2" {
        let dir = dir(part, "unified")?;
        for (list, key) in [
            (&limits.read_bps, "rbps"),
            (&limits.write_bps, "wbps"),
            (&limits.read_iops, "riops"),
            (&limits.write_iops, "wiops"),
        ] {
            for d in list {
                fs::write(
                    &dir.join("io.max"),
                    &format!("{}:{} {key}={}", d.major, d.minor, d.rate),
                )?;
            }
        }
        for d in &limits.weight {
            let weight = DeviceRate {
                rate: crate::limits::blkio_to_io_weight(d.rate.min(1000) as u16),
                ..*d
            };
            fs::write(&dir.join("io.weight"), &line(&weight))?;
        }
        return Ok(());
    }
    let dir = dir(part, "blkio")?;
    for (list, file) in [
        (&limits.read_bps, "blkio.throttle.read_bps_device"),
        (&limits.write_bps, "blkio.throttle.write_bps_device"),
        (&limits.read_iops, "blkio.throttle.read_iops_device"),
        (&limits.write_iops, "blkio.throttle.write_iops_device"),
        (&limits.weight, "blkio.bfq.weight_device"),
    ] {
        for d in list {
            fs::write(&dir.join(file), &line(d))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(mode: &str, key: &str, dir: &Path) -> CgroupPart {
        CgroupPart {
            mode: mode.into(),
            paths: [(key.to_string(), dir.to_path_buf())].into(),
            limits: Default::default(),
        }
    }

    #[test]
    fn throttles_are_one_line_per_device_in_each_layout() {
        let limits = IoLimits {
            read_bps: vec![DeviceRate {
                major: 8,
                minor: 0,
                rate: 1048576,
            }],
            write_iops: vec![DeviceRate {
                major: 8,
                minor: 16,
                rate: 100,
            }],
            ..Default::default()
        };
        let v1 = tempfile::tempdir().unwrap();
        for f in [
            "blkio.throttle.read_bps_device",
            "blkio.throttle.write_iops_device",
        ] {
            std::fs::write(v1.path().join(f), "").unwrap();
        }
        apply(&part("hybrid", "blkio", v1.path()), &limits).unwrap();
        let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
        assert_eq!(
            read(v1.path(), "blkio.throttle.read_bps_device"),
            "8:0 1048576"
        );
        assert_eq!(
            read(v1.path(), "blkio.throttle.write_iops_device"),
            "8:16 100"
        );
        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(v2.path().join("io.max"), "").unwrap();
        apply(&part("v2", "unified", v2.path()), &limits).unwrap();
        // The fake file keeps the last write.
        assert_eq!(read(v2.path(), "io.max"), "8:16 wiops=100");
        let err = apply(&part("v1", "memory", v1.path()), &limits).unwrap_err();
        assert!(err.to_string().contains("blkio"), "{err}");
    }
}
