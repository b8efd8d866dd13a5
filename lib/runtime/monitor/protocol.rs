//! The attach protocol between a detached container's monitor (`berth-monitor`, the server)
//! and its clients (`berth-run attach`, later the daemon), over the monitor's Unix socket
//! `<run-dir>/containers/<id>/attach.sock` (mode 0600, root only). Shared by both sides:
//! `main.rs` declares it as a module, berth-runtime includes this file by path. std only.
//!
//! Both directions carry frames: one byte for the kind, four for the payload's length (big
//! endian), then the payload.
//!
//! | kind | byte | direction | payload |
//! |---|---|---|---|
//! | stdin | 0 | client → monitor | bytes for the container's stdin (or its terminal) |
//! | stdout | 1 | monitor → client | the container's output (its terminal's, with `-t`) |
//! | stderr | 2 | monitor → client | the container's stderr (never with `-t`) |
//! | resize | 3 | client → monitor | rows, columns: two big-endian u16 |
//! | exit | 4 | monitor → client | the exit status: a big-endian i32, then the monitor closes |
//! | hello | 5 | monitor → client | first frame: the version (1), then flags (1: `-t`, 2: stdin open) |
//! | stdin end | 6 | client → monitor | none: the client's input ended; without `-t`, the monitor closes the container's stdin once what came before is written (docker's StdinOnce) |
//!
//! A client's frames carry at most [`MAX_CLIENT_PAYLOAD`] bytes (the monitor drops a client
//! that sends more); unknown kinds are ignored by both sides.

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const RESIZE: u8 = 3;
pub const EXIT: u8 = 4;
pub const HELLO: u8 = 5;
pub const STDIN_END: u8 = 6;

pub const VERSION: u8 = 1;
/// Hello flag: the container has a terminal (`-t`): raw mode, window size, one stream.
pub const HELLO_TTY: u8 = 1;
/// Hello flag: the container's stdin is open (`-i`): stdin frames reach it.
pub const HELLO_STDIN: u8 = 2;

pub const HEADER: usize = 5;
pub const MAX_CLIENT_PAYLOAD: usize = 4096;

/// The header of a frame of `kind` with `len` bytes of payload.
pub fn header(kind: u8, len: usize) -> [u8; HEADER] {
    let len = (len as u32).to_be_bytes();
    [kind, len[0], len[1], len[2], len[3]]
}

/// The first whole frame at the start of `buf`: its kind and payload, and how many bytes it
/// takes; None while it is incomplete.
pub fn split(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    if buf.len() < HEADER {
        return None;
    }
    let len = payload_len(buf);
    let end = HEADER.checked_add(len)?;
    (buf.len() >= end).then(|| (buf[0], &buf[HEADER..end], end))
}

/// The payload length a header announces (`buf` holds at least a header).
pub fn payload_len(buf: &[u8]) -> usize {
    u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize
}
