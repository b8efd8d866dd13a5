//! What a container asks of its cgroups: `docker run`'s resource flags (`--memory`, `--cpus`,
//! …) as plain values, and the `Limits` they make. `berth-cgroup` and `berth-run` build it
//! from their flags, the daemon from a request's JSON.

use berth_common::units::parse_size;
use berth_common::Limits;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitRequest {
    /// Memory limit with Docker's units (`64m`, `1g`).
    pub memory: Option<String>,
    /// Memory plus swap with Docker's units; `-1` for unlimited swap.
    pub memory_swap: Option<String>,
    pub cpus: Option<f64>,
    /// Relative CPU weight, 2..262144.
    pub cpu_shares: Option<u64>,
    /// CPUs allowed (`0-1`, `0,2`).
    pub cpuset_cpus: Option<String>,
    /// Maximum number of processes; -1 or 0 for unlimited.
    pub pids_limit: Option<i64>,
    /// Block IO weight, 10..1000.
    pub blkio_weight: Option<u16>,
}

/// A size that is not one; names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {reason}")]
pub struct InvalidLimit {
    pub flag: &'static str,
    pub reason: String,
}

impl LimitRequest {
    /// The limits, sizes parsed with Docker's units; the error names the flag.
    pub fn limits(&self) -> Result<Limits, InvalidLimit> {
        let bytes = |flag: &'static str,
                     text: &Option<String>|
         -> Result<Option<i64>, InvalidLimit> {
            match text.as_deref() {
                None => Ok(None),
                Some("-1") if flag == "--memory-swap" => Ok(Some(-1)),
                Some(t) => parse_size(t)
                    .and_then(|n| i64::try_from(n).map_err(|_| format!("{t:?} is out of range")))
                    .map(Some)
                    .map_err(|reason| InvalidLimit { flag, reason }),
            }
        };
        Ok(Limits {
            memory: bytes("--memory", &self.memory)?,
            memory_swap: bytes("--memory-swap", &self.memory_swap)?,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_dockers_units_and_swap_takes_minus_one() {
        let request = LimitRequest {
            memory: Some("64m".into()),
            memory_swap: Some("-1".into()),
            pids_limit: Some(-1),
            ..Default::default()
        };
        let limits = request.limits().unwrap();
        assert_eq!(limits.memory, Some(64 << 20));
        assert_eq!(limits.memory_swap, Some(-1));
        assert_eq!(limits.pids_limit, Some(-1));
    }

    #[test]
    fn a_bad_size_names_its_flag() {
        let request = LimitRequest {
            memory: Some("-1".into()),
            ..Default::default()
        };
        let error = request.limits().unwrap_err();
        assert_eq!(error.flag, "--memory");
        assert!(error.to_string().starts_with("--memory: "), "{error}");
    }

    #[test]
    fn a_request_reads_from_partial_json() {
        let request: LimitRequest = serde_json::from_str(r#"{"memory":"1g","cpus":0.5}"#).unwrap();
        assert_eq!(request.memory.as_deref(), Some("1g"));
        assert_eq!(request.cpus, Some(0.5));
        assert_eq!(request.pids_limit, None);
    }
}
