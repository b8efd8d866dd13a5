//! `POST /commit`: `docker commit`, a container's changes as a new image.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::{blocking, ApiError, Backend, BackendError};

/// A commit as the query and body ask for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitRequest {
    pub container: String,
    /// `repo[:tag]` as the client sent `repo` and `tag`; None leaves the image unnamed.
    pub reference: Option<String>,
    pub comment: String,
    pub author: String,
    /// Freeze a running container while its changes are read (docker's default).
    pub pause: bool,
    /// Dockerfile instructions (`CMD ["sh"]`) applied to the config, in order.
    pub changes: Vec<String>,
    /// Config overrides (the body: a container `Config`), when the client sent any.
    pub config: Option<Value>,
}

/// What the commit endpoint asks of the engine. Blocking: it reads the container's files
/// and writes the store.
pub trait CommitBackend: Send + Sync + 'static {
    /// The new image's ID (`sha256:…`).
    fn commit(&self, request: &CommitRequest) -> Result<String, BackendError>;
}

pub fn routes() -> Router<Backend> {
    Router::new().route("/commit", post(commit))
}

fn truthy(value: &str) -> bool {
    !matches!(value, "0" | "false" | "False" | "")
}

/// The query as docker's client sends it: `changes` once per `--change`, `pause=0` only
/// for `--pause=false`.
pub fn parse_query(query: &str) -> Result<CommitRequest, ApiError> {
    let mut request = CommitRequest {
        pause: true,
        ..CommitRequest::default()
    };
    let (mut repo, mut tag) = (String::new(), String::new());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "container" => request.container = value,
            "repo" => repo = value,
            "tag" => tag = value,
            "comment" => request.comment = value,
            "author" => request.author = value,
            "pause" => request.pause = truthy(&value),
            // Older clients joined several changes with newlines.
            "changes" => request.changes.extend(
                value
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            ),
            _ => {}
        }
    }
    if request.container.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "No container name or ID supplied".to_string(),
        ));
    }
    request.reference = match (repo.is_empty(), tag.is_empty()) {
        (true, true) => None,
        (true, false) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "refusing to create a tag with no repository".to_string(),
            ))
        }
        (false, true) => Some(repo),
        (false, false) => Some(format!("{repo}:{tag}")),
    };
    Ok(request)
}

async fn commit(
    State(backend): State<Backend>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut request = parse_query(query.as_deref().unwrap_or(""))?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        let config: Value = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid JSON body (a container config): {e}"),
            )
        })?;
        request.config = Some(config).filter(|c| !c.is_null());
    }
    let engine = backend.commit.clone();
    let id = blocking(move || engine.commit(&request)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_as_the_docker_cli_sends_it() {
        let q = "author=me&changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1&comment=c&container=web&pause=0&repo=img&tag=v1";
        let r = parse_query(q).unwrap();
        assert_eq!(r.container, "web");
        assert_eq!(r.reference.as_deref(), Some("img:v1"));
        assert_eq!(r.changes, [r#"CMD ["sh"]"#, "ENV A=1"]);
        assert!(!r.pause);
        assert_eq!((r.author.as_str(), r.comment.as_str()), ("me", "c"));
        let r = parse_query("container=web").unwrap();
        assert!(r.pause);
        assert_eq!(r.reference, None);
    }

    #[test]
    fn a_tag_without_a_repo_or_no_container_is_refused() {
        assert!(parse_query("container=web&tag=x").is_err());
        assert!(parse_query("repo=x").is_err());
    }
}
