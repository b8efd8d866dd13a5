//! TLS to a daemon (`--tls`, `--tlsverify`, `--tlscacert/--tlscert/--tlskey`,
//! `DOCKER_CERT_PATH`): rustls, as berthd serves it. With `--tlsverify` the daemon's
//! certificate is checked against the CA; with `--tls` alone the connection is encrypted
//! but the certificate is not checked (docker's InsecureSkipVerify: the handshake's
//! signatures still are, so the peer holds the key of the certificate it shows). The
//! client's certificate is sent when one is given.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::error::{ClientError, Result};

/// The files of a TLS connection; `None` where neither a flag nor the cert dir has one.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// Check the daemon's certificate against `ca` (`--tlsverify`).
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// Fills what the flags left out from `dir` (`DOCKER_CERT_PATH`, else ~/.docker), by
    /// docker's names `ca.pem`, `cert.pem`, `key.pem`, where those files exist.
    pub fn with_defaults_from(mut self, dir: &Path) -> TlsFiles {
        let pick = |slot: &mut Option<PathBuf>, name: &str| {
            let path = dir.join(name);
            if slot.is_none() && path.is_file() {
                *slot = Some(path);
            }
        };
        pick(&mut self.ca, "ca.pem");
        pick(&mut self.cert, "cert.pem");
        pick(&mut self.key, "key.pem");
        self
    }
}

fn tls_error(path: &Path, message: impl std::fmt::Display) -> ClientError {
    ClientError::Tls {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// The rustls configuration for `files`; verifying needs a CA.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(crypto_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(Path::new("TLS"), e))?;
    let builder = if files.verify {
        builder.with_root_certificates(roots(files)?)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
    };
    let config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| tls_error(cert, e))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| tls_error(cert, e))?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key, e))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| tls_error(cert, e))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn roots(files: &TlsFiles) -> Result<RootCertStore> {
    let Some(ca) = &files.ca else {
        return Err(ClientError::Tls {
            path: "ca.pem".into(),
            message: "no CA certificate: give --tlscacert or put ca.pem in DOCKER_CERT_PATH".into(),
        });
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| tls_error(ca, e))? {
        let cert = cert.map_err(|e| tls_error(ca, e))?;
        roots.add(cert).map_err(|e| tls_error(ca, e))?;
    }
    Ok(roots)
}

/// `--tls` without `--tlsverify`: any certificate is taken, but the handshake must be
/// signed by its key.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// ring, as berthd's TLS (lib/api's tls.rs says why not aws-lc); rustls deprecates it for
/// lacking post-quantum key exchange, which a client of a daemon's socket can forgo.
#[allow(deprecated)]
fn crypto_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}
