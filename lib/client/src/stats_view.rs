//! A `docker stats` row from the API's stats document, as the docker CLI computes it: CPU
//! % from the two readings, memory less the inactive page cache, NET I/O summed over the
//! networks, BLOCK I/O from the cgroup's bytes read and written.

use serde_json::{json, Value};

use crate::views::human_size;

/// Bytes received and sent, over every network of the container.
fn network_bytes(s: &Value) -> (f64, f64) {
    let networks = s["networks"]
        .as_object()
        .into_iter()
        .flat_map(|n| n.values());
    networks.fold((0.0, 0.0), |(rx, tx), n| {
        (
            rx + n["rx_bytes"].as_f64().unwrap_or(0.0),
            tx + n["tx_bytes"].as_f64().unwrap_or(0.0),
        )
    })
}

/// Bytes read and written: `io_service_bytes_recursive`'s `read`/`write` entries (`Read`
/// and `Write` on cgroup v1), over every device.
fn block_bytes(s: &Value) -> (f64, f64) {
    let entries = s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten();
    entries.fold((0.0, 0.0), |(read, written), e| {
        let value = e["value"].as_f64().unwrap_or(0.0);
        match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => (read + value, written),
            Some("write") => (read, written + value),
            _ => (read, written),
        }
    })
}

pub fn stats_row(s: &Value, no_trunc: bool, host: Option<&str>) -> Value {
    let id = s["id"].as_str().unwrap_or_default();
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let delta = cpu["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0)
        - pre["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0);
    let system = cpu["system_cpu_usage"].as_f64().unwrap_or(0.0)
        - pre["system_cpu_usage"].as_f64().unwrap_or(0.0);
    let cpus = cpu["online_cpus"].as_f64().unwrap_or(1.0);
    let cpu_perc = if system > 0.0 && delta > 0.0 {
        delta / system * cpus * 100.0
    } else {
        0.0
    };
    let mem = &s["memory_stats"];
    let cache = mem["stats"]["inactive_file"]
        .as_f64()
        .or(mem["stats"]["total_inactive_file"].as_f64())
        .unwrap_or(0.0);
    let used = (mem["usage"].as_f64().unwrap_or(0.0) - cache).max(0.0);
    let limit = mem["limit"].as_f64().unwrap_or(0.0);
    let mem_perc = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (rx, tx) = network_bytes(s);
    let (read, written) = block_bytes(s);
    let mut row = json!({
        "Container": if no_trunc { id } else { &id[..id.len().min(12)] },
        "ID": if no_trunc { id } else { &id[..id.len().min(12)] },
        "Name": s["name"].as_str().unwrap_or_default().trim_start_matches('/'),
        "CPUPerc": format!("{cpu_perc:.2}%"),
        "MemUsage": format!("{} / {}", binary_size(used), binary_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)),
        "BlockIO": format!("{} / {}", human_size(read), human_size(written)),
        "PIDs": s["pids_stats"]["current"].as_u64().unwrap_or(0).to_string(),
    });
    if let Some(h) = host {
        row["Host"] = json!(h);
    }
    row
}

/// go-units' `BytesSize` (powers of 1024: "1.5MiB"), as docker's MEM USAGE.
fn binary_size(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut size, mut i) = (bytes, 0);
    while size >= 1024.0 && i + 1 < units.len() {
        size /= 1024.0;
        i += 1;
    }
    let text = format!("{size:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_columns_sum_networks_and_devices() {
        let sample = json!({
            "id": "0123456789abcdef", "name": "/web",
            "networks": {
                "eth0": {"rx_bytes": 1500, "tx_bytes": 648},
                "eth1": {"rx_bytes": 500, "tx_bytes": 0},
            },
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "read", "value": 4096},
                {"major": 8, "minor": 16, "op": "Read", "value": 8192},
                {"major": 8, "minor": 0, "op": "write", "value": 12_300_000},
                {"major": 8, "minor": 0, "op": "total", "value": 1},
            ]},
            "pids_stats": {"current": 3},
        });
        let row = stats_row(&sample, false, None);
        assert_eq!(row["NetIO"], "2kB / 648B");
        assert_eq!(row["BlockIO"], "12.3kB / 12.3MB");
        assert_eq!(row["Name"], "web");
        assert_eq!(row["ID"], "0123456789ab");
        // berthd before it reports them, or a daemon without networks: zeros, as docker.
        let bare = stats_row(
            &json!({"id": "x", "blkio_stats": {"io_service_bytes_recursive": null}}),
            false,
            None,
        );
        assert_eq!(bare["NetIO"], "0B / 0B");
        assert_eq!(bare["BlockIO"], "0B / 0B");
    }
}
