//! A token server for the registry's Bearer flow: JWTs signed with `openssl` for a
//! self-signed certificate the registry trusts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::registry::{TokenConfig, PASSWORD, USER};
use crate::tiny_http::{base64, TinyServer};

pub const TOKEN_ISSUER: &str = "berth-test-issuer";
pub const TOKEN_SERVICE: &str = "berth-test-registry";
/// The OAuth refresh token the server takes for `USER` (`grant_type=refresh_token`,
/// POSTed as a form, as docker sends an identity token).
pub const IDENTITY_TOKEN: &str = "berth-test-refresh-token";

/// A token server for the registry's `auth: token` config: a self-signed RSA cert the
/// registry trusts, and JWTs (RS256, signed by `openssl dgst`) for `USER`/`PASSWORD`
/// only; anyone else gets a 401.
pub struct TokenServer {
    pub server: TinyServer,
    pub cert: PathBuf,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    pub fn start() -> TokenServer {
        let dir = tempfile::Builder::new()
            .prefix("berth-token-")
            .tempdir()
            .unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let der = dir.path().join("cert.der");
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=berth-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl req");
        let ok = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .arg("-out")
            .arg(&der)
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl x509");
        let x5c = base64(&std::fs::read(&der).unwrap(), false);
        let expected = format!(
            "Basic {}",
            base64(format!("{USER}:{PASSWORD}").as_bytes(), false)
        );
        let server = TinyServer::start_with_body(move |method, path, headers, body| {
            let form = format!("?{}", String::from_utf8_lossy(body));
            let refreshed = method == "POST"
                && query_value(&form, "grant_type").as_deref() == Some("refresh_token")
                && query_value(&form, "refresh_token").as_deref() == Some(IDENTITY_TOKEN);
            let authorized = headers
                .iter()
                .any(|(k, v)| k == "authorization" && *v == expected);
            if !authorized && !refreshed {
                return (401, vec![], br#"{"details":"wrong credentials"}"#.to_vec());
            }
            let asked = if refreshed { form.as_str() } else { path };
            let scope = query_value(asked, "scope").unwrap_or_default();
            let token = sign_token(&key, &x5c, &scope);
            // OAuth's answer names it access_token; the GET flow's, token.
            let key = if refreshed { "access_token" } else { "token" };
            let body = serde_json::json!({key: token, "expires_in": 300});
            (
                200,
                vec![("Content-Type".into(), "application/json".into())],
                body.to_string().into_bytes(),
            )
        });
        TokenServer {
            server,
            cert,
            _dir: dir,
        }
    }

    pub fn config(&self) -> TokenConfig {
        TokenConfig {
            realm: format!("http://{}/token", self.server.host()),
            cert: self.cert.clone(),
        }
    }
}

fn query_value(path: &str, key: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JWT granting what `scope` (`repository:NAME:ACTIONS`) asks for.
fn sign_token(key: &Path, x5c: &str, scope: &str) -> String {
    let mut parts = scope.splitn(3, ':');
    let (kind, name, actions) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER, "sub": USER, "aud": TOKEN_SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{name}"),
        "access": [{"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}],
    });
    let signing_input = format!(
        "{}.{}",
        base64(header.to_string().as_bytes(), true),
        base64(claims.to_string().as_bytes(), true)
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl dgst -sign");
    format!("{signing_input}.{}", base64(&out.stdout, true))
}
