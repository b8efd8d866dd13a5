//! sha256 digests and readers that compute them while data streams past.

use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::{ImageError, Result};

/// A validated `sha256:<64 lowercase hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    pub fn parse(text: &str) -> Result<Digest> {
        let bad = |reason| ImageError::BadDigest {
            digest: text.to_string(),
            reason,
        };
        let hex = text.strip_prefix("sha256:").ok_or_else(|| {
            if text.contains(':') {
                bad("only sha256 digests are supported")
            } else {
                bad("missing the sha256: prefix")
            }
        })?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("expected 64 lowercase hex digits"));
        }
        Ok(Digest(text.to_string()))
    }

    pub fn of_bytes(data: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(data))
    }

    fn from_hasher(hasher: Sha256) -> Digest {
        Digest(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    /// The 64 hex digits, as used in file names.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The first 12 hex digits: docker's short form of an ID.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Chain ID of a layer stacked on `parent` (OCI image spec): sha256 of "parent diffid".
    pub fn chain(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
        match parent {
            None => diff_id.clone(),
            Some(parent) => Digest::of_bytes(format!("{parent} {diff_id}").as_bytes()),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads what is left, so the digest covers the whole stream, then returns it.
    pub fn finish(mut self) -> io::Result<(Digest, u64, R)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest::from_hasher(self.hasher), self.count, self.inner))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The digest and size of what was written.
    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_hasher(self.hasher), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Fails the read once more than `limit` bytes went through: the defence against
/// decompression bombs.
pub struct LimitedReader<R> {
    inner: R,
    remaining: u64,
    limit: u64,
}

impl<R: Read> LimitedReader<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        LimitedReader {
            inner,
            remaining: limit,
            limit,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("uncompressed layer exceeds the limit of {limit} bytes")]
pub struct LimitExceeded {
    pub limit: u64,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.remaining {
            return Err(io::Error::other(LimitExceeded { limit: self.limit }));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_malformed_digests() {
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse("md5:00").is_err());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "a".repeat(64))).is_ok());
    }

    #[test]
    fn short_is_the_first_twelve_hex_digits() {
        let digest = Digest::of_bytes(b"x");
        assert_eq!(digest.short().len(), 12);
        assert!(digest.hex().starts_with(digest.short()));
        assert!(!digest.short().contains(':'));
    }

    #[test]
    fn hashing_reader_matches_one_shot_digest() {
        let data = b"hello layer".repeat(1000);
        let mut reader = HashingReader::new(&data[..]);
        let mut first = [0u8; 10];
        reader.read_exact(&mut first).unwrap();
        let (digest, count, _) = reader.finish().unwrap();
        assert_eq!(digest, Digest::of_bytes(&data));
        assert_eq!(count, data.len() as u64);
    }

    #[test]
    fn chain_id_follows_the_oci_definition() {
        let a = Digest::of_bytes(b"a");
        let b = Digest::of_bytes(b"b");
        assert_eq!(Digest::chain(None, &a), a);
        assert_eq!(
            Digest::chain(Some(&a), &b),
            Digest::of_bytes(format!("{a} {b}").as_bytes())
        );
    }

    #[test]
    fn limited_reader_stops_past_the_limit() {
        let data = [0u8; 100];
        let mut reader = LimitedReader::new(&data[..], 50);
        let err = io::copy(&mut reader, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("limit of 50"));
    }
}
