//! Docker's units: sizes (`64m`, `1.5g`), signal names, container ids.

use anyhow::{bail, Context, Result};

pub const SIGKILL: i32 = 9;

/// Docker's RAMInBytes: a number with an optional binary unit b, k, m, g, t, p (any case,
/// optionally followed by `b` or `ib`).
pub fn ram_in_bytes(text: &str) -> Result<i64> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let number: f64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a size like 64m"))?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(unit);
    let multiplier: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        other => bail!("{text:?}: unknown size unit {other:?}"),
    };
    let bytes = number * multiplier;
    if !(bytes.is_finite() && bytes >= 0.0 && bytes < i64::MAX as f64) {
        bail!("{text:?} is out of range");
    }
    Ok(bytes as i64)
}

pub fn signal_number(name: &str) -> Result<i32> {
    if let Ok(n) = name.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        bail!("signal {n} is out of range");
    }
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    Ok(match bare {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        "CONT" => 18,
        "STOP" => 19,
        other => bail!("unknown signal {other:?}"),
    })
}

/// 64 random lowercase hex digits, like Docker's container ids.
pub fn random_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(ram_in_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("64MB").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("1.5k").unwrap(), 1536);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert!(ram_in_bytes("12x").is_err());
        assert!(ram_in_bytes("m").is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(signal_number("KILL").unwrap(), 9);
        assert_eq!(signal_number("sigterm").unwrap(), 15);
        assert_eq!(signal_number("10").unwrap(), 10);
        assert!(signal_number("BOGUS").is_err());
        assert_eq!(random_id().unwrap().len(), 64);
    }
}
