//! Freezing and thawing: v1 freezer.state (FREEZING settles to FROZEN), v2 cgroup.freeze
//! confirmed by `frozen 1` in cgroup.events.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::error::{CgroupError, Result};
use crate::fs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezerState {
    Thawed,
    Freezing,
    Frozen,
}

pub fn v1_state(dir: &Path) -> Result<FreezerState> {
    let path = dir.join("freezer.state");
    match fs::read(&path)?.as_str() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        other => Err(CgroupError::Parse {
            path,
            content: other.to_string(),
        }),
    }
}

/// Freezes; if it does not settle within `timeout` the cgroup is thawed again and the
/// timeout reported (a half-frozen cgroup is worse than a running one).
pub fn v1_freeze(dir: &Path, timeout: Duration) -> Result<()> {
    let path = dir.join("freezer.state");
    let result = fs::wait_until(timeout, "freezer.state FROZEN", &path, || {
        // Re-writing FROZEN nudges tasks that were busy when the first write came.
        fs::write(&path, "FROZEN")?;
        Ok(v1_state(dir)? == FreezerState::Frozen)
    });
    if result.is_err() {
        let _ = fs::write(&path, "THAWED");
    }
    result
}

pub fn v1_thaw(dir: &Path, timeout: Duration) -> Result<()> {
    let path = dir.join("freezer.state");
    fs::wait_until(timeout, "freezer.state THAWED", &path, || {
        fs::write(&path, "THAWED")?;
        Ok(v1_state(dir)? == FreezerState::Thawed)
    })
}

pub fn v2_state(dir: &Path) -> Result<FreezerState> {
    let frozen = fs::read_keyed(&dir.join("cgroup.events"), "frozen")?.unwrap_or(0) == 1;
    let asked = fs::read_opt(&dir.join("cgroup.freeze"))?.as_deref() == Some("1");
    Ok(match (asked, frozen) {
        (_, true) => FreezerState::Frozen,
        (true, false) => FreezerState::Freezing,
        (false, false) => FreezerState::Thawed,
    })
}

pub fn v2_set(dir: &Path, frozen: bool, timeout: Duration) -> Result<()> {
    let freeze = dir.join("cgroup.freeze");
    fs::write(&freeze, if frozen { "1" } else { "0" })?;
    let events = dir.join("cgroup.events");
    let want = u64::from(frozen);
    let what = if frozen { "frozen 1" } else { "frozen 0" };
    let result = fs::wait_until(timeout, what, &events, || {
        Ok(fs::read_keyed(&events, "frozen")?.unwrap_or(0) == want)
    });
    if result.is_err() && frozen {
        let _ = fs::write(&freeze, "0");
    }
    result
}
