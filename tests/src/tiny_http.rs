//! A bare HTTP/1.1 client and server for the distribution tests: the client uploads to
//! the registry byte for byte, the server plays registries that misbehave (cut-off
//! answers, hostile manifests) and the token server's endpoint. Loopback only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Base64 (standard or URL-safe without padding, as JWTs want).
pub fn base64(data: &[u8], url: bool) -> String {
    let table: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if !url {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
pub fn http_request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let (status, body, _) = http_exchange(host, method, path, headers, body);
    (status, body)
}

/// [`http_request`] that also returns the response headers.
pub fn http_exchange(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<u8>, Vec<(String, String)>) {
    let mut stream = TcpStream::connect(host).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (status, body.as_bytes().to_vec(), headers)
}

/// A tiny HTTP server on a loopback port: each request's (method, path, headers) goes
/// to `answer`, which returns (status, extra headers, body). Stops when dropped.
pub struct TinyServer {
    pub port: u16,
    /// Answers whose body the client stopped reading (the write failed).
    pub broken_writes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);
/// What a [`TinyServer`] answers (method, path, lowercased headers) with.
pub type Handler = dyn Fn(&str, &str, &[(String, String)]) -> Answer;

/// A [`Handler`] that also sees the request's body.
pub type BodyHandler = dyn Fn(&str, &str, &[(String, String)], &[u8]) -> Answer;

impl TinyServer {
    pub fn start(
        answer: impl Fn(&str, &str, &[(String, String)]) -> Answer + Send + 'static,
    ) -> TinyServer {
        Self::start_with_body(move |method, path, headers, _body| answer(method, path, headers))
    }

    /// [`TinyServer::start`] with a handler that reads the request body (which must come
    /// with a Content-Length).
    pub fn start_with_body(
        answer: impl Fn(&str, &str, &[(String, String)], &[u8]) -> Answer + Send + 'static,
    ) -> TinyServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let broken_writes = Arc::new(AtomicUsize::new(0));
        let (flag, broken) = (stop.clone(), broken_writes.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => serve_one(stream, &answer, &broken),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TinyServer {
            port,
            broken_writes,
            stop,
            thread: Some(thread),
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TinyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An answer header (not sent) that has the body written this many bytes at a time, 50 ms
/// apart: a slow registry.
pub const TRICKLE: &str = "x-test-trickle";

fn serve_one(stream: TcpStream, answer: &BodyHandler, broken: &AtomicUsize) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    // A TLS ClientHello (a client trying HTTPS first, as with an insecure registry): a
    // plain HTTP server's answer is to hang up.
    if reader
        .fill_buf()
        .is_ok_and(|head| head.first() == Some(&0x16))
    {
        return;
    }
    // Keep-alive: serve requests on this connection until the client closes it.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, mut extra, body) = answer(&method, &path, &headers, &body);
        let trickle = extra
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(TRICKLE))
            .map(|i| extra.remove(i).1.parse::<usize>().expect("a trickle size"));
        let has = |name: &str| extra.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        // An answer that sets its own Content-Length (longer than its body) and
        // `Connection: close` plays a server that dies mid-response.
        let mut head = format!("HTTP/1.1 {status} X\r\n");
        if !has("content-length") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (k, v) in &extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = &stream;
        let sent = out.write_all(head.as_bytes()).is_ok()
            && match trickle {
                None => out.write_all(&body).is_ok(),
                Some(piece) => body.chunks(piece).all(|chunk| {
                    std::thread::sleep(Duration::from_millis(50));
                    out.write_all(chunk).and_then(|()| out.flush()).is_ok()
                }),
            };
        if !sent {
            broken.fetch_add(1, Ordering::SeqCst);
        }
        if !sent || has("connection") {
            return;
        }
    }
}
