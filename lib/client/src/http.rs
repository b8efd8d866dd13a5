//! HTTP/1.1 to one daemon (hyper's client over a [`Transport`]), with docker's version
//! negotiation: `/_ping`'s `Api-Version`, the lower of the daemon's and ours, prefixes
//! every path after it (a docker.io 20.10 dockerd speaks 1.41).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use crate::error::{ClientError, Result};
use crate::transport::{BoxIo, Transport};

/// The newest API version this client speaks.
pub const CLIENT_API_VERSION: &str = "1.43";

pub type RequestBody = BoxBody<Bytes, std::io::Error>;

/// A client of one daemon. Cheap to clone; the negotiated version is shared.
#[derive(Clone)]
pub struct Client {
    /// The host as the user named it (`unix:///…`, `tcp://…`, or `local`).
    pub name: String,
    transport: Transport,
    version: Arc<OnceCell<String>>,
}

/// An empty request body.
pub fn empty() -> RequestBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON request body.
pub fn json_body(value: &serde_json::Value) -> RequestBody {
    Full::new(Bytes::from(value.to_string()))
        .map_err(|never| match never {})
        .boxed()
}

/// The lower of two `1.NN` versions.
pub fn lower_version(a: &str, b: &str) -> String {
    let key = |v: &str| {
        let (ma, mi) = v.split_once('.').unwrap_or((v, "0"));
        (
            ma.parse::<u32>().unwrap_or(0),
            mi.parse::<u32>().unwrap_or(0),
        )
    };
    if key(a) <= key(b) { a } else { b }.to_string()
}

impl Client {
    pub fn new(name: impl Into<String>, transport: Transport) -> Client {
        Client {
            name: name.into(),
            transport,
            version: Arc::new(OnceCell::new()),
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self.transport, Transport::InProcess(_))
    }

    /// How this daemon is reached (`dial-stdio` serves or relays through it).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    async fn open(&self) -> Result<hyper::client::conn::http1::SendRequest<RequestBody>> {
        let io: BoxIo = self.transport.connect(&self.name).await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|source| self.http_error(source))?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!("connection: {e}");
            }
        });
        Ok(sender)
    }

    fn http_error(&self, source: hyper::Error) -> ClientError {
        ClientError::Http {
            host: self.name.clone(),
            source,
        }
    }

    /// The API version for this daemon, asked once.
    pub async fn version(&self) -> Result<String> {
        self.version
            .get_or_try_init(|| async {
                let response = self.raw(Method::GET, "/_ping", empty(), &[]).await?;
                let theirs = response
                    .headers()
                    .get("api-version")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(CLIENT_API_VERSION)
                    .to_string();
                Ok(lower_version(&theirs, CLIENT_API_VERSION))
            })
            .await
            .cloned()
    }

    /// A request on a path given as is (no version prefix).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>> {
        let mut sender = self.open().await?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "api")
            .header("user-agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(body).map_err(|e| ClientError::Host {
            host: self.name.clone(),
            reason: e.to_string(),
        })?;
        sender
            .send_request(request)
            .await
            .map_err(|source| self.http_error(source))
    }

    /// A versioned request; a status of 400 or more is the daemon's error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: RequestBody,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>> {
        let version = self.version().await?;
        let response = self
            .raw(method, &format!("/v{version}{path}"), body, headers)
            .await?;
        if response.status().as_u16() >= 400 {
            return Err(self.refusal(response).await);
        }
        Ok(response)
    }

    /// The daemon's `{"message"}` of a refusal.
    async fn refusal(&self, response: Response<Incoming>) -> ClientError {
        let status = response.status().as_u16();
        let bytes = self.collect(response).await.unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
        ClientError::Daemon { status, message }
    }

    pub async fn collect(&self, response: Response<Incoming>) -> Result<Bytes> {
        Ok(response
            .into_body()
            .collect()
            .await
            .map_err(|source| self.http_error(source))?
            .to_bytes())
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self.call(Method::GET, path, empty(), &[]).await?;
        self.decode(path, response).await
    }

    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T> {
        let response = self
            .call(method, path, json_body(body), &json_header())
            .await?;
        self.decode(path, response).await
    }

    /// A call whose answer is only its status (204, 304…).
    pub async fn send(&self, method: Method, path: &str) -> Result<StatusCode> {
        let response = self.call(method, path, empty(), &[]).await?;
        let status = response.status();
        self.collect(response).await?;
        Ok(status)
    }

    async fn decode<T: DeserializeOwned>(
        &self,
        path: &str,
        response: Response<Incoming>,
    ) -> Result<T> {
        let bytes = self.collect(response).await?;
        let bytes = if bytes.is_empty() {
            Bytes::from_static(b"null")
        } else {
            bytes
        };
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
            what: format!("{} {path}", self.name),
            source,
        })
    }

    /// A hijacked stream (attach, exec start): the request with `Upgrade: tcp`; the
    /// connection, once upgraded, carries the container's stdio both ways.
    pub async fn hijack(&self, path: &str, body: RequestBody) -> Result<hyper::upgrade::Upgraded> {
        let version = self.version().await?;
        let headers = [
            ("connection", "Upgrade".to_string()),
            ("upgrade", "tcp".to_string()),
            ("content-type", "application/json".to_string()),
        ];
        let response = self
            .raw(Method::POST, &format!("/v{version}{path}"), body, &headers)
            .await?;
        if response.status().as_u16() >= 400 {
            return Err(self.refusal(response).await);
        }
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Daemon {
                status: response.status().as_u16(),
                message: format!("{path}: the daemon did not switch protocols"),
            });
        }
        hyper::upgrade::on(response)
            .await
            .map_err(|source| self.http_error(source))
    }
}

pub fn json_header() -> [(&'static str, String); 1] {
    [("content-type", "application/json".to_string())]
}

/// `key=value&…`, URL-encoded.
pub fn query(pairs: &[(&str, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// A response's body as an `AsyncRead` (logs, save, export).
pub fn body_reader(response: Response<Incoming>) -> impl tokio::io::AsyncRead + Send + Unpin {
    use futures_util::TryStreamExt;
    let stream =
        http_body_util::BodyDataStream::new(response.into_body()).map_err(std::io::Error::other);
    tokio_util::io::StreamReader::new(stream)
}

/// JSON as docker's CLI indents it (four spaces).
pub fn indented(value: &serde_json::Value) -> String {
    use serde::Serialize;
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    let _ = value.serialize(&mut ser);
    String::from_utf8(out).unwrap_or_default()
}

/// A file (or any reader) as a streamed request body (load, import).
pub fn reader_body<R: tokio::io::AsyncRead + Send + Sync + 'static>(reader: R) -> RequestBody {
    use futures_util::TryStreamExt;
    let stream = tokio_util::io::ReaderStream::new(reader).map_ok(hyper::body::Frame::data);
    http_body_util::StreamBody::new(stream).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_version_wins() {
        assert_eq!(lower_version("1.41", CLIENT_API_VERSION), "1.41");
        assert_eq!(lower_version("1.45", CLIENT_API_VERSION), "1.43");
        assert_eq!(lower_version("1.9", "1.10"), "1.9");
        assert_eq!(query(&[("name", "a b&c".into())]), "name=a+b%26c");
    }
}
