//! berth-dmz's side of the start protocol, in plain `core` so that both the dmz
//! (`main.rs`, no_std) and berth-process (`src/exe_seal.rs`, which builds the dmz's argv and
//! unit-tests this file) compile it.
//!
//! berth execs the dmz as `ARGV0 FD PATH ARGV0_OF_COMMAND ARGS…`: FD is the start pipe
//! (`src/sync.rs`), PATH the program berth resolved along the container's PATH. When the
//! dmz's own execve of PATH fails it writes a `ChildFailure` as JSON to FD,
//! `{"code":126,"message":"exec: /etc/passwd: permission denied"}`, and exits with the code.

/// The dmz's argv[0] from berth. It holds a space, which the interpreter of a `#!` line can
/// never hold (the kernel ends it at the first blank), so the dmz can tell berth's exec from
/// a script naming it (`#!/proc/self/exe`) and refuse the latter.
pub const ARGV0: &[u8] = b"berth dmz";

// The generic Linux errno values (the same on x86_64 and aarch64).
const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const E2BIG: i32 = 7;
const ENOEXEC: i32 = 8;
const ENOMEM: i32 = 12;
const EACCES: i32 = 13;
const EFAULT: i32 = 14;
const ENOTDIR: i32 = 20;
const EISDIR: i32 = 21;
const EINVAL: i32 = 22;
const ETXTBSY: i32 = 26;
const ENAMETOOLONG: i32 = 36;
const ELOOP: i32 = 40;

/// The exit status for a failed execve, as docker gives it: 127 not found, 126 not
/// executable, 125 anything else (berth's own failure).
pub const fn exit_code(errno: i32) -> i32 {
    match errno {
        ENOENT | ENOTDIR => 127,
        EACCES | EPERM | ENOEXEC | EISDIR => 126,
        _ => 125,
    }
}

/// strerror for the errnos execve gives, in docker's (Go's) words.
pub const fn describe(errno: i32) -> Option<&'static str> {
    Some(match errno {
        EPERM => "operation not permitted",
        ENOENT => "no such file or directory",
        E2BIG => "argument list too long",
        ENOEXEC => "exec format error",
        ENOMEM => "cannot allocate memory",
        EACCES => "permission denied",
        EFAULT => "bad address",
        ENOTDIR => "not a directory",
        EISDIR => "is a directory",
        EINVAL => "invalid argument",
        ETXTBSY => "text file busy",
        ENAMETOOLONG => "file name too long",
        ELOOP => "too many levels of symbolic links",
        _ => return None,
    })
}

/// Writes `{"code":C,"message":"exec: PATH: WHAT"}` for execve(PATH) failing with `errno`
/// through `out`, in pieces. PATH is escaped for JSON; bytes that are not UTF-8 become
/// U+FFFD, so the text always parses.
pub fn failure_json(path: &[u8], errno: i32, out: &mut impl FnMut(&[u8])) {
    let mut digits = [0u8; 12];
    out(b"{\"code\":");
    out(decimal(exit_code(errno), &mut digits));
    out(b",\"message\":\"exec: ");
    for chunk in path.utf8_chunks() {
        let valid = chunk.valid().as_bytes();
        let mut start = 0;
        for (i, &b) in valid.iter().enumerate() {
            if b == b'"' || b == b'\\' || b < 0x20 {
                out(&valid[start..i]);
                let hex = b"0123456789abcdef";
                match b {
                    b'"' => out(b"\\\""),
                    b'\\' => out(b"\\\\"),
                    _ => out(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        hex[(b >> 4) as usize],
                        hex[(b & 15) as usize],
                    ]),
                }
                start = i + 1;
            }
        }
        out(&valid[start..]);
        if !chunk.invalid().is_empty() {
            out("\u{fffd}".as_bytes());
        }
    }
    out(b": ");
    match describe(errno) {
        Some(text) => out(text.as_bytes()),
        None => {
            out(b"errno ");
            out(decimal(errno, &mut digits));
        }
    }
    out(b"\"}");
}

/// `n` in decimal, in `buf`.
pub fn decimal(n: i32, buf: &mut [u8; 12]) -> &[u8] {
    let mut i = buf.len();
    let mut rest = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// The fd number berth passes (decimal, at most 9 digits), or None.
pub fn parse_fd(text: &[u8]) -> Option<i32> {
    if text.is_empty() || text.len() > 9 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0i32, |n, &d| n * 10 + i32::from(d - b'0')))
}
