//! `POST /images/create?fromImage=…`: `docker pull`. The engine pulls on the blocking pool
//! and hands docker's JSON progress messages over a channel; an error before the first
//! message is the answer's status (as dockerd's "manifest unknown" 404), one after it an
//! `{"errorDetail":…,"error":…}` line in the stream.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::{blocking, ApiError, Backend, BackendError};

/// Credentials the client sent in `X-Registry-Auth` (base64url of this JSON).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistryAuth {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// base64 of `user:password`, as config.json keeps it.
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub serveraddress: Option<String>,
    #[serde(default)]
    pub identitytoken: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PullRequest {
    /// `name:tag` or `name@digest`, as the client asked.
    pub reference: String,
    pub platform: Option<String>,
    pub auth: Option<RegistryAuth>,
}

/// What the distribution endpoints ask of the engine. Blocking: they talk to registries
/// and write the store.
pub trait DistributionBackend: Send + Sync + 'static {
    /// Pulls, calling `progress` with each of docker's progress messages; `progress`
    /// returns false once the client has gone.
    fn pull(
        &self,
        request: &PullRequest,
        progress: &mut (dyn FnMut(serde_json::Value) -> bool + Send),
    ) -> Result<(), BackendError>;

    /// `docker import`: the rootfs tarball at `path` (plain, gzip or zstd) becomes a
    /// one-layer image named `name` (if given), with Dockerfile `changes` and `message`;
    /// returns the image ID.
    fn import(
        &self,
        path: &std::path::Path,
        name: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<String, BackendError>;

    /// `docker import URL`: the tarball at `url` (http or https) written to `path`.
    fn fetch(&self, url: &str, path: &std::path::Path) -> Result<(), BackendError>;

    /// `docker login`'s check of credentials against `auth.serveraddress`.
    fn login(&self, auth: &RegistryAuth) -> Result<(), BackendError>;

    /// Pushes the local image `name:tag` to the registry its name says, with docker's
    /// progress messages.
    fn push(
        &self,
        name: &str,
        tag: &str,
        auth: Option<RegistryAuth>,
        progress: &mut (dyn FnMut(serde_json::Value) -> bool + Send),
    ) -> Result<(), BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new()
        .route("/images/create", post(create))
        .route("/auth", post(login))
}

#[derive(Deserialize)]
struct CreateQuery {
    #[serde(rename = "fromImage")]
    from_image: Option<String>,
    #[serde(rename = "fromSrc")]
    from_src: Option<String>,
    tag: Option<String>,
    platform: Option<String>,
}

enum Message {
    Line(serde_json::Value),
    Failed(BackendError),
}

async fn create(
    State(backend): State<Backend>,
    Query(q): Query<CreateQuery>,
    raw: axum::extract::RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(src) = q.from_src.filter(|s| !s.is_empty()) {
        let url = (src != "-").then_some(src);
        return import(backend, raw.0.unwrap_or_default(), url, body).await;
    }
    let from = q
        .from_image
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::bad_request("fromImage or fromSrc is required"))?;
    let request = PullRequest {
        reference: join_reference(&from, q.tag.as_deref()),
        platform: q.platform.filter(|p| !p.is_empty()),
        auth: registry_auth(&headers)?,
    };
    let distribution = backend.distribution.clone();
    stream_job(move |send| distribution.pull(&request, send)).await
}

/// `POST /images/{name}/push?tag=…` (routed by images.rs, whose tail route owns the path).
pub async fn push(
    backend: Backend,
    name: String,
    tag: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let auth = registry_auth(headers)?;
    let tag = tag
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "latest".into());
    let distribution = backend.distribution.clone();
    stream_job(move |send| distribution.push(&name, &tag, auth, send)).await
}

type Job = dyn FnOnce(&mut (dyn FnMut(serde_json::Value) -> bool + Send)) -> Result<(), BackendError>
    + Send;

/// Runs `job` on the blocking pool; its messages become the chunked JSON answer.
async fn stream_job(
    job: impl FnOnce(&mut (dyn FnMut(serde_json::Value) -> bool + Send)) -> Result<(), BackendError>
        + Send
        + 'static,
) -> Result<Response, ApiError> {
    let job: Box<Job> = Box::new(job);
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    tokio::task::spawn_blocking(move || {
        let mut send = |line| tx.blocking_send(Message::Line(line)).is_ok();
        if let Err(e) = job(&mut send) {
            let _ = tx.blocking_send(Message::Failed(e));
        }
    });
    let first = match rx.recv().await {
        None => return Ok(json_stream(Body::empty())),
        Some(Message::Failed(e)) => return Err(e.into()),
        Some(Message::Line(line)) => line,
    };
    let stream = futures_util::stream::unfold((Some(first), rx), |(first, mut rx)| async move {
        let message = match first {
            Some(line) => Message::Line(line),
            None => rx.recv().await?,
        };
        let value = match message {
            Message::Line(line) => line,
            Message::Failed(e) => serde_json::json!({
                "errorDetail": { "message": e.message },
                "error": e.message,
            }),
        };
        let mut bytes = value.to_string().into_bytes();
        bytes.extend_from_slice(b"\r\n");
        Some((
            Ok::<_, std::convert::Infallible>(Bytes::from(bytes)),
            (None, rx),
        ))
    });
    Ok(json_stream(Body::from_stream(stream)))
}

/// `docker import`: the body (or what `url` answers) is spooled to the store's scratch
/// space (as a load's is), then imported; the answer is docker's `{"status": ID}`.
async fn import(
    backend: Backend,
    query: String,
    url: Option<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let changes: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| k == "changes" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    let name = value("repo").map(|repo| match value("tag") {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo,
    });
    let message = value("message");
    let images = backend.images.clone();
    let dir = blocking(move || images.scratch_dir()).await?;
    let path = dir.join("import.tar");
    let received = match url {
        None => crate::stream::receive_to_file(body, &path, "the upload").await,
        Some(url) => {
            let (distribution, p) = (backend.distribution.clone(), path.clone());
            blocking(move || distribution.fetch(&url, &p)).await
        }
    };
    let result = match received {
        Ok(()) => {
            let (distribution, p) = (backend.distribution.clone(), path.clone());
            blocking(move || distribution.import(&p, name.as_deref(), &changes, message.as_deref()))
                .await
        }
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_dir_all(&dir).await;
    let id = result?;
    let line = format!("{}\r\n", serde_json::json!({ "status": id }));
    Ok(([(header::CONTENT_TYPE, "application/json")], line).into_response())
}

/// `POST /auth`: the credentials are checked, not kept (the CLI keeps them).
async fn login(
    State(backend): State<Backend>,
    axum::Json(auth): axum::Json<RegistryAuth>,
) -> Result<Response, ApiError> {
    let distribution = backend.distribution.clone();
    blocking(move || distribution.login(&auth)).await?;
    let answer = serde_json::json!({ "Status": "Login Succeeded", "IdentityToken": "" });
    Ok(axum::Json(answer).into_response())
}

fn json_stream(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `fromImage=x&tag=1` is `x:1`; a digest in `tag` pins it (`x@sha256:…`); a `fromImage`
/// that already carries a tag or digest stands alone.
fn join_reference(from: &str, tag: Option<&str>) -> String {
    match tag.filter(|t| !t.is_empty()) {
        Some(tag) if tag.starts_with("sha256:") => format!("{from}@{tag}"),
        Some(tag) => format!("{from}:{tag}"),
        None => from.to_string(),
    }
}

/// `X-Registry-Auth`: base64url (padded or not) of the JSON; `{}` means none.
pub fn registry_auth(headers: &HeaderMap) -> Result<Option<RegistryAuth>, ApiError> {
    let Some(value) = headers.get("x-registry-auth") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("X-Registry-Auth is not ASCII"))?
        .trim()
        .trim_end_matches('=');
    if text.is_empty() {
        return Ok(None);
    }
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let json = engine
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .map_err(|_| ApiError::bad_request("X-Registry-Auth is not base64"))?;
    let auth: RegistryAuth = serde_json::from_slice(&json)
        .map_err(|e| ApiError::bad_request(format!("X-Registry-Auth is not valid JSON: {e}")))?;
    let empty = auth.username.as_deref().unwrap_or("").is_empty()
        && auth.auth.as_deref().unwrap_or("").is_empty()
        && auth.identitytoken.as_deref().unwrap_or("").is_empty();
    Ok((!empty).then_some(auth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_join_like_dockerd() {
        assert_eq!(
            join_reference("127.0.0.1:5000/x", Some("1")),
            "127.0.0.1:5000/x:1"
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(join_reference("x", Some(&digest)), format!("x@{digest}"));
        assert_eq!(join_reference("x:2", None), "x:2");
    }

    #[test]
    fn registry_auth_decodes() {
        let mut headers = HeaderMap::new();
        assert!(registry_auth(&headers).unwrap().is_none());
        headers.insert("x-registry-auth", "e30=".parse().unwrap());
        assert!(registry_auth(&headers).unwrap().is_none());
        let json = r#"{"username":"u","password":"p?>","serveraddress":"h"}"#;
        let encoded = base64::engine::general_purpose::URL_SAFE.encode(json);
        headers.insert("x-registry-auth", encoded.parse().unwrap());
        let auth = registry_auth(&headers).unwrap().unwrap();
        assert_eq!(auth.password.as_deref(), Some("p?>"));
        headers.insert("x-registry-auth", "!!".parse().unwrap());
        assert!(registry_auth(&headers).is_err());
    }
}
