//! Docker's units as every berth binary takes them: sizes (`64m`, `1.5g`) and container IDs.

/// Docker's RAMInBytes: a number (decimals allowed) with an optional binary unit b, k, m, g,
/// t, p, any case, optionally followed by `b` or `ib`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 64m"))?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        other => return Err(format!("{text:?}: unknown size unit {other:?}")),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !(bytes.is_finite() && bytes >= 0.0 && bytes < i64::MAX as f64) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// 64 random lowercase hex digits, like Docker's container IDs (and anonymous volume names).
/// As Docker's, never one whose 12-digit short form (the container's hostname) is all
/// decimal digits: the C library takes such a hostname for a number, so
/// `gethostbyname(hostname)` (`hostname -i`) fails without reading /etc/hosts.
pub fn random_id() -> String {
    loop {
        let id = random_hex();
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("getrandom failed: {e}"),
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decimal units with three decimals (`1.234MB`, bytes as `512B`), as dockerd's progress
/// bar prints sizes.
pub fn decimal_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.3}{}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_never_all_digits() {
        // An all-digit short form comes once in ~280 ids; 20000 make one near certain.
        for _ in 0..20_000 {
            let id = random_id();
            assert_eq!(id.len(), 64);
            assert!(!id[..12].bytes().all(|b| b.is_ascii_digit()), "{id}");
        }
    }

    #[test]
    fn sizes_like_docker() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("64MB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("2KiB").unwrap(), 2048);
        assert!(parse_size("12x").is_err());
        assert!(parse_size("m").is_err());
    }

    #[test]
    fn ids_are_64_hex_digits_and_differ() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }
}
