//! The instructions that only change the image's run config (Docker's `config` object):
//! ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, SHELL, CMD, ENTRYPOINT,
//! HEALTHCHECK, ONBUILD, applied to the JSON document so what berth does not model stays.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::dockerfile::{CommandLine, Healthcheck};

/// The run config of an image document, made an object if it was absent.
pub fn run_config(document: &mut Value) -> &mut Map<String, Value> {
    if !document.is_object() {
        *document = json!({});
    }
    let top = document.as_object_mut().expect("made an object above");
    let config = top.entry("config").or_insert_with(|| json!({}));
    if !config.is_object() {
        *config = json!({});
    }
    config.as_object_mut().expect("made an object above")
}

/// The `KEY=VALUE` environment of a run config.
pub fn env(config: &Map<String, Value>) -> Vec<(String, String)> {
    config
        .get("Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.to_string(), String::new()),
        })
        .collect()
}

pub fn set_env(config: &mut Map<String, Value>, key: &str, value: &str) {
    let mut list: Vec<Value> = config
        .get("Env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let entry = format!("{key}={value}");
    match list.iter().position(|e| {
        e.as_str()
            .is_some_and(|e| e.split_once('=').map_or(e, |(k, _)| k) == key)
    }) {
        Some(at) => list[at] = entry.into(),
        None => list.push(entry.into()),
    }
    config.insert("Env".into(), Value::Array(list));
}

/// Adds a key to one of Docker's maps (`Labels`, or the sets `ExposedPorts`, `Volumes`).
pub fn add_to_map(config: &mut Map<String, Value>, map: &str, key: &str, value: Value) {
    let entry = config.entry(map).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    if let Some(object) = entry.as_object_mut() {
        object.insert(key.to_string(), value);
    }
}

/// The shell the shell form runs under: `SHELL`, or `/bin/sh -c`.
pub fn shell(config: &Map<String, Value>) -> Vec<String> {
    config
        .get("Shell")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// A command line as the argv it runs.
pub fn argv(config: &Map<String, Value>, line: &CommandLine) -> Vec<String> {
    match line {
        CommandLine::Exec(args) => args.clone(),
        CommandLine::Shell(text) => {
            let mut argv = shell(config);
            argv.push(text.clone());
            argv
        }
    }
}

/// `EXPOSE 80`, `EXPOSE 53/udp`, `EXPOSE 8000-8002`: the ports as Docker keys them.
pub fn ports(spec: &str) -> Result<Vec<String>, String> {
    let (range, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(format!("invalid proto: {proto}"));
    }
    let bad = || format!("invalid containerPort: {range}");
    let (low, high) = match range.split_once('-') {
        Some((l, h)) => (
            l.parse::<u16>().map_err(|_| bad())?,
            h.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = range.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if low > high {
        return Err(bad());
    }
    Ok((low..=high).map(|p| format!("{p}/{proto}")).collect())
}

fn nanos(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(d.as_nanos() as u64))
}

/// Docker's `Healthcheck` object (durations in nanoseconds).
pub fn healthcheck(check: Option<&Healthcheck>) -> Value {
    let Some(check) = check else {
        return json!({ "Test": ["NONE"] });
    };
    let test = match &check.test {
        CommandLine::Exec(args) => {
            let mut test = vec!["CMD".to_string()];
            test.extend(args.iter().cloned());
            test
        }
        CommandLine::Shell(text) => vec!["CMD-SHELL".into(), text.clone()],
    };
    let mut value = json!({ "Test": test });
    for (key, d) in [
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
        ("StartInterval", check.start_interval),
    ] {
        if d.is_some() {
            value[key] = nanos(d);
        }
    }
    if let Some(retries) = check.retries {
        value["Retries"] = json!(retries);
    }
    value
}

/// A path inside the container, relative ones against the working directory.
pub fn absolute(workdir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", if workdir.is_empty() { "/" } else { workdir })
    };
    let clean = crate::ignore::clean(&joined);
    format!("/{clean}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_labels_ports_and_paths() {
        let mut doc = json!({"config": {"Env": ["PATH=/bin", "A=1"]}});
        let config = run_config(&mut doc);
        set_env(config, "A", "2");
        set_env(config, "B", "x y");
        assert_eq!(config["Env"], json!(["PATH=/bin", "A=2", "B=x y"]));
        add_to_map(config, "ExposedPorts", "80/tcp", json!({}));
        assert_eq!(config["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(
            ports("8000-8002/udp").unwrap(),
            ["8000/udp", "8001/udp", "8002/udp"]
        );
        assert!(ports("http").is_err());
        assert_eq!(absolute("/srv", "app/../x"), "/srv/x");
        assert_eq!(absolute("", "x"), "/x");
        assert_eq!(
            argv(config, &CommandLine::Shell("echo hi".into())),
            ["/bin/sh", "-c", "echo hi"]
        );
    }
}
