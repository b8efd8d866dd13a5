//! Version negotiation as dockerd does it: every path may start with `/v1.NN`; a version
//! outside [`MIN_API_VERSION`]..=[`API_VERSION`] is refused with docker's message, an
//! unversioned path means the newest. The version a request asked for is in its
//! extensions ([`ApiVersion`]) for the handlers whose answer changed shape over time, and
//! every answer carries the headers the docker CLI reads (`Api-Version`, `Ostype`…).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::{Service, ServiceExt};

use crate::ApiError;

/// The newest API version whose shapes berth implements; advertised by `/_ping` and `/version`.
pub const API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 43,
};
/// The oldest a client may ask for.
pub const MIN_API_VERSION: ApiVersion = ApiVersion {
    major: 1,
    minor: 24,
};

/// An Engine API version, `1.43`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let (major, minor) = text.split_once('.')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return None;
        }
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The router behind version negotiation: strips `/v1.NN`, checks it, routes, and adds the
/// daemon's headers to every answer.
#[derive(Clone)]
pub struct Versioned {
    routes: Router,
}

impl Versioned {
    pub fn new(routes: Router) -> Self {
        Versioned { routes }
    }
}

/// Splits `/v1.43/containers/json` into the version and `/containers/json`; `None` when the
/// path has no version prefix.
fn split_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (version, tail) = rest.split_at(end);
    version
        .bytes()
        .next()
        .filter(u8::is_ascii_digit)
        .map(|_| (version, if tail.is_empty() { "/" } else { tail }))
}

/// The version a request asks for, its URI rewritten without the prefix; or the refusal.
fn negotiate(uri: &Uri) -> Result<(ApiVersion, Option<Uri>), ApiError> {
    let Some((text, tail)) = split_version(uri.path()) else {
        return Ok((API_VERSION, None));
    };
    let version = ApiVersion::parse(text)
        .ok_or_else(|| ApiError::bad_request(format!("invalid API version: {text}")))?;
    if version > API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if version < MIN_API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too old. Minimum supported API version is \
             {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{tail}?{query}"),
        None => tail.to_string(),
    };
    let rewritten = Uri::builder()
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| ApiError::bad_request(format!("invalid request path: {e}")))?;
    Ok((version, Some(rewritten)))
}

fn add_daemon_headers(response: &mut Response) {
    let headers = response.headers_mut();
    let server = concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)");
    let pairs = [
        ("api-version", API_VERSION.to_string()),
        ("docker-experimental", "false".to_string()),
        ("ostype", "linux".to_string()),
        ("server", server.to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

impl<B> Service<Request<B>> for Versioned
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut request = request.map(Body::new);
        let routes = self.routes.clone();
        Box::pin(async move {
            let mut response = match negotiate(request.uri()) {
                Err(refused) => refused.into_response(),
                Ok((version, rewritten)) => {
                    if let Some(uri) = rewritten {
                        *request.uri_mut() = uri;
                    }
                    request.extensions_mut().insert(version);
                    routes.oneshot(request).await?
                }
            };
            add_daemon_headers(&mut response);
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(
            ApiVersion::parse("1.41"),
            Some(ApiVersion {
                major: 1,
                minor: 41
            })
        );
        assert!(ApiVersion::parse("1.9").unwrap() < ApiVersion::parse("1.24").unwrap());
        for bad in ["", "1", "1.", ".4", "1.4x", "a.b", "1.2.3", "99999.1"] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_prefix_is_split_from_the_path() {
        assert_eq!(
            split_version("/v1.41/containers/json"),
            Some(("1.41", "/containers/json"))
        );
        assert_eq!(split_version("/v1.41"), Some(("1.41", "/")));
        assert_eq!(split_version("/volumes"), None);
        assert_eq!(split_version("/containers/json"), None);
    }

    #[test]
    fn negotiation_keeps_the_query_and_refuses_out_of_range() {
        let uri: Uri = "/v1.41/containers/json?all=1".parse().unwrap();
        let (version, rewritten) = negotiate(&uri).unwrap();
        assert_eq!(version.to_string(), "1.41");
        assert_eq!(rewritten.unwrap().to_string(), "/containers/json?all=1");

        let (version, rewritten) = negotiate(&"/_ping".parse().unwrap()).unwrap();
        assert_eq!((version, rewritten), (API_VERSION, None));

        let too_new = negotiate(&"/v1.50/info".parse().unwrap()).unwrap_err();
        assert!(too_new.message.contains("too new"), "{}", too_new.message);
        let too_old = negotiate(&"/v1.12/info".parse().unwrap()).unwrap_err();
        assert!(too_old.message.contains("too old"), "{}", too_old.message);
        assert_eq!(too_old.status, axum::http::StatusCode::BAD_REQUEST);
        let garbage = negotiate(&"/v1.x/info".parse().unwrap()).unwrap_err();
        assert!(garbage.message.contains("invalid API version"));
    }
}
