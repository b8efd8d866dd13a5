//! Registry authentication: the `WWW-Authenticate` challenge of a 401 (Basic, or Bearer
//! with realm/service), tokens fetched from the realm per scope and cached until they
//! expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// What a registry asked for in its 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Challenge {
    /// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => {
                let params = parse_params(params);
                Some(Challenge::Bearer {
                    realm: params.get("realm")?.clone(),
                    service: params.get("service").cloned(),
                })
            }
            _ => None,
        }
    }
}

/// `k="v",k2=v2`: values may be quoted and hold commas inside the quotes.
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            },
            None => after.split_once(',').unwrap_or((after, "")),
        };
        out.insert(key, value.to_string());
        rest = next.trim_start_matches(',').trim();
    }
    out
}

/// A user name and password (or a token docker stored as the password).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// The token endpoint's answer (`token` in Docker's spec, `access_token` in OAuth2's).
#[derive(Debug, serde::Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// Docker's spec: a token without `expires_in` lasts 60 seconds.
const DEFAULT_TOKEN_LIFE: Duration = Duration::from_secs(60);
/// Renewed a little early, so a request does not race the expiry.
const EARLY: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: HashMap<String, (String, Instant)>,
}

impl TokenCache {
    pub fn get(&self, scope: &str) -> Option<&str> {
        self.tokens
            .get(scope)
            .filter(|(_, until)| Instant::now() + EARLY < *until)
            .map(|(token, _)| token.as_str())
    }

    pub fn put(&mut self, scope: &str, response: &TokenResponse) -> Option<String> {
        let token = response
            .token
            .clone()
            .or_else(|| response.access_token.clone())
            .filter(|t| !t.is_empty())?;
        let life = response
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFE, Duration::from_secs)
            .max(EARLY * 2);
        self.tokens
            .insert(scope.to_string(), (token.clone(), Instant::now() + life));
        Some(token)
    }

    pub fn forget(&mut self, scope: &str) {
        self.tokens.remove(scope);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn tokens_expire() {
        let mut cache = TokenCache::default();
        let fresh = TokenResponse {
            token: Some("t".into()),
            access_token: None,
            expires_in: Some(300),
        };
        assert_eq!(cache.put("s", &fresh).as_deref(), Some("t"));
        assert_eq!(cache.get("s"), Some("t"));
        assert_eq!(cache.get("other"), None);
        cache
            .tokens
            .insert("old".into(), ("x".into(), Instant::now()));
        assert_eq!(cache.get("old"), None);
        let empty = TokenResponse {
            token: Some(String::new()),
            access_token: None,
            expires_in: None,
        };
        assert_eq!(cache.put("e", &empty), None);
    }
}
