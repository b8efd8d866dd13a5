//! The local terminal of an `-it` run or exec: raw mode for as long as the stream lasts
//! (restored when the guard drops, on every way out), its size, and the detach keys
//! (ctrl-p ctrl-q unless `--detach-keys`), recognised in what the user types.

use std::io::IsTerminal;

use rustix::termios::{self, OptionalActions, Termios};

/// Raw mode on stdin while held.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts the terminal on stdin in raw mode; `None` when stdin is no terminal.
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// The size of the terminal on stdout (else stdin): (height, width).
pub fn size() -> Option<(u16, u16)> {
    let of = |ws: termios::Winsize| (ws.ws_row, ws.ws_col);
    termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| termios::tcgetwinsize(std::io::stdin()))
        .ok()
        .filter(|ws| ws.ws_row > 0 && ws.ws_col > 0)
        .map(of)
}

/// docker's `--detach-keys`: `ctrl-<letter>`, `ctrl-@`, `ctrl-[`… or single characters,
/// comma-separated.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut keys = Vec::new();
    for part in spec.split(',') {
        let part = part.trim();
        if let Some(c) = part.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b] if b.is_ascii_alphabetic() => b.to_ascii_lowercase() - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(format!("Invalid escape keys ({spec}) provided")),
            };
            keys.push(b);
        } else if part.len() == 1 {
            keys.push(part.as_bytes()[0]);
        } else {
            return Err(format!("Invalid escape keys ({spec}) provided"));
        }
    }
    Ok(keys)
}

/// Watches the input for the detach sequence: bytes of a partial match are held back
/// and sent on if the sequence breaks off.
pub struct DetachWatch {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachWatch {
    pub fn new(keys: Vec<u8>) -> DetachWatch {
        DetachWatch { keys, matched: 0 }
    }

    /// What of `input` to send, and whether the sequence was typed.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if !self.keys.is_empty() && b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            out.push(b);
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_are_docker_s() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-pp").is_err());
        let mut watch = DetachWatch::new(vec![16, 17]);
        assert_eq!(watch.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(watch.feed(b"x"), (b"\x10x".to_vec(), false));
        assert_eq!(watch.feed(b"\x10\x11rest"), (Vec::new(), true));
    }
}
