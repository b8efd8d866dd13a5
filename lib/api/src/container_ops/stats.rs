//! `GET /containers/{id}/stats`: docker's stats JSON from two readings a second apart
//! (`precpu_stats` is the earlier one, so the CLI can compute a CPU percentage), once with
//! `stream=0`, every second otherwise.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{blocking, ApiError, Backend};

/// What the engine reads for one sample; the API shapes it as docker's JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSample {
    pub id: String,
    /// `/name`, as docker reports it.
    pub name: String,
    /// RFC 3339 time of the reading.
    pub read: String,
    pub cpu_usage_ns: u64,
    /// The host's CPU time (all CPUs, nanoseconds), docker's `system_cpu_usage`.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    pub memory_usage: u64,
    pub memory_max_usage: u64,
    /// The cgroup's limit, or the host's memory when unlimited (as dockerd reports it).
    pub memory_limit: u64,
    pub pids_current: u64,
}

const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize)]
pub(super) struct StatsQuery {
    stream: Option<String>,
    #[serde(rename = "one-shot")]
    one_shot: Option<String>,
}

fn truthy(value: &Option<String>, default: bool) -> bool {
    match value.as_deref() {
        None => default,
        Some(v) => matches!(v, "1" | "true" | "True" | "TRUE"),
    }
}

async fn sample(backend: &Backend, id: &str) -> Result<StatsSample, ApiError> {
    let ops = backend.container_ops.clone();
    let id = id.to_string();
    blocking(move || ops.stats_sample(&id)).await
}

pub(super) async fn stats(
    State(backend): State<Backend>,
    Path(id): Path<String>,
    Query(query): Query<StatsQuery>,
) -> Result<Response, ApiError> {
    let stream = truthy(&query.stream, true);
    let first = sample(&backend, &id).await?;
    if !stream {
        // one-shot skips the second reading: no precpu, as dockerd does.
        let (pre, now) = if truthy(&query.one_shot, false) {
            (StatsSample::default(), first)
        } else {
            tokio::time::sleep(INTERVAL).await;
            (first, sample(&backend, &id).await?)
        };
        return Ok(json_response(Body::from(document(&now, &pre).to_string())));
    }
    let state = (backend, id, first, true);
    let body = futures_util::stream::unfold(state, |(backend, id, pre, first)| async move {
        if !first {
            tokio::time::sleep(INTERVAL).await;
        }
        // A container removed meanwhile ends the stream.
        let now = sample(&backend, &id).await.ok()?;
        let mut line = document(&now, &pre).to_string();
        line.push('\n');
        Some((
            Ok::<_, std::io::Error>(bytes::Bytes::from(line)),
            (backend, id, now, false),
        ))
    });
    Ok(json_response(Body::from_stream(body)))
}

fn json_response(body: Body) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn cpu(sample: &StatsSample) -> Value {
    json!({
        "cpu_usage": {
            "total_usage": sample.cpu_usage_ns,
            "usage_in_kernelmode": 0,
            "usage_in_usermode": 0,
        },
        "system_cpu_usage": sample.system_cpu_ns,
        "online_cpus": sample.online_cpus,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    })
}

/// Docker's stats document for `now`, with `pre` as `precpu_stats`.
pub(crate) fn document(now: &StatsSample, pre: &StatsSample) -> Value {
    json!({
        "id": now.id,
        "name": now.name,
        "read": now.read,
        "preread": if pre.read.is_empty() { "0001-01-01T00:00:00Z" } else { &pre.read },
        "num_procs": 0,
        "pids_stats": {"current": now.pids_current},
        "blkio_stats": {
            "io_service_bytes_recursive": null,
            "io_serviced_recursive": null,
        },
        "cpu_stats": cpu(now),
        "precpu_stats": cpu(pre),
        "memory_stats": {
            "usage": now.memory_usage,
            "max_usage": now.memory_max_usage,
            "limit": now.memory_limit,
            "stats": {},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precpu_is_the_earlier_reading() {
        let pre = StatsSample {
            read: "t0".into(),
            cpu_usage_ns: 10,
            system_cpu_ns: 100,
            ..Default::default()
        };
        let now = StatsSample {
            read: "t1".into(),
            cpu_usage_ns: 30,
            system_cpu_ns: 300,
            memory_limit: 1 << 20,
            ..Default::default()
        };
        let doc = document(&now, &pre);
        assert_eq!(doc["cpu_stats"]["cpu_usage"]["total_usage"], 30);
        assert_eq!(doc["precpu_stats"]["cpu_usage"]["total_usage"], 10);
        assert_eq!(doc["precpu_stats"]["system_cpu_usage"], 100);
        assert_eq!(doc["preread"], "t0");
        assert_eq!(doc["memory_stats"]["limit"], 1 << 20);
    }

    #[test]
    fn stream_defaults_on_and_reads_go_booleans() {
        assert!(truthy(&None, true));
        assert!(!truthy(&Some("0".into()), true));
        assert!(truthy(&Some("1".into()), false));
        assert!(!truthy(&Some("false".into()), true));
    }
}
