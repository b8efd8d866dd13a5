//! Containers as docker shows them: inspect's object and `ps`'s summaries, with docker's
//! status texts ("Up 3 seconds", "Exited (0) 2 seconds ago").

use std::time::SystemTime;

use berth_api::containers::ListQuery;
use berth_common::Paths;
use serde_json::{json, Map, Value};

use super::entry::{Entry, Status};

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn unix_seconds(time: &str) -> i64 {
    humantime::parse_rfc3339_weak(time.trim_end_matches('Z'))
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

fn image_of(entry: &Entry) -> (String, String) {
    match (&entry.created, &entry.state) {
        (Some(c), _) => (c.body.image.clone(), c.image_id.clone()),
        (None, Some(s)) => (s.image.clone(), s.record.image.id.clone()),
        _ => (String::new(), String::new()),
    }
}

/// Path and Args: the command the container runs (ran), as far as it is known.
fn command_of(entry: &Entry) -> Vec<String> {
    if let Some(state) = &entry.state {
        return state.command.clone();
    }
    match &entry.created {
        Some(c) => c
            .body
            .entrypoint
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(c.body.cmd.clone().unwrap_or_default())
            .collect(),
        None => Vec::new(),
    }
}

/// Whether the entry's container runs, paused.
fn paused(entry: &Entry) -> bool {
    match (&entry.state, entry.status()) {
        (Some(state), Status::Running) => crate::container_ops::pause::paused(state),
        _ => false,
    }
}

/// Whether the entry's container waits out its restart policy's back-off (its restart
/// record says so; only a container with a policy has one worth reading).
fn restarting(paths: &Paths, entry: &Entry) -> bool {
    entry.status() != Status::Running
        && crate::restart::policy_of(entry) != crate::restart::Policy::No
        && crate::restart::RestartRecord::read(paths, &entry.id).restarting
}

/// What docker's state words need beyond the entry, each looked up once.
#[derive(Clone, Copy)]
struct Looks {
    restarting: bool,
    paused: bool,
}

fn looks(paths: &Paths, entry: &Entry) -> Looks {
    Looks {
        restarting: restarting(paths, entry),
        paused: paused(entry),
    }
}

/// docker's State word: created, running, paused, restarting, exited.
fn state_word(entry: &Entry, looks: Looks) -> &'static str {
    if looks.restarting {
        "restarting"
    } else if looks.paused {
        "paused"
    } else {
        entry.status().as_str()
    }
}

/// docker's Status column.
fn status_text(entry: &Entry, looks: Looks) -> String {
    let now = SystemTime::now();
    if looks.restarting {
        let ago = entry
            .finished()
            .map(|f| berth_common::human::ago(&f))
            .unwrap_or_default();
        return format!("Restarting ({}) {ago}", entry.exit_code());
    }
    match (entry.status(), &entry.state) {
        (Status::Running, Some(state)) => {
            let since = berth_common::human::since(&state.created, now)
                .unwrap_or_else(|| "Less than a second".into());
            if looks.paused {
                format!("Up {since} (Paused)")
            } else {
                format!("Up {since}")
            }
        }
        (Status::Exited, Some(_)) => {
            let ago = entry
                .finished()
                .map(|f| berth_common::human::ago(&f))
                .unwrap_or_default();
            format!("Exited ({}) {ago}", entry.exit_code())
        }
        _ => "Created".into(),
    }
}

fn ports(entry: &Entry) -> (Value, Vec<Value>) {
    let mut map = Map::new();
    let mut list = Vec::new();
    if let Some(c) = &entry.created {
        for port in c.body.exposed_ports.iter().flatten().map(|(k, _)| k) {
            map.insert(port.clone(), Value::Null);
        }
    }
    if let Some(net) = entry.state.as_ref().and_then(|s| s.record.network.as_ref()) {
        for p in &net.ports {
            let key = format!("{}/{}", p.container_port, p.proto);
            let binding =
                json!({ "HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string() });
            match map.get_mut(&key) {
                Some(Value::Array(a)) => a.push(binding),
                _ => {
                    map.insert(key, json!([binding]));
                }
            }
            list.push(
                json!({ "IP": p.host_ip.to_string(), "PrivatePort": p.container_port,
                "PublicPort": p.host_port, "Type": p.proto }),
            );
        }
    }
    (Value::Object(map), list)
}

/// The root's network definitions, read at most once per inspect or list (a list of many
/// running containers would otherwise read every definition once per container).
struct Networks<'a> {
    paths: &'a Paths,
    defs: std::cell::OnceCell<Vec<berth_net::network::NetworkDef>>,
}

impl<'a> Networks<'a> {
    fn new(paths: &'a Paths) -> Self {
        Networks {
            paths,
            defs: Default::default(),
        }
    }

    /// The endpoints of container `id` in the networks' files.
    fn endpoints_of(&self, id: &str) -> Vec<berth_common::Endpoint> {
        let defs = self
            .defs
            .get_or_init(|| berth_net::network::list(self.paths).unwrap_or_default());
        berth_net::attach::endpoints_in(self.paths, defs, id)
    }
}

/// Each network the container is on: while it runs, from the networks' endpoint files
/// (they have the ones `network connect` added), else from its record.
fn networks(defs: &Networks, entry: &Entry) -> (Value, Value) {
    let paths = defs.paths;
    let mut nets = Map::new();
    let mut first = json!({"IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "MacAddress": ""});
    let running = entry.status() == Status::Running;
    let recorded = entry
        .state
        .as_ref()
        .and_then(|s| s.record.network.as_ref())
        .map(|n| n.endpoints.clone())
        .unwrap_or_default();
    let eth0 = recorded.first().map(|e| e.network_id.clone());
    let live = running
        .then(|| defs.endpoints_of(entry.id.as_str()))
        .filter(|l| !l.is_empty());
    let mut endpoints = live.unwrap_or(recorded);
    // eth0's network first: it gives the top-level IPAddress, as in docker.
    endpoints.sort_by_key(|e| eth0.as_ref() != Some(&e.network_id));
    let name = entry.name();
    for (i, e) in endpoints.iter().enumerate() {
        let (ip, gw, mac) = if running {
            (
                e.ip.to_string(),
                e.gateway.map(|g| g.to_string()).unwrap_or_default(),
                e.mac.clone(),
            )
        } else {
            Default::default()
        };
        let dns_names = e.dns_server.map(|_| {
            let mut names = vec![name.clone(), entry.id.short().to_string()];
            names.extend(e.aliases.iter().cloned());
            names
        });
        let value = json!({
            "IPAMConfig": null, "Links": null, "Aliases": e.aliases, "NetworkID": e.network_id,
            "EndpointID": if running { crate::networks::stable_id(&e.network_id, &entry.id) } else { String::new() },
            "Gateway": gw, "IPAddress": ip,
            "IPPrefixLen": if running { e.prefix } else { 0 }, "IPv6Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": mac, "DriverOpts": null,
            "DNSNames": dns_names,
        });
        if i == 0 {
            first = value.clone();
        }
        nets.insert(e.network.clone(), value);
    }
    // The networks a `network connect` keeps for the next start.
    if !running {
        for p in crate::networks::pending::read(paths, &entry.id) {
            let value = json!({
                "IPAMConfig": p.ip.map(|ip| json!({ "IPv4Address": ip.to_string() })),
                "Links": null, "Aliases": p.aliases, "NetworkID": p.network_id,
                "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "MacAddress": "", "DriverOpts": null, "DNSNames": null,
            });
            nets.insert(p.network, value);
        }
    }
    (Value::Object(nets), first)
}

fn mounts(paths: &Paths, entry: &Entry) -> Vec<Value> {
    let Some(rootfs) = entry.state.as_ref().and_then(|s| s.record.rootfs.as_ref()) else {
        return Vec::new();
    };
    rootfs
        .mounts
        .iter()
        .map(|m| {
            let kind = serde_json::to_value(m.kind).unwrap_or(json!("bind"));
            let mut mount = json!({
                "Type": kind,
                "Source": m.source.as_ref().map(|s| s.display().to_string()).unwrap_or_default(),
                "Destination": m.target,
                "Name": m.volume,
                "RW": !m.readonly,
                "Mode": "", "Propagation": "",
            });
            // A volume shows as docker's, with its `_data`, even when its options mount
            // a tmpfs or a host directory instead.
            if let Some(name) = &m.volume {
                let data = berth_rootfs::volumes::volume_data(paths, name);
                mount["Type"] = json!("volume");
                mount["Driver"] = json!("local");
                mount["Source"] = json!(data.display().to_string());
            }
            mount
        })
        .collect()
}

pub fn inspect(paths: &Paths, entry: &Entry) -> Value {
    let status = entry.status();
    let (image, image_id) = image_of(entry);
    let command = command_of(entry);
    let (ports_map, _) = ports(entry);
    let (networks, first) = networks(&Networks::new(paths), entry);
    let state = entry.state.as_ref();
    let restart = crate::restart::RestartRecord::read(paths, &entry.id);
    let restarting = restart.restarting && status != Status::Running;
    let is_paused = paused(entry);
    let started = state.map_or(ZERO_TIME.to_string(), |s| s.created.clone());
    let finished = entry.finished().unwrap_or_else(|| ZERO_TIME.into());
    let (body, host_config) = match &entry.created {
        Some(c) => (
            serde_json::to_value(&c.body).unwrap_or(Value::Null),
            serde_json::to_value(&c.body.host_config).unwrap_or(Value::Null),
        ),
        None => (json!({ "Image": image, "Cmd": command }), json!({})),
    };
    let mut config = body;
    if let Value::Object(map) = &mut config {
        map.remove("HostConfig");
        map.insert("Image".into(), json!(image));
        if map
            .get("Hostname")
            .is_none_or(|h| h.as_str().is_none_or(str::is_empty))
        {
            map.insert("Hostname".into(), json!(entry.id.short()));
        }
    }
    let value = json!({
        "Id": entry.id.as_str(),
        "Created": entry.part.created,
        "Path": command.first().cloned().unwrap_or_default(),
        "Args": command.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": if restarting { "restarting" } else if is_paused { "paused" } else { status.as_str() },
            "Running": status == Status::Running,
            "Paused": is_paused, "Restarting": restarting,
            "OOMKilled": state.is_some_and(|s| s.oom_killed),
            "Dead": false,
            "Pid": if status == Status::Running { state.map_or(0, |s| s.pid) } else { 0 },
            "ExitCode": entry.exit_code(),
            "Error": "",
            "StartedAt": started,
            "FinishedAt": finished,
        },
        "Image": image_id,
        "ResolvConfPath": "", "HostnamePath": "", "HostsPath": "",
        "LogPath": berth_runtime::state::log_path(paths, &entry.id),
        "Name": format!("/{}", entry.name()),
        "RestartCount": restart.count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": host_config,
        "Mounts": mounts(paths, entry),
        "Config": config,
        "NetworkSettings": {
            "Bridge": "", "SandboxID": "", "HairpinMode": false,
            "Ports": ports_map,
            "SandboxKey": entry.state.as_ref().and_then(|s| s.record.network.as_ref()).and_then(|n| n.netns.clone()),
            "EndpointID": "", "Gateway": first["Gateway"], "IPAddress": first["IPAddress"],
            "IPPrefixLen": first["IPPrefixLen"], "MacAddress": first["MacAddress"],
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": "",
            "Networks": networks,
        },
    });
    with_health_state(paths, entry, value)
}

/// `State.Health`, for a container with a healthcheck.
fn with_health_state(paths: &Paths, entry: &Entry, mut value: Value) -> Value {
    if let Some(health) = crate::health::inspect_value(paths, entry) {
        value["State"]["Health"] = health;
    }
    value
}

/// `ps`'s status of a running container with a check: `Up 3 seconds (healthy)`.
fn with_health(paths: &Paths, entry: &Entry, mut summary: Value) -> Value {
    if entry.status() != Status::Running {
        return summary;
    }
    let suffix = match crate::health::status_word(paths, entry) {
        "none" => return summary,
        "starting" => " (health: starting)",
        "healthy" => " (healthy)",
        _ => " (unhealthy)",
    };
    if let Some(text) = summary["Status"].as_str() {
        summary["Status"] = json!(format!("{text}{suffix}"));
    }
    summary
}

/// The `health=` filter: starting, healthy, unhealthy or none.
fn health_matches(paths: &Paths, entry: &Entry, query: &ListQuery) -> bool {
    query.filters.get("health").is_none_or(|wanted| {
        let word = crate::health::status_word(paths, entry);
        wanted.iter().any(|w| w == word)
    })
}

fn summary(nets: &Networks, entry: &Entry) -> Value {
    let paths = nets.paths;
    let looks = looks(paths, entry);
    let (image, image_id) = image_of(entry);
    let command = command_of(entry);
    let (_, port_list) = ports(entry);
    let (networks, _) = networks(nets, entry);
    let labels = entry
        .created
        .as_ref()
        .and_then(|c| c.body.labels.clone())
        .unwrap_or_default();
    let network_mode = entry
        .created
        .as_ref()
        .and_then(|c| c.body.host_config.network_mode.clone())
        .unwrap_or_else(|| "default".into());
    json!({
        "Id": entry.id.as_str(),
        "Names": [format!("/{}", entry.name())],
        "Image": image,
        "ImageID": image_id,
        "Command": command.join(" "),
        "Created": unix_seconds(&entry.part.created),
        "Ports": port_list,
        "Labels": labels,
        "State": state_word(entry, looks),
        "Status": status_text(entry, looks),
        "HostConfig": { "NetworkMode": network_mode },
        "NetworkSettings": { "Networks": networks },
        "Mounts": mounts(paths, entry),
    })
}

fn matches(paths: &Paths, entry: &Entry, query: &ListQuery) -> bool {
    let status = entry.status();
    for (key, values) in &query.filters {
        let any = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
        let ok = match key.as_str() {
            "id" => any(&|v| entry.id.as_str().starts_with(v)),
            // As dockerd: against the name with and without its leading slash.
            "name" => {
                let name = entry.name();
                let slashed = format!("/{name}");
                any(&|v| {
                    berth_api::filters::docker_match(v, &slashed)
                        || berth_api::filters::docker_match(v, &name)
                })
            }
            "status" => {
                let word = state_word(entry, looks(paths, entry));
                any(&|v| v == word)
            }
            "exited" => any(&|v| status == Status::Exited && v.parse() == Ok(entry.exit_code())),
            "ancestor" => {
                let (image, image_id) = image_of(entry);
                any(&|v| v == image || image_id.contains(v))
            }
            "label" => {
                let labels = entry
                    .created
                    .as_ref()
                    .and_then(|c| c.body.labels.clone())
                    .unwrap_or_default();
                any(&|v| {
                    berth_api::filters::label_matches(v, |key| labels.get(key).map(String::as_str))
                })
            }
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

pub fn list(paths: &Paths, query: &ListQuery) -> Vec<Value> {
    // Filters on status see every container, as docker's do.
    let all = query.all
        || query.limit.is_some()
        || query.filters.contains_key("status")
        || query.filters.contains_key("exited");
    let nets = Networks::new(paths);
    let mut out: Vec<Value> = Entry::all(paths)
        .iter()
        // A container waiting out its restart back-off counts as running, as in dockerd.
        .filter(|e| all || e.status() == Status::Running || restarting(paths, e))
        .filter(|e| matches(paths, e, query))
        .filter(|e| health_matches(paths, e, query))
        .map(|e| with_health(paths, e, summary(&nets, e)))
        .collect();
    if let Some(limit) = query.limit {
        out.truncate(limit);
    }
    out
}
