//! A real registry for the distribution tests: Debian's `docker-registry` on a free
//! loopback port with its storage in the test's temp dir (optionally behind htpasswd or
//! token auth), images seeded into it with `skopeo copy` from OCI layouts the test builds,
//! and (`token_server`) a token server for the Bearer flow. Every process started here is
//! stopped by its PID when its guard drops.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

pub use crate::tiny_http::{base64, http_exchange, http_request, Answer, Handler, TinyServer};
pub use crate::token_server::{TokenServer, IDENTITY_TOKEN, TOKEN_ISSUER, TOKEN_SERVICE};

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
        Registry::start_with(auth, None)
    }

    /// [`Registry::start`] serving HTTPS with `tls` (certificate and key files).
    pub fn start_with(auth: Auth, tls: Option<(&Path, &Path)>) -> Registry {
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
        let tls_yaml = tls.map_or(String::new(), |(cert, key)| {
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            )
        });
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls_yaml}{auth_yaml}",
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
