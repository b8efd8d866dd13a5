//! One registry's v2 API over blocking HTTP: the ping that learns the auth challenge,
//! requests that authenticate (Basic, or a Bearer token per scope, fetched once and
//! cached) and retry once on a fresh 401, manifests and blobs.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::http::{Method, Request, Response};
use ureq::Body;

use crate::auth::{Challenge, Credentials, TokenCache, TokenResponse};
use crate::error::{DistributionError, Result};

/// Docker's limit on a manifest's size.
pub const MAX_MANIFEST: u64 = 4 << 20;
const MAX_ERROR_BODY: u64 = 64 << 10;

#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `host[:port]`s tried over HTTPS without checking the certificate, then over plain
    /// HTTP (loopback registries always are).
    pub insecure: Vec<String>,
    /// Overrides what the docker config holds for this registry.
    pub credentials: Option<Credentials>,
    /// Without `credentials`, look in the docker config (a client does; a daemon takes
    /// only what its client sends).
    pub docker_config: bool,
    /// An OAuth refresh token (`IdentityToken` of X-Registry-Auth, from a `docker login`
    /// to a registry that gives them): a Bearer registry's tokens are asked for with it.
    pub identity_token: Option<String>,
}

/// How a registry is spoken to: HTTPS (with the TLS settings of its certs.d directory, or
/// unverified for an insecure registry; else the default roots), or plain HTTP.
enum Scheme {
    Https(Option<ureq::tls::TlsConfig>),
    Http,
}

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    agent: ureq::Agent,
    /// As the reference names it (`docker.io`, `127.0.0.1:5000`).
    name: String,
    /// `host:port` actually dialled, for "cannot reach" messages.
    dialled: String,
    base: String,
    credentials: Option<Credentials>,
    identity_token: Option<String>,
    state: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    tokens: TokenCache,
}

/// A request's body; a file is opened again for a retry.
pub enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    File(&'a std::path::Path),
    /// `len` bytes of the file from `offset` (a chunk of an upload); the caller sets the
    /// Content-Length.
    Part {
        path: &'a std::path::Path,
        offset: u64,
        len: u64,
    },
}

/// What the registry said in its `{"errors":[…]}` body.
#[derive(Debug, Default)]
pub struct RegistryMessage {
    pub code: String,
    pub message: String,
}

impl Registry {
    /// Connects to `name` (answering on `api_host`) and pings `/v2/`. A registry named
    /// insecure (and the loopback, as docker has it) is tried over HTTPS first, its
    /// certificate not checked, then over plain HTTP, as dockerd does; one with a certs.d
    /// directory only over HTTPS, verified.
    pub fn connect(name: &str, api_host: &str, opts: &RegistryOptions) -> Result<Registry> {
        let certs = crate::certs::dir_for(api_host);
        let credentials = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None if opts.docker_config => crate::credentials::lookup(name)?,
            None => None,
        };
        let tls = match &certs {
            Some(dir) => Some(crate::certs::tls_config(name, dir)?),
            None => None,
        };
        let credentials = (credentials, opts.identity_token.clone());
        if tls.is_some() || !is_insecure(api_host, &opts.insecure) {
            return Self::open(name, api_host, Scheme::Https(tls), credentials);
        }
        let unverified = ureq::tls::TlsConfig::builder()
            .disable_verification(true)
            .build();
        match Self::open(
            name,
            api_host,
            Scheme::Https(Some(unverified)),
            credentials.clone(),
        ) {
            Err(DistributionError::Unreachable { reason, .. }) => {
                tracing::debug!(registry = name, %reason, "no HTTPS: trying plain HTTP");
                Self::open(name, api_host, Scheme::Http, credentials)
            }
            other => other,
        }
    }

    fn open(
        name: &str,
        api_host: &str,
        scheme: Scheme,
        (credentials, identity_token): (Option<Credentials>, Option<String>),
    ) -> Result<Registry> {
        let (prefix, port) = match scheme {
            Scheme::Http => ("http", 80),
            Scheme::Https(_) => ("https", 443),
        };
        let dialled = if has_port(api_host) {
            api_host.to_string()
        } else {
            format!("{api_host}:{port}")
        };
        let mut builder = ureq::Agent::config_builder();
        if let Scheme::Https(Some(tls)) = scheme {
            builder = builder.tls_config(tls);
        }
        let config = builder
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .max_redirects(8)
            // Storage redirects go elsewhere: the registry's token must not follow them.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            // The proxy variables are honoured (with NO_PROXY), but never for the loopback.
            .proxy(if is_loopback(api_host) {
                None
            } else {
                ureq::Proxy::try_from_env()
            })
            .build();
        let registry = Registry {
            inner: Arc::new(Inner {
                agent: config.into(),
                name: name.to_string(),
                dialled,
                base: format!("{prefix}://{api_host}"),
                credentials,
                identity_token,
                state: Mutex::new(AuthState::default()),
            }),
        };
        registry.ping()?;
        Ok(registry)
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// `login`'s check: the credentials get a 200 from `/v2/` (Basic) or a token from the
    /// realm (Bearer); a registry that asks for nothing takes any.
    pub fn check_credentials(&self) -> Result<()> {
        let challenge = self.state().challenge.clone();
        match challenge {
            None => Ok(()),
            Some(Challenge::Basic) => {
                let response = self.request(Method::GET, "", "", &[])?;
                match response.status().as_u16() {
                    200..=299 => Ok(()),
                    status => Err(self.status_error("login", status, response)),
                }
            }
            Some(Challenge::Bearer { realm, service }) => {
                self.fetch_token(&realm, service.as_deref(), "").map(drop)
            }
        }
    }

    fn ping(&self) -> Result<()> {
        let response = self.send(Method::GET, &format!("{}/v2/", self.inner.base), &[])?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            401 => {
                let challenge = challenge_of(&response);
                if challenge.is_none() {
                    return Err(self.unauthorized(response));
                }
                self.state().challenge = challenge;
                Ok(())
            }
            // Registries that serve no /v2/ root still serve the API below it.
            404 => Ok(()),
            status => Err(self.status_error("ping /v2/", status, response)),
        }
    }

    /// A request under `/v2/` in `scope` (`repository:NAME:pull`), authenticated.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        scope: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response<Body>> {
        let url = format!("{}/v2/{path}", self.inner.base);
        self.request_to(method, &url, scope, headers, &Payload::Empty)
    }

    /// An upload's `Location`, absolute or relative to the registry, as a URL.
    pub fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}/{}", self.inner.base, location.trim_start_matches('/'))
        }
    }

    /// [`Registry::request`] to a whole URL (an upload's location), with a body.
    pub fn request_to(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        payload: &Payload<'_>,
    ) -> Result<Response<Body>> {
        for first in [true, false] {
            let auth = self.authorization(scope)?;
            let mut all: Vec<(&str, &str)> = headers.to_vec();
            if let Some(auth) = &auth {
                all.push(("Authorization", auth));
            }
            let response = self.send_payload(method.clone(), url, &all, payload)?;
            if response.status().as_u16() != 401 {
                return Ok(response);
            }
            let challenge = challenge_of(&response);
            if !first || challenge.is_none() {
                return Err(self.unauthorized(response));
            }
            let mut state = self.state();
            state.tokens.forget(scope);
            state.challenge = challenge;
        }
        unreachable!("the second 401 returns")
    }

    fn state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.inner.state.lock().expect("auth state lock")
    }

    fn authorization(&self, scope: &str) -> Result<Option<String>> {
        let challenge = self.state().challenge.clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.inner.credentials.as_ref().map(|c| c.basic_header())),
            Some(Challenge::Bearer { realm, service }) => {
                if let Some(token) = self.state().tokens.get(scope) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let token = self.fetch_token(&realm, service.as_deref(), scope)?;
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Docker's token flow: GET realm?service=…&scope=…, with Basic credentials when
    /// there are any (anonymous otherwise); with an identity token, OAuth2's
    /// `grant_type=refresh_token` POSTed to the realm instead, as docker does.
    fn fetch_token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<String> {
        let mut pairs = Vec::new();
        if let Some(service) = service {
            pairs.push(("service", service));
        }
        // Several scopes (a push that mounts from another repository) are several params.
        pairs.extend(
            scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(|s| ("scope", s)),
        );
        let response = match &self.inner.identity_token {
            Some(refresh) => {
                pairs.extend([
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                    ("client_id", "berth"),
                ]);
                let form = form_query(&pairs);
                let headers = [("Content-Type", "application/x-www-form-urlencoded")];
                self.send_payload(
                    Method::POST,
                    realm,
                    &headers,
                    &Payload::Bytes(form.as_bytes()),
                )?
            }
            None => self.fetch_token_get(realm, pairs)?,
        };
        self.read_token(scope, response)
    }

    fn fetch_token_get<'a>(
        &'a self,
        realm: &str,
        mut pairs: Vec<(&'a str, &'a str)>,
    ) -> Result<Response<Body>> {
        if let Some(c) = &self.inner.credentials {
            pairs.push(("account", c.username.as_str()));
        }
        let query = form_query(&pairs);
        let separator = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{separator}{query}");
        let basic = self.inner.credentials.as_ref().map(|c| c.basic_header());
        let headers: Vec<(&str, &str)> = basic
            .iter()
            .map(|b| ("Authorization", b.as_str()))
            .collect();
        self.send(Method::GET, &url, &headers)
    }

    fn read_token(&self, scope: &str, response: Response<Body>) -> Result<String> {
        match response.status().as_u16() {
            200 => {}
            401 | 403 => return Err(self.unauthorized(response)),
            status => return Err(self.status_error("token request", status, response)),
        }
        let body = read_limited(response, MAX_ERROR_BODY)
            .map_err(|reason| self.protocol("token request", reason))?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            self.protocol(
                "token request",
                format!("the answer is not token JSON: {e}"),
            )
        })?;
        self.state()
            .tokens
            .put(scope, &parsed)
            .ok_or_else(|| self.protocol("token request", "the answer holds no token".into()))
    }

    fn send(&self, method: Method, url: &str, headers: &[(&str, &str)]) -> Result<Response<Body>> {
        self.send_payload(method, url, headers, &Payload::Empty)
    }

    fn send_payload(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        payload: &Payload<'_>,
    ) -> Result<Response<Body>> {
        let mut request = Request::builder().method(method).uri(url);
        for (key, value) in headers {
            request = request.header(*key, *value);
        }
        let bad = |e: ureq::http::Error| self.protocol(url, e.to_string());
        let result = match payload {
            Payload::Empty => self.inner.agent.run(request.body(()).map_err(bad)?),
            Payload::Bytes(bytes) => self.inner.agent.run(request.body(*bytes).map_err(bad)?),
            Payload::File(path) => {
                let file = std::fs::File::open(path)
                    .map_err(|e| self.protocol(url, format!("{}: {e}", path.display())))?;
                self.inner.agent.run(request.body(file).map_err(bad)?)
            }
            Payload::Part { path, offset, len } => {
                use std::io::{Read, Seek};
                let shown =
                    |e: std::io::Error| self.protocol(url, format!("{}: {e}", path.display()));
                let mut file = std::fs::File::open(path).map_err(shown)?;
                file.seek(std::io::SeekFrom::Start(*offset))
                    .map_err(shown)?;
                let mut part = file.take(*len);
                let body = ureq::SendBody::from_reader(&mut part);
                self.inner.agent.run(request.body(body).map_err(bad)?)
            }
        };
        result.map_err(|e| self.transport(e))
    }

    fn transport(&self, error: ureq::Error) -> DistributionError {
        DistributionError::Unreachable {
            host: self.inner.dialled.clone(),
            reason: error.to_string(),
        }
    }

    pub(crate) fn protocol(&self, what: &str, reason: String) -> DistributionError {
        DistributionError::Protocol {
            registry: self.inner.name.clone(),
            what: what.to_string(),
            reason,
        }
    }

    fn unauthorized(&self, response: Response<Body>) -> DistributionError {
        DistributionError::Unauthorized {
            registry: self.inner.name.clone(),
            message: message_of(response).message,
        }
    }

    pub(crate) fn status_error(
        &self,
        what: &str,
        status: u16,
        response: Response<Body>,
    ) -> DistributionError {
        DistributionError::Status {
            registry: self.inner.name.clone(),
            what: what.to_string(),
            status,
            message: message_of(response).message,
        }
    }
}

/// The loopback and the hosts named insecure are spoken to over plain HTTP, as docker does.
/// Named (`host[:port]`, or a CIDR holding the host's address, as daemon.json's
/// `insecure-registries` may give), or on the loopback.
fn is_insecure(api_host: &str, insecure: &[String]) -> bool {
    let host = host_part(api_host);
    let address = host.parse::<IpAddr>().ok();
    let in_network = |entry: &str| {
        let network = entry.parse::<ipnet::IpNet>().ok();
        network
            .zip(address)
            .is_some_and(|(net, ip)| net.contains(&ip))
    };
    is_loopback(api_host)
        || insecure
            .iter()
            .any(|i| i == api_host || i == host || in_network(i))
}

fn is_loopback(api_host: &str) -> bool {
    let host = host_part(api_host);
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_part(api_host: &str) -> &str {
    if let Some(rest) = api_host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    api_host.split(':').next().unwrap_or(api_host)
}

fn has_port(api_host: &str) -> bool {
    api_host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        && !api_host.ends_with(']')
}

fn challenge_of(response: &Response<Body>) -> Option<Challenge> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(Challenge::parse)
        // Bearer when both are offered: it is what the token flow needs.
        .max_by_key(|c| matches!(c, Challenge::Bearer { .. }))
}

/// The first entry of the registry's `{"errors":[{"code","message"}]}`.
pub fn message_of(response: Response<Body>) -> RegistryMessage {
    let Ok(body) = read_limited(response, MAX_ERROR_BODY) else {
        return RegistryMessage::default();
    };
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let first = &parsed["errors"][0];
    RegistryMessage {
        code: first["code"].as_str().unwrap_or_default().to_string(),
        message: first["message"].as_str().unwrap_or_default().to_string(),
    }
}

/// The whole body, refused past `limit` bytes.
pub fn read_limited(response: Response<Body>, limit: u64) -> std::result::Result<Vec<u8>, String> {
    response
        .into_body()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => format!("the answer is larger than {limit} bytes"),
            e => e.to_string(),
        })
}

fn form_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_named_hosts_and_networks_are_insecure() {
        assert!(is_insecure("127.0.0.1:5000", &[]));
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("[::1]:5000", &[]));
        assert!(!is_insecure("registry-1.docker.io", &[]));
        assert!(is_insecure("reg.lan:5000", &["reg.lan:5000".into()]));
        assert!(is_insecure("reg.lan:5000", &["reg.lan".into()]));
        assert!(!is_insecure("reg.lan:5000", &["reg.lan:6000".into()]));
        assert!(is_insecure("10.1.2.3:5000", &["10.0.0.0/8".into()]));
        assert!(!is_insecure("11.1.2.3:5000", &["10.0.0.0/8".into()]));
        assert!(!is_insecure("reg.lan:5000", &["10.0.0.0/8".into()]));
        assert!(has_port("h:5000"));
        assert!(!has_port("h"));
        assert!(!has_port("[::1]"));
    }

    #[test]
    fn scopes_are_percent_encoded() {
        assert_eq!(
            form_query(&[("scope", "repository:a/b:pull,push")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
