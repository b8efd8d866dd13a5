//! The create body's part for [`MoreRunArgs`]: each flag where the docker CLI puts it, in
//! its shape (`--mount` as `Mounts`, `--ulimit` as `Ulimits`, `--health-*` as the config's
//! `Healthcheck` in nanoseconds). An error names the flag and the value at fault.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::size_flag;
use crate::cli::MoreRunArgs;

fn bad(flag: &str, value: &str, why: impl std::fmt::Display) -> String {
    format!("invalid argument {value:?} for \"{flag}\" flag: {why}")
}

/// Adds the flags' fields to the config (`body`) and `HostConfig` (`host`).
pub fn apply(
    more: &MoreRunArgs,
    body: &mut Map<String, Value>,
    host: &mut Map<String, Value>,
) -> Result<(), String> {
    // Each spec of a repeated flag parsed into its field; none, no field.
    let mut parsed = |key: &str, specs: &[String], parse: fn(&str) -> Result<Value, String>| {
        if !specs.is_empty() {
            let values = specs
                .iter()
                .map(|s| parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            host.insert(key.into(), Value::Array(values));
        }
        Ok::<_, String>(())
    };
    parsed("Mounts", &more.mounts, mount)?;
    parsed("ExtraHosts", &more.add_host, |h| {
        extra_host(h).map(Value::from)
    })?;
    parsed("Ulimits", &more.ulimits, ulimit)?;
    let lists = [
        ("Dns", &more.dns),
        ("DnsSearch", &more.dns_search),
        ("DnsOptions", &more.dns_option),
        ("SecurityOpt", &more.security_opt),
    ];
    for (key, list) in lists {
        if !list.is_empty() {
            host.insert(key.into(), json!(list));
        }
    }
    if more.init {
        host.insert("Init".into(), json!(true));
    }
    if let Some(userns) = &more.userns {
        host.insert("UsernsMode".into(), json!(userns));
    }
    if let Some(n) = more.pids_limit {
        host.insert("PidsLimit".into(), json!(n));
    }
    if let Some(cpus) = &more.cpuset_cpus {
        host.insert("CpusetCpus".into(), json!(cpus));
    }
    if let Some(shares) = more.cpu_shares {
        host.insert("CpuShares".into(), json!(shares));
    }
    if let Some(weight) = more.blkio_weight {
        if weight != 0 && !(10..=1000).contains(&weight) {
            return Err(bad(
                "--blkio-weight",
                &weight.to_string(),
                "range is 10 to 1000, or 0",
            ));
        }
        host.insert("BlkioWeight".into(), json!(weight));
    }
    if let Some(swap) = &more.memory_swap {
        let bytes = if swap == "-1" {
            -1
        } else {
            size_flag("--memory-swap", swap)?
        };
        host.insert("MemorySwap".into(), json!(bytes));
    }
    if let Some(soft) = &more.memory_reservation {
        host.insert(
            "MemoryReservation".into(),
            json!(size_flag("--memory-reservation", soft)?),
        );
    }
    if let Some(shm) = &more.shm_size {
        host.insert("ShmSize".into(), json!(size_flag("--shm-size", shm)?));
    }
    if let Some(domain) = &more.domainname {
        body.insert("Domainname".into(), json!(domain));
    }
    if let Some(timeout) = more.stop_timeout {
        body.insert("StopTimeout".into(), json!(timeout));
    }
    if let Some(check) = healthcheck(more)? {
        body.insert("Healthcheck".into(), check);
    }
    Ok(())
}

/// Labels of `--label-file`s, then of `-l` (which win), as docker reads them.
pub fn label_files(files: &[std::path::PathBuf]) -> Result<Vec<String>, String> {
    let mut labels = Vec::new();
    for path in files {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("open {}: {e}", path.display()))?;
        labels.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    Ok(labels)
}

/// `--expose 80`, `--expose 7000-7002/udp`: the config's `ExposedPorts` keys.
pub fn exposed(specs: &[String]) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    for spec in specs {
        let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
        let (first, last) = ports.split_once('-').unwrap_or((ports, ports));
        let (first, last) = match (first.parse::<u16>(), last.parse::<u16>()) {
            (Ok(a), Ok(b)) if a <= b => (a, b),
            _ => return Err(bad("--expose", spec, "expected PORT[-PORT][/PROTO]")),
        };
        keys.extend((first..=last).map(|p| format!("{p}/{proto}")));
    }
    Ok(keys)
}

/// docker's `--mount`: comma-separated `key=value` (or bare `readonly`), types bind, volume
/// and tmpfs.
fn mount(spec: &str) -> Result<Value, String> {
    let fail = |why: String| bad("--mount", spec, why);
    let mut m = Map::new();
    let mut kind = "volume".to_string();
    let (mut volume, mut tmpfs) = (Map::new(), Map::new());
    let (mut labels, mut driver_opts) = (Map::new(), Map::new());
    let mut driver = None;
    for field in spec.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let flag = |v: Option<&str>| match v.unwrap_or("true") {
            "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            other => Err(fail(format!("invalid value for {key}: {other}"))),
        };
        let text = || value.ok_or_else(|| fail(format!("{key} needs a value")));
        match key.as_str() {
            "type" => kind = text()?.to_string(),
            "source" | "src" => {
                m.insert("Source".into(), json!(text()?));
            }
            "target" | "destination" | "dst" => {
                m.insert("Target".into(), json!(text()?));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(flag(value)?));
            }
            "volume-nocopy" => {
                volume.insert("NoCopy".into(), json!(flag(value)?));
            }
            "volume-label" => {
                let (k, v) = text()?.split_once('=').unwrap_or((text()?, ""));
                labels.insert(k.into(), json!(v));
            }
            "volume-driver" => driver = Some(text()?.to_string()),
            "volume-opt" => {
                let (k, v) = text()?.split_once('=').unwrap_or((text()?, ""));
                driver_opts.insert(k.into(), json!(v));
            }
            "tmpfs-size" => {
                let size = berth_common::units::parse_size(text()?).map_err(fail)?;
                tmpfs.insert("SizeBytes".into(), json!(size));
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(text()?, 8).map_err(|_| {
                    fail(format!(
                        "tmpfs-mode {:?} is not octal",
                        text().unwrap_or("")
                    ))
                })?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            _ => return Err(fail(format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    if !m.contains_key("Target") {
        return Err(fail("target is required".into()));
    }
    match kind.as_str() {
        "bind" if !m.contains_key("Source") => {
            return Err(fail("source is required when specifying bind mode".into()))
        }
        "tmpfs" if m.contains_key("Source") => {
            return Err(fail("source is not supported for tmpfs mounts".into()))
        }
        "bind" | "volume" | "tmpfs" => {}
        other => {
            return Err(fail(format!(
                "unsupported mount type {other:?} (bind, volume, tmpfs)"
            )))
        }
    }
    let volume_only =
        !volume.is_empty() || !labels.is_empty() || driver.is_some() || !driver_opts.is_empty();
    if volume_only && kind != "volume" {
        return Err(fail(format!(
            "volume options are for volume mounts, not {kind}"
        )));
    }
    if !tmpfs.is_empty() && kind != "tmpfs" {
        return Err(fail(format!(
            "tmpfs options are for tmpfs mounts, not {kind}"
        )));
    }
    if !labels.is_empty() {
        volume.insert("Labels".into(), Value::Object(labels));
    }
    if driver.is_some() || !driver_opts.is_empty() {
        volume.insert(
            "DriverConfig".into(),
            json!({"Name": driver.unwrap_or_default(), "Options": driver_opts}),
        );
    }
    if !volume.is_empty() {
        m.insert("VolumeOptions".into(), Value::Object(volume));
    }
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    m.insert("Type".into(), json!(kind));
    Ok(Value::Object(m))
}

/// `--add-host name:ip` (or docker 25's `name=ip`), as `ExtraHosts` holds it.
fn extra_host(spec: &str) -> Result<String, String> {
    let (name, ip) = spec
        .split_once('=')
        .or_else(|| spec.split_once(':'))
        .ok_or_else(|| bad("--add-host", spec, "expected HOST:IP"))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || !(ip == "host-gateway" || ip.parse::<std::net::IpAddr>().is_ok()) {
        return Err(bad(
            "--add-host",
            spec,
            "expected HOST:IP (IP may be host-gateway)",
        ));
    }
    Ok(format!("{name}:{ip}"))
}

/// `--ulimit nofile=1024[:2048]` (one value sets both; -1 is unlimited).
fn ulimit(spec: &str) -> Result<Value, String> {
    let fail = |why: &str| bad("--ulimit", spec, why);
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| fail("expected NAME=SOFT[:HARD]"))?;
    const NAMES: [&str; 16] = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if !NAMES.contains(&name) {
        return Err(fail("unknown ulimit name"));
    }
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let (Ok(soft), Ok(hard)) = (soft.parse::<i64>(), hard.parse::<i64>()) else {
        return Err(fail("limits are whole numbers"));
    };
    if hard != -1 && (soft == -1 || soft > hard) {
        return Err(fail("the soft limit must not exceed the hard one"));
    }
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

/// A duration flag in nanoseconds, as the API takes it (`30s`, `1m30s`, `500ms`).
fn nanos(flag: &str, value: &Option<String>) -> Result<Option<i64>, String> {
    let Some(text) = value else { return Ok(None) };
    let d: Duration = humantime::parse_duration(text).map_err(|e| bad(flag, text, e))?;
    i64::try_from(d.as_nanos())
        .map(Some)
        .map_err(|_| bad(flag, text, "too long"))
}

fn healthcheck(more: &MoreRunArgs) -> Result<Option<Value>, String> {
    let mut check = Map::new();
    if let Some(cmd) = &more.health_cmd {
        check.insert("Test".into(), json!(["CMD-SHELL", cmd]));
    }
    let durations = [
        ("Interval", "--health-interval", &more.health_interval),
        ("Timeout", "--health-timeout", &more.health_timeout),
        (
            "StartPeriod",
            "--health-start-period",
            &more.health_start_period,
        ),
        (
            "StartInterval",
            "--health-start-interval",
            &more.health_start_interval,
        ),
    ];
    for (key, flag, value) in durations {
        if let Some(n) = nanos(flag, value)? {
            check.insert(key.into(), json!(n));
        }
    }
    if let Some(retries) = more.health_retries {
        if retries < 0 {
            return Err(bad(
                "--health-retries",
                &retries.to_string(),
                "cannot be negative",
            ));
        }
        check.insert("Retries".into(), json!(retries));
    }
    if more.no_healthcheck {
        if !check.is_empty() {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    Ok((!check.is_empty()).then_some(Value::Object(check)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_as_docker_sends_them() {
        assert_eq!(
            mount("type=bind,source=/a,target=/b,readonly").unwrap(),
            json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true})
        );
        assert_eq!(
            mount("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap(),
            json!({"Type": "tmpfs", "Target": "/t",
                   "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1770}})
        );
        assert_eq!(
            mount("src=data,target=/v,volume-nocopy,volume-label=a=b").unwrap(),
            json!({"Type": "volume", "Source": "data", "Target": "/v",
                   "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"}}})
        );
        for bad in [
            "type=bind,target=/b",
            "type=bind,source=/a",
            "type=tmpfs,source=/a,target=/t",
            "type=bind,source=/a,target=/b,tmpfs-size=1m",
            "type=nfs,target=/x",
            "type=bind,source=/a,target=/b,bogus=1",
            "type=bind,source=/a,target=/b,ro=maybe",
        ] {
            let e = mount(bad).unwrap_err();
            assert!(e.contains("--mount") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn ulimits_hosts_and_ports() {
        assert_eq!(
            ulimit("nofile=1024:2048").unwrap(),
            json!({"Name": "nofile", "Soft": 1024, "Hard": 2048})
        );
        assert_eq!(ulimit("nproc=64").unwrap()["Hard"], 64);
        assert!(ulimit("nofile=2048:1024").is_err());
        assert!(ulimit("nofiles=1").is_err());
        assert_eq!(extra_host("db:10.0.0.1").unwrap(), "db:10.0.0.1");
        assert_eq!(extra_host("db=::1").unwrap(), "db:::1");
        assert_eq!(extra_host("gw:host-gateway").unwrap(), "gw:host-gateway");
        assert!(extra_host("db:nowhere").is_err());
        assert_eq!(
            exposed(&["80".into(), "7000-7001/udp".into()]).unwrap(),
            ["80/tcp", "7000/udp", "7001/udp"]
        );
        assert!(exposed(&["x".into()]).is_err());
    }

    #[test]
    fn healthchecks_in_nanoseconds() {
        let more = MoreRunArgs {
            health_cmd: Some("true".into()),
            health_interval: Some("1m30s".into()),
            health_retries: Some(2),
            ..Default::default()
        };
        assert_eq!(
            healthcheck(&more).unwrap().unwrap(),
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000i64, "Retries": 2})
        );
        let none = MoreRunArgs {
            no_healthcheck: true,
            ..Default::default()
        };
        assert_eq!(
            healthcheck(&none).unwrap().unwrap(),
            json!({"Test": ["NONE"]})
        );
        let both = MoreRunArgs {
            no_healthcheck: true,
            health_cmd: Some("true".into()),
            ..Default::default()
        };
        assert!(healthcheck(&both).is_err());
        assert!(healthcheck(&MoreRunArgs::default()).unwrap().is_none());
    }
}
