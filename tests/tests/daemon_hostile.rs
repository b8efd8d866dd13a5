//! berthd under hostile requests, raw HTTP: malformed and mistyped JSON, bodies past the
//! limit and bodies that never finish, names and ids that climb out of the store, unknown
//! ids. Each answer is a clean 4xx with a message, berthd keeps serving, and the store is
//! as it was.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;

/// Every path under `dir` (symlinks not followed), relative.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            out.insert(path.strip_prefix(dir).unwrap().display().to_string());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    out
}

/// What the test compares before and after: the store's tree and what is beside it.
fn snapshot(sandbox: &Sandbox) -> (BTreeSet<String>, BTreeSet<String>) {
    let root = sandbox.store.root();
    let beside = root.parent().expect("the root's parent");
    let siblings = std::fs::read_dir(beside)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    (tree(&root), siblings)
}

fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// The JSON message of an error answer.
fn message(answer: &str) -> String {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer:?}"));
    value["message"].as_str().unwrap_or_default().to_string()
}

fn assert_alive(daemon: &Daemon) {
    let ping = daemon.http("GET", "/_ping", "");
    assert!(ping.ends_with("OK"), "{ping}\nlog:\n{}", daemon.log_text());
}

/// `method path body` answers `want` with a message containing `says`; berthd still
/// answers afterwards and the store is unchanged.
fn expect(
    daemon: &Daemon,
    sandbox: &Sandbox,
    method: &str,
    path: &str,
    body: &str,
    want: &[u16],
    says: &str,
) {
    let before = snapshot(sandbox);
    let answer = daemon.http(method, path, body);
    assert!(
        want.contains(&status(&answer)),
        "{method} {path} {body:?}: want {want:?}, got {answer}"
    );
    let text = message(&answer);
    assert!(!text.is_empty(), "{method} {path}: no message in {answer}");
    assert!(
        text.contains(says),
        "{method} {path}: message {text:?} lacks {says:?}"
    );
    assert_alive(daemon);
    assert_eq!(
        snapshot(sandbox),
        before,
        "{method} {path} changed the store"
    );
}

#[test]
fn malformed_and_mistyped_bodies_are_400_with_the_parsers_word() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let create = "/v1.43/containers/create";
    for (body, says) in [
        ("{not json", "key must be a string"),
        ("", "EOF"),
        // serde takes a struct from a sequence: no fields, no image.
        ("[]", "config cannot be empty"),
        (r#"{"Image":5}"#, "invalid type: integer"),
        (r#"{"Image":"probe:latest","Env":"A=1"}"#, "invalid type"),
        (
            r#"{"Image":"probe:latest","HostConfig":{"Memory":"lots"}}"#,
            "invalid type",
        ),
        (r#"{"Image":"probe:latest","Tty":"yes"}"#, "invalid type"),
        (r#"{"Image":"probe:latest","Cmd":[1,2]}"#, "invalid type"),
        (r#"{"Image":"probe:latest"}trailing"#, "trailing"),
    ] {
        expect(&daemon, &sandbox, "POST", create, body, &[400], says);
    }
    // Exec create parses before it looks the container up.
    for (body, says) in [
        ("{", "EOF"),
        (r#"{"Cmd":"ls"}"#, "invalid type"),
        (r#"{"Cmd":["ls"],"Tty":3}"#, "invalid type"),
    ] {
        expect(
            &daemon,
            &sandbox,
            "POST",
            "/v1.43/containers/nosuch/exec",
            body,
            &[400],
            says,
        );
    }
    expect(
        &daemon,
        &sandbox,
        "POST",
        "/v1.43/containers/nosuch/exec",
        r#"{"Cmd":["ls"]}"#,
        &[404],
        "No such container: nosuch",
    );
    // A known field with an unknown neighbour is fine: the unknown one is ignored.
    let ok = daemon.http(
        "POST",
        "/v1.43/containers/create?name=extra",
        r#"{"Image":"probe:latest","Cmd":["true"],"FutureField":{"x":[1]}}"#,
    );
    assert_eq!(status(&ok), 201, "{ok}");
    daemon.docker_ok(["rm", "extra"]);
    sandbox.assert_nothing_left();
}

#[test]
fn names_and_ids_that_climb_out_of_the_store_are_refused() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let body = r#"{"Image":"probe:latest","Cmd":["true"]}"#;
    for name in [
        "../x",
        "..",
        "a/b",
        "..%2F..%2Fescape",
        "%2e%2e",
        "x%00y",
        "-x",
    ] {
        expect(
            &daemon,
            &sandbox,
            "POST",
            &format!("/v1.43/containers/create?name={name}"),
            body,
            &[400],
            "Invalid container name",
        );
    }
    for path in [
        "/v1.43/containers/..%2F..%2Fetc/json",
        "/v1.43/containers/..%2F..%2F/json",
        "/v1.43/containers/%2e%2e/json",
    ] {
        expect(
            &daemon,
            &sandbox,
            "GET",
            path,
            "",
            &[404],
            "No such container",
        );
    }
    for (method, path) in [
        ("POST", "/v1.43/containers/..%2F..%2Fetc/start"),
        ("POST", "/v1.43/containers/..%2Fimages/stop"),
        ("POST", "/v1.43/containers/..%2F/kill"),
        ("DELETE", "/v1.43/containers/..%2F..%2Fetc?force=1"),
        ("GET", "/v1.43/containers/..%2F..%2Fetc/logs?stdout=1"),
    ] {
        expect(
            &daemon,
            &sandbox,
            method,
            path,
            "",
            &[404],
            "No such container",
        );
    }
    // Not a route at all once the dots are segments.
    expect(
        &daemon,
        &sandbox,
        "GET",
        "/v1.43/containers/../../etc/json",
        "",
        &[404],
        "",
    );

    for path in [
        "/v1.43/images/..%2F..%2Fetc%2Fpasswd/json",
        "/v1.43/images/../../etc/passwd/json",
        "/v1.43/images/probe%2F..%2F..%2Fx/json",
    ] {
        expect(&daemon, &sandbox, "GET", path, "", &[400, 404], "");
    }
    expect(
        &daemon,
        &sandbox,
        "DELETE",
        "/v1.43/images/..%2F..%2Fetc",
        "",
        &[400, 404],
        "",
    );
    for query in [
        "repo=../x&tag=y",
        "repo=a/../b&tag=y",
        "repo=a&tag=../x",
        "repo=a&tag=x/../y",
        "repo=%2e%2e&tag=y",
        "repo=/abs&tag=y",
    ] {
        expect(
            &daemon,
            &sandbox,
            "POST",
            &format!("/v1.43/images/probe:latest/tag?{query}"),
            "",
            &[400],
            "",
        );
    }
    sandbox.assert_nothing_left();
}

#[test]
fn unknown_ids_get_dockers_404s() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    for (method, path) in [
        ("GET", "/v1.43/containers/nosuch/json"),
        ("POST", "/v1.43/containers/nosuch/start"),
        ("POST", "/v1.43/containers/nosuch/stop"),
        ("POST", "/v1.43/containers/nosuch/kill"),
        ("POST", "/v1.43/containers/nosuch/restart"),
        ("POST", "/v1.43/containers/nosuch/wait"),
        ("DELETE", "/v1.43/containers/nosuch"),
        ("GET", "/v1.43/containers/nosuch/logs?stdout=1"),
        ("GET", "/v1.43/containers/nosuch/top"),
        ("POST", "/v1.43/containers/nosuch/resize?h=1&w=1"),
    ] {
        expect(
            &daemon,
            &sandbox,
            method,
            path,
            "",
            &[404],
            "No such container: nosuch",
        );
    }
    for (method, path) in [
        ("GET", "/v1.43/exec/nosuch/json"),
        ("POST", "/v1.43/exec/nosuch/resize?h=1&w=1"),
    ] {
        expect(
            &daemon,
            &sandbox,
            method,
            path,
            "",
            &[404],
            "No such exec instance: nosuch",
        );
    }
    expect(
        &daemon,
        &sandbox,
        "POST",
        "/v1.43/exec/nosuch/start",
        r#"{"Detach":true}"#,
        &[404],
        "No such exec instance: nosuch",
    );
    for (method, path) in [
        ("GET", "/v1.43/images/nosuch:1/json"),
        ("GET", "/v1.43/images/nosuch:1/history"),
        ("DELETE", "/v1.43/images/nosuch:1"),
        ("POST", "/v1.43/images/nosuch:1/tag?repo=a&tag=b"),
    ] {
        expect(
            &daemon,
            &sandbox,
            method,
            path,
            "",
            &[404],
            "No such image: nosuch:1",
        );
    }
}

/// One request written by hand on a fresh connection; the answer's status.
fn raw_status(daemon: &Daemon, head: &str, body: impl FnOnce(&mut UnixStream)) -> u16 {
    status(&raw_answer(daemon, head, body))
}

/// The whole answer to `head` and what `body` writes.
fn raw_answer(daemon: &Daemon, head: &str, body: impl FnOnce(&mut UnixStream)) -> String {
    let mut stream = UnixStream::connect(&daemon.socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    body(&mut stream);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // A server that answers early and closes may reset the connection: what came first
    // counts.
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn bodies_past_the_limit_are_refused_and_slow_ones_block_nobody() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    // One create and rm first: the store's containers dir stays, as any first create leaves
    // it.
    let created = daemon.http(
        "POST",
        "/v1.43/containers/create?name=first",
        r#"{"Image":"probe:latest","Cmd":["true"]}"#,
    );
    assert_eq!(status(&created), 201, "{created}");
    daemon.docker_ok(["rm", "first"]);
    let before = snapshot(&sandbox);
    // 64 MiB announced and sent: a JSON string of that size in the create body.
    let huge = 64usize << 20;
    let head = format!(
        "POST /v1.43/containers/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n\
         Content-Length: {huge}\r\nConnection: close\r\n\r\n"
    );
    let answer = raw_answer(&daemon, &head, |stream| {
        let chunk = vec![b' '; 1 << 20];
        let _ = stream.write_all(br#"{"Image":"probe:latest","Env":[""#);
        for _ in 0..64 {
            if stream.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    assert_eq!(status(&answer), 413, "log:\n{}", daemon.log_text());
    // docker's error shape, as for every other error.
    assert!(
        answer.contains(r#"{"message":"request body too large"#),
        "{answer}"
    );
    // Chunked, with no length to refuse up front.
    let head = "POST /v1.43/containers/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let code = raw_status(&daemon, head, |stream| {
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..64 {
            let mut piece = format!("{:x}\r\n", chunk.len()).into_bytes();
            piece.extend_from_slice(&chunk);
            piece.extend_from_slice(b"\r\n");
            if stream.write_all(&piece).is_err() {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n");
    });
    assert_eq!(code, 413);
    // Exec create is held to the same limit.
    let head = format!(
        "POST /v1.43/containers/nosuch/exec HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n\
         Content-Length: {huge}\r\nConnection: close\r\n\r\n"
    );
    let code = raw_status(&daemon, &head, |stream| {
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..64 {
            if stream.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    assert_eq!(code, 413);
    assert_alive(&daemon);

    // Clients that send half a body and wait: others are served meanwhile.
    let slow: Vec<UnixStream> = (0..8)
        .map(|_| {
            let mut stream = UnixStream::connect(&daemon.socket).unwrap();
            stream
                .write_all(
                    b"POST /v1.43/containers/create HTTP/1.1\r\nHost: berth\r\n\
                      Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Ima",
                )
                .unwrap();
            stream
        })
        .collect();
    // Headers that never end, too.
    let mut endless = UnixStream::connect(&daemon.socket).unwrap();
    endless
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nX-A: ")
        .unwrap();
    assert_alive(&daemon);
    let created = daemon.http(
        "POST",
        "/v1.43/containers/create?name=meanwhile",
        r#"{"Image":"probe:latest","Cmd":["true"]}"#,
    );
    assert_eq!(status(&created), 201, "{created}");
    daemon.docker_ok(["rm", "meanwhile"]);
    drop(slow);
    drop(endless);
    assert_alive(&daemon);
    assert_eq!(snapshot(&sandbox), before);
    sandbox.assert_nothing_left();
}
