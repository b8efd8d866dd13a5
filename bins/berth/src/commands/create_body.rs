//! `docker run`/`create` flags as the body of `POST /containers/create`, shaped as the
//! docker CLI sends it.

use serde_json::{json, Map, Value};

use crate::cli::RunArgs;

/// The image, and the create body for `args`; an error is a flag at fault.
pub fn create_body(args: &RunArgs) -> Result<(String, Value), String> {
    let (image, command) = args
        .image_and_command
        .split_first()
        .ok_or("\"run\" requires at least 1 argument")?;
    let attach_all = args.attach.is_empty() && !args.detach;
    let attached = |stream: &str| {
        attach_all && stream != "stdin"
            || args.attach.iter().any(|a| a.eq_ignore_ascii_case(stream))
    };
    let stdin = args.interactive && !args.detach || attached("stdin");
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(env_file(file)?);
    }
    env.extend(args.env.iter().map(|e| expand_env(e)));
    let (mut exposed, bindings) = ports(&args.publish)?;
    for key in super::create_flags::exposed(&args.more.expose)? {
        exposed.insert(key, json!({}));
    }
    let mut label_specs = super::create_flags::label_files(&args.more.label_file)?;
    label_specs.extend(args.labels.iter().cloned());
    let mut host = Map::new();
    host.insert("Binds".into(), json!(args.volumes));
    host.insert(
        "NetworkMode".into(),
        json!(args.network.clone().unwrap_or_else(|| "default".into())),
    );
    host.insert("PortBindings".into(), Value::Object(bindings));
    host.insert("PublishAllPorts".into(), json!(args.publish_all));
    host.insert("RestartPolicy".into(), restart_policy(&args.restart)?);
    host.insert("AutoRemove".into(), json!(args.rm));
    host.insert("Privileged".into(), json!(args.privileged));
    host.insert("ReadonlyRootfs".into(), json!(args.read_only));
    host.insert("CapAdd".into(), json!(args.cap_add));
    host.insert("CapDrop".into(), json!(args.cap_drop));
    if !args.tmpfs.is_empty() {
        let tmpfs: Map<String, Value> = args
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((p, o)) => (p.to_string(), json!(o)),
                None => (t.clone(), json!("")),
            })
            .collect();
        host.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    if let Some(cpus) = args.cpus {
        host.insert("NanoCpus".into(), json!((cpus * 1e9) as i64));
    }
    if let Some(memory) = &args.memory {
        host.insert(
            "Memory".into(),
            json!(super::size_flag("--memory", memory)?),
        );
    }
    let mut body = Map::new();
    body.insert(
        "Hostname".into(),
        json!(args.hostname.clone().unwrap_or_default()),
    );
    body.insert("User".into(), json!(args.user.clone().unwrap_or_default()));
    body.insert("AttachStdin".into(), json!(stdin));
    body.insert("AttachStdout".into(), json!(attached("stdout")));
    body.insert("AttachStderr".into(), json!(attached("stderr")));
    body.insert("Tty".into(), json!(args.tty));
    body.insert("OpenStdin".into(), json!(args.interactive));
    body.insert("StdinOnce".into(), json!(stdin));
    body.insert("Env".into(), json!(env));
    body.insert("Image".into(), json!(image));
    body.insert("Labels".into(), Value::Object(labels(&label_specs)));
    body.insert("ExposedPorts".into(), Value::Object(exposed));
    if !command.is_empty() {
        body.insert("Cmd".into(), json!(command));
    }
    if let Some(workdir) = &args.workdir {
        body.insert("WorkingDir".into(), json!(workdir));
    }
    if let Some(entrypoint) = &args.entrypoint {
        // An empty --entrypoint resets the image's, as docker sends it.
        let ep: Vec<&str> = if entrypoint.is_empty() {
            vec![""]
        } else {
            vec![entrypoint]
        };
        body.insert("Entrypoint".into(), json!(ep));
    }
    if let Some(signal) = &args.stop_signal {
        body.insert("StopSignal".into(), json!(signal));
    }
    super::create_flags::apply(&args.more, &mut body, &mut host)?;
    body.insert("HostConfig".into(), Value::Object(host));
    if args.more.ip.is_some() && args.network.is_none() {
        return Err("--ip needs a user-defined network (--network)".into());
    }
    if let Some(network) = &args.network {
        let mut endpoint = Map::new();
        if !args.network_alias.is_empty() {
            endpoint.insert("Aliases".into(), json!(args.network_alias));
        }
        if let Some(ip) = &args.more.ip {
            endpoint.insert("IPAMConfig".into(), json!({"IPv4Address": ip}));
        }
        body.insert(
            "NetworkingConfig".into(),
            json!({"EndpointsConfig": {network: endpoint}}),
        );
    }
    Ok((image.clone(), Value::Object(body)))
}

/// `-e NAME` alone takes NAME's value from the client's environment, as docker does.
fn expand_env(e: &str) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_string(),
    }
}

fn env_file(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(expand_env)
        .collect())
}

fn labels(specs: &[String]) -> Map<String, Value> {
    specs
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), json!(v)),
            None => (l.clone(), json!("")),
        })
        .collect()
}

fn restart_policy(spec: &str) -> Result<Value, String> {
    let (name, count) = match spec.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>()
                .map_err(|_| format!("invalid restart policy format: {spec}"))?,
        ),
        None => (spec, 0),
    };
    match name {
        "no" | "" | "always" | "unless-stopped" | "on-failure" => Ok(
            json!({"Name": if name.is_empty() { "no" } else { name }, "MaximumRetryCount": count}),
        ),
        _ => Err(format!("invalid restart policy format: {spec}")),
    }
}

/// `-p [ip:][hostPort:]containerPort[/proto]`, ranges not split.
/// `ExposedPorts` and `PortBindings`.
type Ports = (Map<String, Value>, Map<String, Value>);

fn ports(specs: &[String]) -> Result<Ports, String> {
    let mut exposed = Map::new();
    let mut bindings = Map::new();
    for spec in specs {
        let (rest, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
        let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
        let (container, host_port, host_ip) = match parts.as_slice() {
            [c] => (*c, "", ""),
            [c, h] => (*c, *h, ""),
            [c, h, ip] => (*c, *h, ip.trim_start_matches('[').trim_end_matches(']')),
            _ => return Err(format!("invalid publish spec: {spec}")),
        };
        if container.is_empty() || !container.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return Err(format!("invalid containerPort: {container}"));
        }
        let key = format!("{container}/{proto}");
        exposed.insert(key.clone(), json!({}));
        let list = bindings
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(json!({"HostIp": host_ip, "HostPort": host_port}));
        }
    }
    Ok((exposed, bindings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn body(args: &[&str]) -> Value {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            run: RunArgs,
        }
        let t = T::try_parse_from(std::iter::once("run").chain(args.iter().copied())).unwrap();
        create_body(&t.run).unwrap().1
    }

    #[test]
    fn docker_run_flags_become_docker_s_body() {
        let b = body(&[
            "--rm",
            "-e",
            "A=1",
            "-p",
            "127.0.0.1:8080:80",
            "-p",
            "53/udp",
            "-m",
            "512m",
            "--cpus",
            "1.5",
            "--name",
            "x",
            "-l",
            "k=v",
            "--restart",
            "on-failure:3",
            "busybox",
            "sh",
            "-c",
            "echo -n hi",
        ]);
        assert_eq!(b["Cmd"], json!(["sh", "-c", "echo -n hi"]));
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["Labels"], json!({"k": "v"}));
        assert_eq!(b["AttachStdout"], json!(true));
        assert_eq!(b["AttachStdin"], json!(false));
        let h = &b["HostConfig"];
        assert_eq!(h["AutoRemove"], json!(true));
        assert_eq!(h["Memory"], json!(512 << 20));
        assert_eq!(h["NanoCpus"], json!(1_500_000_000i64));
        assert_eq!(
            h["PortBindings"]["80/tcp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
        );
        assert_eq!(
            h["PortBindings"]["53/udp"],
            json!([{"HostIp": "", "HostPort": ""}])
        );
        assert_eq!(
            h["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        let d = body(&["-d", "-it", "busybox"]);
        assert_eq!(d["AttachStdout"], json!(false));
        assert_eq!(d["OpenStdin"], json!(true));
        assert!(d.get("Cmd").is_none());
    }
}
