//! docker's detach keys (`--detach-keys`, default ctrl-p ctrl-q): parsing, and spotting the
//! sequence in a client's input.

use crate::attach::{AttachError, DEFAULT_DETACH_KEYS};

/// docker's `--detach-keys`: comma-separated keys, each a character or `ctrl-X` (X one of
/// `a`-`z`, `@`, `[`, `\`, `]`, `^`, `_`).
pub fn parse_detach_keys(keys: &str) -> Result<Vec<u8>, AttachError> {
    let bad = |reason: String| AttachError::DetachKeys {
        keys: keys.to_string(),
        reason,
    };
    if keys.is_empty() {
        return parse_detach_keys(DEFAULT_DETACH_KEYS);
    }
    let mut codes = Vec::new();
    for key in keys.split(',') {
        if key.len() == 1 && key.is_ascii() {
            codes.push(key.as_bytes()[0]);
            continue;
        }
        let lower = key.to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix("ctrl-") else {
            return Err(bad(format!("unknown key {key:?}")));
        };
        let code = match rest.as_bytes() {
            [c @ b'a'..=b'z'] => c - b'a' + 1,
            [b'@'] => 0,
            [b'['] => 27,
            [b'\\'] => 28,
            [b']'] => 29,
            [b'^'] => 30,
            [b'_'] => 31,
            _ => return Err(bad(format!("unknown control key {key:?}"))),
        };
        codes.push(code);
    }
    Ok(codes)
}

/// Watches the input for the detach sequence: the bytes of a partial match are held back
/// until the sequence completes (detach) or breaks (they are passed on).
pub struct DetachKeys {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachKeys {
    pub fn new(keys: Vec<u8>) -> DetachKeys {
        DetachKeys { keys, matched: 0 }
    }

    /// Appends to `out` what goes to the container; true when the sequence is complete
    /// (what follows it is dropped).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &byte in input {
            if self.keys.is_empty() {
                out.push(byte);
                continue;
            }
            if byte != self.keys[self.matched] && self.matched > 0 {
                self.flush(out);
            }
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return true;
                }
            } else {
                out.push(byte);
            }
        }
        false
    }

    /// Passes on a partial match (at the end of the input).
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.keys[..self.matched]);
        self.matched = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_in_docker_format() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,d").unwrap(), vec![1, b'd']);
        assert_eq!(parse_detach_keys("CTRL-[,ctrl-@").unwrap(), vec![27, 0]);
        assert_eq!(parse_detach_keys("").unwrap(), vec![16, 17]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("alt-x").is_err());
        assert!(parse_detach_keys("ctrl-p,,q").is_err());
    }

    #[test]
    fn detach_sequence_is_held_back_and_broken_ones_are_passed_on() {
        let mut keys = DetachKeys::new(vec![16, 17]);
        let mut out = Vec::new();
        assert!(!keys.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab", "a partial match waits");
        assert!(!keys.feed(b"c", &mut out));
        assert_eq!(out, b"ab\x10c", "a broken one is passed on");
        out.clear();
        assert!(!keys.feed(b"\x10\x10", &mut out));
        assert_eq!(out, b"\x10", "the second ctrl-p may start the sequence");
        assert!(keys.feed(b"\x11rest", &mut out));
        assert_eq!(out, b"\x10");
        out.clear();
        let mut single = DetachKeys::new(vec![b'd']);
        assert!(single.feed(b"xd", &mut out));
        assert_eq!(out, b"x");
    }
}
