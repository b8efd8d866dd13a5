//! `GET /containers/{id}/attach/ws` as docker's API documents it, driven by a websocket
//! client (tungstenite) over berthd's unix socket: input sent as messages reaches the
//! container's stdin, its stdout and stderr come back unframed, the socket closes when the
//! container exits, `logs=1` replays what it wrote, and a request that is not a websocket
//! handshake or names no container is refused.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use tungstenite::{Message, WebSocket};

fn connect(daemon: &Daemon, path: &str) -> Result<WebSocket<UnixStream>, String> {
    let stream = UnixStream::connect(&daemon.socket).unwrap();
    let url = format!("ws://localhost/v1.43{path}");
    tungstenite::client::client(url.as_str(), stream)
        .map(|(socket, _)| socket)
        .map_err(|e| match e {
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(answer)) => {
                let body = answer.body().clone().unwrap_or_default();
                format!("{} {}", answer.status(), String::from_utf8_lossy(&body))
            }
            other => other.to_string(),
        })
}

/// Every binary message until the server closes the socket, joined.
fn read_to_close(socket: &mut WebSocket<UnixStream>) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        match socket.read() {
            Ok(Message::Binary(data)) => got.extend_from_slice(&data),
            Ok(Message::Text(text)) => panic!("a text message: {text:?}"),
            Ok(Message::Close(_)) | Err(_) => return got,
            Ok(_) => {}
        }
    }
}

#[test]
fn attach_over_a_websocket_carries_stdin_and_unframed_output() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "create",
        "-i",
        "--name",
        "wsbox",
        "--network",
        "none",
        "probe:latest",
        "sh",
        "-c",
        "read line; echo \"got $line\"; echo oops >&2",
    ]);
    let mut socket = connect(
        &daemon,
        "/containers/wsbox/attach/ws?stream=1&stdin=1&stdout=1&stderr=1",
    )
    .unwrap();
    daemon.docker_ok(["start", "wsbox"]);
    socket.send(Message::binary(b"hello\n".to_vec())).unwrap();
    let got = String::from_utf8(read_to_close(&mut socket)).unwrap();
    // Raw bytes, no 8-byte stream headers: stdout's line and stderr's, in either order.
    assert_eq!(got.len(), "got hello\noops\n".len(), "{got:?}");
    assert!(
        got.contains("got hello\n") && got.contains("oops\n"),
        "{got:?}"
    );
    let code = daemon.docker_ok(["wait", "wsbox"]);
    assert_eq!(code.trim(), "0");

    // logs=1 without stream: what it wrote, then the close.
    let mut socket = connect(&daemon, "/containers/wsbox/attach/ws?logs=1&stdout=1").unwrap();
    assert_eq!(read_to_close(&mut socket), b"got hello\n");

    // Not a websocket handshake: docker's 400, naming what is missing.
    let mut raw = UnixStream::connect(&daemon.socket).unwrap();
    raw.write_all(b"GET /containers/wsbox/attach/ws?stream=1 HTTP/1.0\r\nHost: berth\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 400"), "{answer}");
    assert!(answer.contains("websocket"), "{answer}");
    // No such container: 404 before any upgrade.
    let refused = connect(&daemon, "/containers/nosuch/attach/ws?stream=1").unwrap_err();
    assert!(refused.starts_with("404"), "{refused}");
    assert!(refused.contains("No such container: nosuch"), "{refused}");
    daemon.docker_ok(["rm", "wsbox"]);
    sandbox.assert_nothing_left();
}
