//! A real registry for the distribution tests: Debian's `docker-registry` on a free
//! loopback port with its storage in the test's temp dir (optionally behind htpasswd or
//! token auth), images seeded into it with `skopeo copy` from OCI layouts the test builds,
//! and a tiny in-test token server for the Bearer flow. Every process started here is
//! stopped by its PID when its guard drops.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::formats::{write_images, Format};
use crate::{hex_part, BuiltImage};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "s3cret-pass";

/// How the registry authenticates.
pub enum Auth {
    None,
    /// htpasswd (bcrypt) with `USER`/`PASSWORD`.
    Htpasswd,
    /// Bearer tokens from a [`TokenServer`].
    Token(TokenConfig),
}

pub struct TokenConfig {
    pub realm: String,
    pub cert: PathBuf,
}

pub const TOKEN_ISSUER: &str = "berth-test-issuer";
pub const TOKEN_SERVICE: &str = "berth-test-registry";

pub struct Registry {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

/// A port nobody listens on right now (the registry binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Registry {
    pub fn start(auth: Auth) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let auth_yaml = match auth {
            Auth::None => String::new(),
            Auth::Htpasswd => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", USER, PASSWORD])
                    .output()
                    .expect("htpasswd (apache2-utils) is installed");
                assert!(out.status.success(), "htpasswd failed");
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, &out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    file.display()
                )
            }
            Auth::Token(token) => format!(
                "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                token.realm,
                token.cert.display()
            ),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_yaml}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let mut registry = Registry {
            dir,
            port,
            child: None,
        };
        registry.restart();
        registry
    }

    /// Starts the registry process (again, after [`Registry::stop`]) on the same port
    /// and storage.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "registry already running");
        let log = std::fs::File::create(self.dir.path().join("registry.log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "localhost,127.0.0.1")
            .spawn()
            .expect("docker-registry is installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the registry (by its PID) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Where the registry keeps the blob `digest` on disk.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = hex_part(digest);
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Pushes `image` as `repo:tag` with skopeo (from an OCI layout written for it).
    pub fn seed(&self, image: &BuiltImage, repo_tag: &str, creds: Option<(&str, &str)>) {
        let layout = self
            .dir
            .path()
            .join(format!("layout-{}", repo_tag.replace(['/', ':'], "_")));
        write_images(Format::OciDir, std::slice::from_ref(image), &layout);
        skopeo_copy(&layout, &format!("{}/{repo_tag}", self.host()), creds);
    }

    /// Uploads `image` byte for byte (monolithic blob uploads, then the manifest), with no
    /// auth: unlike skopeo, which compresses uncompressed layers on the way.
    pub fn upload(&self, image: &BuiltImage, repo: &str, tag: &str) {
        let mut blobs: Vec<(&str, &[u8])> = image
            .layers
            .iter()
            .map(|l| (l.digest.as_str(), l.blob.as_slice()))
            .collect();
        blobs.push((&image.config_digest, &image.config));
        for (digest, bytes) in blobs {
            let (status, _, headers) = http_exchange(
                &self.host(),
                "POST",
                &format!("/v2/{repo}/blobs/uploads/"),
                &[],
                b"",
            );
            assert_eq!(status, 202, "start upload: {}", self.log());
            let location = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.clone())
                .expect("a Location for the upload");
            let path = location
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('/'))
                .map_or(location.clone(), |(_, p)| format!("/{p}"));
            let separator = if path.contains('?') { '&' } else { '?' };
            let (status, _, _) = http_exchange(
                &self.host(),
                "PUT",
                &format!("{path}{separator}digest={digest}"),
                &[("Content-Type".into(), "application/octet-stream".into())],
                bytes,
            );
            assert_eq!(status, 201, "upload {digest}: {}", self.log());
        }
        let status = self.put_manifest(
            repo,
            tag,
            crate::formats::OCI_MANIFEST,
            &image.manifest,
            None,
        );
        assert_eq!(status, 201, "PUT manifest: {}", self.log());
    }

    /// PUTs a manifest (a manifest list, say) under `repo:reference`, with `Basic` auth
    /// when given; returns the HTTP status.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
        creds: Option<(&str, &str)>,
    ) -> u16 {
        let mut headers = vec![("Content-Type".to_string(), media_type.to_string())];
        if let Some((user, pass)) = creds {
            headers.push((
                "Authorization".into(),
                format!(
                    "Basic {}",
                    base64(format!("{user}:{pass}").as_bytes(), false)
                ),
            ));
        }
        http_request(
            &self.host(),
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &headers,
            body,
        )
        .0
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `skopeo copy oci:LAYOUT docker://DEST`, plain HTTP, no signature policy.
pub fn skopeo_copy(layout: &Path, dest: &str, creds: Option<(&str, &str)>) {
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "--insecure-policy",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
    ]);
    if let Some((user, pass)) = creds {
        cmd.arg("--dest-creds").arg(format!("{user}:{pass}"));
    }
    let out = cmd
        .arg(format!("oci:{}", layout.display()))
        .arg(format!("docker://{dest}"))
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "localhost,127.0.0.1")
        .output()
        .expect("skopeo is installed");
    assert!(
        out.status.success(),
        "skopeo copy to {dest}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A DOCKER_CONFIG directory whose config.json holds `auths` for `host`.
pub fn docker_config(dir: &Path, host: &str, user: &str, pass: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let auth = base64(format!("{user}:{pass}").as_bytes(), false);
    let config = serde_json::json!({ "auths": { host: { "auth": auth } } });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir.to_path_buf()
}

/// Base64 (standard or URL-safe without padding, as JWTs want).
pub fn base64(data: &[u8], url: bool) -> String {
    let table: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if !url {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
pub fn http_request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let (status, body, _) = http_exchange(host, method, path, headers, body);
    (status, body)
}

/// [`http_request`] that also returns the response headers.
pub fn http_exchange(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<u8>, Vec<(String, String)>) {
    let mut stream = TcpStream::connect(host).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, body.as_bytes().to_vec(), headers)
}

/// A tiny HTTP server on a loopback port: each request's (method, path, headers) goes
/// to `answer`, which returns (status, extra headers, body). Stops when dropped.
pub struct TinyServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);
/// What a [`TinyServer`] answers (method, path, lowercased headers) with.
pub type Handler = dyn Fn(&str, &str, &[(String, String)]) -> Answer;

impl TinyServer {
    pub fn start(
        answer: impl Fn(&str, &str, &[(String, String)]) -> Answer + Send + 'static,
    ) -> TinyServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => serve_one(stream, &answer),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TinyServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TinyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_one(stream: TcpStream, answer: &Handler) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    // Keep-alive: serve requests on this connection until the client closes it.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, extra, body) = answer(&method, &path, &headers);
        let has = |name: &str| extra.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        // An answer that sets its own Content-Length (longer than its body) and
        // `Connection: close` plays a server that dies mid-response.
        let mut head = format!("HTTP/1.1 {status} X\r\n");
        if !has("content-length") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (k, v) in &extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = &stream;
        if out.write_all(head.as_bytes()).is_err()
            || out.write_all(&body).is_err()
            || has("connection")
        {
            return;
        }
    }
}

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
        let server = TinyServer::start(move |_method, path, headers| {
            let authorized = headers
                .iter()
                .any(|(k, v)| k == "authorization" && *v == expected);
            if !authorized {
                return (401, vec![], br#"{"details":"wrong credentials"}"#.to_vec());
            }
            let scope = query_value(path, "scope").unwrap_or_default();
            let token = sign_token(&key, &x5c, &scope);
            let body = serde_json::json!({"token": token, "expires_in": 300});
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
