//! `docker import URL` (`POST /images/create?fromSrc=URL`): the tarball fetched over HTTP
//! or HTTPS (webpki's roots; the proxy variables honoured, with NO_PROXY) into a file, for
//! the importer to read. Other schemes are refused: a URL must not read the daemon's files.

use std::time::Duration;

use crate::error::{DistributionError, Result};

/// Writes what `url` answers to `dest`; the bytes written.
pub fn download(url: &str, dest: &std::path::Path) -> Result<u64> {
    let bad = |reason: String| DistributionError::Fetch {
        url: url.to_string(),
        reason,
    };
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(bad("only http:// and https:// URLs can be imported".into()));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .max_redirects(8)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .proxy(ureq::Proxy::try_from_env())
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| bad(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(bad(format!("the server answered {status}")));
    }
    let mut file = std::fs::File::create(dest)
        .map_err(|e| bad(format!("cannot create {}: {e}", dest.display())))?;
    let mut body = response.into_body().into_reader();
    std::io::copy(&mut body, &mut file).map_err(|e| bad(format!("the download failed: {e}")))
}
