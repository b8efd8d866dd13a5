//! The rows docker's tables and templates see: the API's summaries turned into docker's
//! formatter contexts (`.ID` short, `.Names` without the slash, `.Ports` as
//! `0.0.0.0:8080->80/tcp`, `.RunningFor` as "5 seconds ago"…), with the column names of
//! each table's header and its default format.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_common::human;
use serde_json::{json, Map, Value};

pub const PS_TABLE: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
pub const IMAGES_TABLE: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
pub const IMAGES_DIGESTS_TABLE: &str =
    "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
pub const VOLUMES_TABLE: &str = "{{.Driver}}\t{{.Name}}";
pub const NETWORKS_TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// Column names of every table's fields.
pub const HEADERS: &[(&str, &str)] = &[
    ("Host", "HOST"),
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("Driver", "DRIVER"),
    ("Name", "NAME"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
];

/// The header row of a table whose first column is a container's or an image's ID.
pub fn headers_for(kind: &str) -> Vec<(&'static str, &'static str)> {
    HEADERS
        .iter()
        .map(|&(k, v)| match (kind, k) {
            ("image", "ID") => (k, "IMAGE ID"),
            ("network", "ID") => (k, "NETWORK ID"),
            ("volume", "Name") => (k, "VOLUME NAME"),
            _ => (k, v),
        })
        .collect()
}

/// go-units' `HumanSize` (powers of 1000, 3 significant digits), as docker prints sizes.
pub fn human_size(bytes: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut size = bytes;
    let mut i = 0;
    while size >= 1000.0 && i + 1 < units.len() {
        size /= 1000.0;
        i += 1;
    }
    let digits = if size >= 100.0 {
        3
    } else if size >= 10.0 {
        2
    } else {
        1
    };
    let rounded = format!("{:.*}", 3 - digits, size);
    let trimmed = if rounded.contains('.') {
        rounded
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        rounded
    };
    format!("{trimmed}{}", units[i])
}

fn created_at(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    let text = humantime::format_rfc3339_seconds(t).to_string();
    // docker: "2006-01-02 15:04:05 -0700 MST"
    format!("{} +0000 UTC", text.trim_end_matches('Z').replace('T', " "))
}

fn ago(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    let d = SystemTime::now().duration_since(t).unwrap_or_default();
    format!("{} ago", human::duration(d))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

fn labels_text(labels: &Value) -> (String, Value) {
    let map = labels.as_object().cloned().unwrap_or_default();
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    (pairs.join(","), Value::Object(map))
}

/// `0.0.0.0:8080->80/tcp, 53/udp`, as docker's `.Ports`.
fn ports_text(ports: &Value) -> String {
    let mut out: Vec<String> = ports
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let private = p["PrivatePort"].as_u64().unwrap_or(0);
            let kind = p["Type"].as_str().unwrap_or("tcp");
            match (p["IP"].as_str(), p["PublicPort"].as_u64()) {
                (Some(ip), Some(public)) if public != 0 => {
                    let ip = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    format!("{ip}:{public}->{private}/{kind}")
                }
                _ => format!("{private}/{kind}"),
            }
        })
        .collect();
    out.dedup();
    out.join(", ")
}

/// A `GET /containers/json` summary as docker's ps row.
pub fn container_row(c: &Value, no_trunc: bool, host: Option<&str>) -> Value {
    let id = c["Id"].as_str().unwrap_or_default();
    let command = c["Command"].as_str().unwrap_or_default();
    let names: Vec<String> = strings(&c["Names"])
        .into_iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    let created = c["Created"].as_i64().unwrap_or(0);
    let (labels, label_map) = labels_text(&c["Labels"]);
    let mounts: Vec<String> = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            m["Name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .or(m["Source"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let mut networks: Vec<String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let size = match (c["SizeRw"].as_f64(), c["SizeRootFs"].as_f64()) {
        (Some(rw), Some(root)) => format!("{} (virtual {})", human_size(rw), human_size(root)),
        (Some(rw), None) => human_size(rw),
        _ => "0B".to_string(),
    };
    let mut row = Map::new();
    row.insert(
        "ID".into(),
        json!(if no_trunc {
            id
        } else {
            &id[..id.len().min(12)]
        }),
    );
    row.insert("Image".into(), c["Image"].clone());
    row.insert(
        "Command".into(),
        json!(if no_trunc {
            format!("{command:?}")
        } else {
            human::quoted_command(command, 20)
        }),
    );
    row.insert("CreatedAt".into(), json!(created_at(created)));
    row.insert("RunningFor".into(), json!(ago(created)));
    row.insert("Ports".into(), json!(ports_text(&c["Ports"])));
    row.insert("State".into(), c["State"].clone());
    row.insert("Status".into(), c["Status"].clone());
    row.insert("Size".into(), json!(size));
    row.insert("Names".into(), json!(names.join(",")));
    row.insert("Labels".into(), json!(labels));
    row.insert("LabelMap".into(), label_map);
    row.insert("Mounts".into(), json!(mounts.join(",")));
    row.insert("Networks".into(), json!(networks.join(",")));
    row.insert("LocalVolumes".into(), json!(mounts.len().to_string()));
    if let Some(h) = host {
        row.insert("Host".into(), json!(h));
    }
    Value::Object(row)
}

/// A `GET /images/json` summary as docker's images rows: one per repo:tag (or one
/// `<none>:<none>` row for an untagged image).
pub fn image_rows(i: &Value, no_trunc: bool, host: Option<&str>) -> Vec<Value> {
    let id = i["Id"].as_str().unwrap_or_default();
    let short = id.trim_start_matches("sha256:");
    let shown = if no_trunc {
        id.to_string()
    } else {
        short[..short.len().min(12)].to_string()
    };
    let created = i["Created"].as_i64().unwrap_or(0);
    let size = human_size(i["Size"].as_f64().unwrap_or(0.0));
    let digests = strings(&i["RepoDigests"]);
    let mut tags = strings(&i["RepoTags"]);
    tags.retain(|t| t != "<none>:<none>");
    if tags.is_empty() {
        tags.push("<none>:<none>".into());
    }
    let (labels, label_map) = labels_text(&i["Labels"]);
    tags.iter()
        .map(|tag| {
            let (repo, t) = match tag.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (tag.clone(), "<none>".to_string()),
            };
            let digest = digests
                .iter()
                .find(|d| d.split('@').next() == Some(repo.as_str()))
                .and_then(|d| d.split('@').nth(1))
                .unwrap_or("<none>");
            let mut row = Map::new();
            row.insert("Repository".into(), json!(repo));
            row.insert("Tag".into(), json!(t));
            row.insert("Digest".into(), json!(digest));
            row.insert("ID".into(), json!(shown));
            row.insert("CreatedSince".into(), json!(ago(created)));
            row.insert("CreatedAt".into(), json!(created_at(created)));
            row.insert("Size".into(), json!(size));
            row.insert("VirtualSize".into(), json!(size));
            row.insert("SharedSize".into(), json!("N/A"));
            row.insert("UniqueSize".into(), json!("N/A"));
            row.insert("Containers".into(), json!("N/A"));
            row.insert("Labels".into(), json!(labels));
            row.insert("LabelMap".into(), label_map.clone());
            if let Some(h) = host {
                row.insert("Host".into(), json!(h));
            }
            Value::Object(row)
        })
        .collect()
}

pub fn volume_row(v: &Value, host: Option<&str>) -> Value {
    let (labels, label_map) = labels_text(&v["Labels"]);
    let mut row = json!({
        "Driver": v["Driver"], "Name": v["Name"], "Scope": v["Scope"],
        "Mountpoint": v["Mountpoint"], "Labels": labels, "LabelMap": label_map,
    });
    if let Some(h) = host {
        row["Host"] = json!(h);
    }
    row
}

pub fn network_row(n: &Value, no_trunc: bool, host: Option<&str>) -> Value {
    let id = n["Id"].as_str().unwrap_or_default();
    let (labels, label_map) = labels_text(&n["Labels"]);
    let mut row = json!({
        "ID": if no_trunc { id } else { &id[..id.len().min(12)] },
        "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
        "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
        "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
        "CreatedAt": n["Created"], "Labels": labels, "LabelMap": label_map,
    });
    if let Some(h) = host {
        row["Host"] = json!(h);
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(4_261_000.0), "4.26MB");
        assert_eq!(human_size(12_345_678.0), "12.3MB");
        assert_eq!(human_size(1_000_000.0), "1MB");
    }

    #[test]
    fn a_ps_row_is_docker_s() {
        let c = json!({"Id": "0123456789abcdef0123", "Names": ["/web"], "Image": "busybox",
            "Command": "sh -c 'echo hello world'", "Created": 0, "State": "running",
            "Status": "Up 2 seconds", "Labels": {"b": "2", "a": "1"},
            "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                      {"PrivatePort": 53, "Type": "udp"}],
            "NetworkSettings": {"Networks": {"bridge": {}}}});
        let row = container_row(&c, false, Some("h"));
        assert_eq!(row["ID"], "0123456789ab");
        assert_eq!(row["Names"], "web");
        assert_eq!(row["Command"], "\"sh -c 'echo hello w…\"");
        assert_eq!(row["Ports"], "0.0.0.0:8080->80/tcp, 53/udp");
        assert_eq!(row["Labels"], "a=1,b=2");
        assert_eq!(row["Networks"], "bridge");
        assert_eq!(row["CreatedAt"], "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(row["Host"], "h");
    }
}
