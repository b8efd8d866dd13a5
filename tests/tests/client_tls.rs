//! `berth` over TCP: plain on loopback, and TLS with `--tlsverify` and client
//! certificates, by flags or by DOCKER_CERT_PATH/DOCKER_TLS_VERIFY/DOCKER_HOST as docker
//! takes them.

use berth_tests::client::{berth_command, client_config, free_port, make_pki, ok, output};
use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;

#[test]
fn tcp_plain_and_tls_with_client_certificates() {
    let sandbox = Sandbox::new();
    let config = client_config(&sandbox);
    let plain = format!("tcp://127.0.0.1:{}", free_port());
    let daemon = Daemon::start_with(&sandbox, &["-H", &plain]);
    let version = |host: &str, extra: &[&str]| {
        let mut cmd = berth_command(&config);
        cmd.args(extra)
            .args(["-H", host, "version", "--format", "{{.Server.ApiVersion}}"]);
        cmd
    };
    assert_eq!(ok(version(&plain, &[])).trim(), "1.43");
    drop(daemon);

    let pki = sandbox.store.base().join("pki");
    make_pki(&pki);
    let p = |f: &str| pki.join(f).display().to_string();
    let tls = format!("tcp://127.0.0.1:{}", free_port());
    let daemon = Daemon::start_with(
        &sandbox,
        &[
            "-H",
            &tls,
            "--tlsverify",
            "--tlscacert",
            &p("ca.pem"),
            "--tlscert",
            &p("server.pem"),
            "--tlskey",
            &p("server-key.pem"),
        ],
    );
    let flags = [
        "--tlsverify",
        "--tlscacert",
        &p("ca.pem"),
        "--tlscert",
        &p("cert.pem"),
        "--tlskey",
        &p("key.pem"),
    ];
    assert_eq!(ok(version(&tls, &flags)).trim(), "1.43");
    // docker's environment: the cert dir's ca.pem, cert.pem, key.pem.
    let mut cmd = berth_command(&config);
    cmd.env("DOCKER_HOST", &tls)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &pki)
        .args(["ps", "-q"]);
    ok(cmd);
    // Without a client certificate the daemon refuses; without TLS too.
    let out = output(version(&tls, &["--tlsverify", "--tlscacert", &p("ca.pem")]));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = output(version(&tls, &[]));
    assert_eq!(out.status.code(), Some(1));
    drop(daemon);
}
