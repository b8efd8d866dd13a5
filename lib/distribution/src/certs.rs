//! `/etc/docker/certs.d/HOST[:PORT]/` as docker reads it (`BERTH_CERTS_D` moves it, for
//! tests): `*.crt` are CAs added to the system's (`rustls-native-certs`: the OS bundle, or
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`) for the registry's certificate to chain to, `NAME.cert`
//! with `NAME.key` a client certificate. A registry with such a directory is spoken to over
//! HTTPS even on the loopback.

use std::path::{Path, PathBuf};

use ureq::tls::{parse_pem, Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use crate::error::{DistributionError, Result};

pub const DEFAULT_CERTS_D: &str = "/etc/docker/certs.d";

/// The registry's directory, when there is one.
pub fn dir_for(api_host: &str) -> Option<PathBuf> {
    let base = std::env::var_os("BERTH_CERTS_D")
        .map_or_else(|| PathBuf::from(DEFAULT_CERTS_D), PathBuf::from);
    // A host name cannot climb out of the directory.
    if api_host.contains('/') || api_host.starts_with('.') {
        return None;
    }
    let dir = base.join(api_host);
    dir.is_dir().then_some(dir)
}

/// The TLS settings of the directory: its CAs with the system's, its client certificate.
pub fn tls_config(registry: &str, dir: &Path) -> Result<TlsConfig> {
    let bad = |path: &Path, reason: String| DistributionError::Credentials {
        registry: registry.to_string(),
        reason: format!("{}: {reason}", path.display()),
    };
    let mut roots = Vec::new();
    let mut client = None;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| bad(dir, e.to_string()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in &entries {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => roots.extend(certificates(path).map_err(|e| bad(path, e))?),
            Some("cert") => {
                let key = path.with_extension("key");
                let chain = certificates(path).map_err(|e| bad(path, e))?;
                let pem = std::fs::read(&key)
                    .map_err(|e| bad(&key, format!("the client certificate's key: {e}")))?;
                let key_pem = PrivateKey::from_pem(&pem).map_err(|e| bad(&key, e.to_string()))?;
                client = Some(ClientCert::new_with_certs(&chain, key_pem));
            }
            _ => {}
        }
    }
    let mut builder = TlsConfig::builder().client_cert(client);
    if !roots.is_empty() {
        roots.extend(system_roots());
        builder = builder.root_certs(RootCerts::new_with_certs(&roots));
    }
    Ok(builder.build())
}

/// The system's CAs, as docker adds certs.d's to them; none when the host has no bundle.
fn system_roots() -> Vec<Certificate<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::debug!(%error, "a system CA certificate could not be read");
    }
    found
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect()
}

fn certificates(path: &Path) -> std::result::Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for item in parse_pem(&pem) {
        if let PemItem::Certificate(cert) = item.map_err(|e| e.to_string())? {
            out.push(cert);
        }
    }
    if out.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(out)
}
