//! `GET /events`: the events recorded on the root (`berth_common::events`), those since
//! `since` first, then new ones as they are recorded, until `until` or the client goes;
//! one JSON message per line of a chunked answer, as dockerd streams them.

use std::time::{Duration, SystemTime};

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_common::events::Event;
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::filters::Filters;
use crate::{stream, ApiError, Backend, BackendError};

/// The filters dockerd takes for events (swarm's too: they match nothing here).
pub const FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// What the engine streams for `GET /events`. Blocking: it reads and follows the journal.
pub trait EventsBackend: Send + Sync + 'static {
    /// Sends the recorded events matching `query` (with `since`), then, unless `until`
    /// has passed, those recorded later, until `until` or until the sink is closed.
    fn events(&self, query: &EventsQuery, out: &EventSink) -> Result<(), BackendError>;
}

#[derive(Debug, Clone, Default)]
pub struct EventsQuery {
    /// Unix time in nanoseconds; None: only events recorded from now on.
    pub since: Option<i64>,
    /// Unix time in nanoseconds; None: until the client goes.
    pub until: Option<i64>,
    pub filters: Filters,
}

/// Where a blocking backend call sends events, one line each.
pub struct EventSink {
    tx: mpsc::Sender<Bytes>,
}

impl EventSink {
    pub fn channel() -> (EventSink, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(256);
        (EventSink { tx }, rx)
    }

    /// Sends `event`; false once the client is gone.
    pub fn send(&self, event: &Event) -> bool {
        let mut line = serde_json::to_vec(event).expect("events serialise");
        line.push(b'\n');
        self.tx.blocking_send(Bytes::from(line)).is_ok()
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

pub fn routes() -> Router<Backend> {
    Router::new().route("/events", get(events))
}

#[derive(Deserialize)]
struct Params {
    since: Option<String>,
    until: Option<String>,
    filters: Option<String>,
}

async fn events(
    State(backend): State<Backend>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let now = SystemTime::now();
    let time = |name: &str, value: &Option<String>| -> Result<Option<i64>, ApiError> {
        match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => parse_time(v, now)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid value for {name}: {v:?}"))),
        }
    };
    let query = EventsQuery {
        since: time("since", &params.since)?,
        until: time("until", &params.until)?,
        filters: Filters::parse(params.filters.as_deref())?,
    };
    query.filters.only(FILTERS)?;
    if let (Some(since), Some(until)) = (query.since, query.until) {
        if since > until {
            return Err(ApiError::bad_request(
                "`since` time cannot be after `until` time",
            ));
        }
    }
    let (sink, rx) = EventSink::channel();
    let engine = backend.events.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = engine.events(&query, &sink) {
            tracing::debug!("events: {e}");
        }
    });
    let mut response = Response::new(stream::body_of(rx));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// A time as dockerd takes it, in Unix nanoseconds: `SECONDS[.FRACTION]` (what the docker
/// CLI sends, having converted its own input), RFC 3339, or a duration (`10m`, `1h30m`)
/// before `now`.
pub fn parse_time(text: &str, now: SystemTime) -> Option<i64> {
    if let Some(nanos) = seconds_text(text) {
        return Some(nanos);
    }
    let at = if let Ok(duration) = humantime::parse_duration(text) {
        now.checked_sub(duration)?
    } else if let Ok(at) = humantime::parse_rfc3339_weak(text.trim_end_matches('Z')) {
        at
    } else {
        humantime::parse_rfc3339(text).ok()?
    };
    let since_epoch = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since_epoch.as_nanos()).ok()
}

/// `1700000000` or `1700000000.5` (up to nine digits of fraction).
fn seconds_text(text: &str) -> Option<i64> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_dockerd_takes_them() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_time("1700000000", now),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_time("1700000000.25", now),
            Some(1_700_000_000_250_000_000)
        );
        assert_eq!(
            parse_time("10m", now),
            Some((1_000_000 - 600) * 1_000_000_000)
        );
        assert_eq!(parse_time("0s", now), Some(1_000_000 * 1_000_000_000));
        assert_eq!(
            parse_time("1970-01-02T00:00:00Z", now),
            Some(86_400 * 1_000_000_000)
        );
        assert_eq!(parse_time("yesterday", now), None);
        assert_eq!(parse_time("1.1234567891", now), None);
    }
}
