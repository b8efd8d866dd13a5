//! Running `nft`: a typed batch through libnftables' JSON API (`nft -j -f -`), the one
//! text statement nft 1.0.x cannot take as JSON, and listings as JSON. Every failure is an
//! [`NftError`] naming berth's table.

use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};

use nftables::helper::{self, NftablesError};
use nftables::schema::Nftables;

/// A failure of nft on berth's table.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("the nft program (nftables) is not installed: berth needs it for NAT and published ports (apt-get install nftables)")]
    NotInstalled,
    #[error("nftables table ip {table}: cannot run nft to {op}: {source}")]
    Exec {
        table: String,
        op: &'static str,
        source: std::io::Error,
    },
    /// nft ran and refused; its message is for the reader, never matched by berth.
    #[error("nftables table ip {table}: {op} failed: {message}")]
    Failed {
        table: String,
        op: &'static str,
        message: String,
    },
    #[error("nftables table ip {table}: nft's JSON for {op} does not parse: {source}")]
    Listing {
        table: String,
        op: &'static str,
        source: serde_json::Error,
    },
}

impl NftError {
    pub fn kind(&self) -> berth_common::ErrorKind {
        use berth_common::ErrorKind as K;
        match self {
            NftError::NotInstalled => K::InvalidInput,
            NftError::Exec { source, .. } => K::of_io(source),
            NftError::Failed { .. } | NftError::Listing { .. } => K::Internal,
        }
    }
}

/// Applies `batch` as one atomic transaction.
pub fn apply(table: &str, op: &'static str, batch: &Nftables) -> Result<(), NftError> {
    // Serialising the crate's own types cannot fail: no maps with non-string keys.
    let json = serde_json::to_string(batch).expect("nftables schema serialises");
    tracing::debug!(table, op, json, "nft -j -f -");
    feed(table, op, &["-j", "-f", "-"], &json)
}

/// Applies nft text, for the one construct the host's nft cannot take as JSON.
pub fn apply_text(table: &str, op: &'static str, script: &str) -> Result<(), NftError> {
    tracing::debug!(table, op, script, "nft -f -");
    feed(table, op, &["-f", "-"], script)
}

/// `nft -j ARGS`, the JSON text it prints.
pub fn list(table: &str, op: &'static str, args: &[&str]) -> Result<String, NftError> {
    helper::get_current_ruleset_raw(helper::DEFAULT_NFT, args)
        .map_err(|e| from_helper(table, op, e))
}

/// `nft -j ARGS`, parsed into the crate's schema.
pub fn list_typed(
    table: &str,
    op: &'static str,
    args: &[&str],
) -> Result<Nftables<'static>, NftError> {
    let text = list(table, op, args)?;
    serde_json::from_str(&text).map_err(|source| NftError::Listing {
        table: table.to_string(),
        op,
        source,
    })
}

/// Runs nft with `input` on stdin. The crate's own `apply_ruleset` leaves nft's stderr on
/// ours, where berth could neither classify nor attach it to the error: this keeps it.
fn feed(table: &str, op: &'static str, args: &[&str], input: &str) -> Result<(), NftError> {
    let exec_err = |source: std::io::Error| exec_error(table, op, source);
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(exec_err)?;
    let written = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes());
    // Wait even when the write failed, so no nft is left behind; its stderr says more.
    let out = child.wait_with_output().map_err(exec_err)?;
    if out.status.success() {
        return written.map_err(exec_err);
    }
    let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(NftError::Failed {
        table: table.to_string(),
        op,
        message,
    })
}

fn exec_error(table: &str, op: &'static str, source: std::io::Error) -> NftError {
    if source.kind() == ErrorKind::NotFound {
        return NftError::NotInstalled;
    }
    NftError::Exec {
        table: table.to_string(),
        op,
        source,
    }
}

fn from_helper(table: &str, op: &'static str, e: NftablesError) -> NftError {
    match e {
        NftablesError::NftExecution { inner, .. } => exec_error(table, op, inner),
        NftablesError::NftFailed { stderr, .. } => NftError::Failed {
            table: table.to_string(),
            op,
            message: stderr.trim().to_string(),
        },
        NftablesError::NftOutputEncoding { inner, .. } => NftError::Exec {
            table: table.to_string(),
            op,
            source: std::io::Error::new(ErrorKind::InvalidData, inner),
        },
        NftablesError::NftInvalidJson(source) => NftError::Listing {
            table: table.to_string(),
            op,
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_nft_is_reported_as_not_installed() {
        let e = exec_error("t", "add", std::io::Error::from(ErrorKind::NotFound));
        assert!(matches!(e, NftError::NotInstalled));
        let e = exec_error(
            "t",
            "add",
            std::io::Error::from(ErrorKind::PermissionDenied),
        );
        assert!(e.to_string().contains("table ip t"), "{e}");
    }
}
