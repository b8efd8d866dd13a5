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

    // --tls alone encrypts without checking the daemon: no CA at all, or a CA that did not
    // sign the daemon's certificate, still connects, where --tlsverify with that CA fails.
    let other = sandbox.store.base().join("other-pki");
    make_pki(&other);
    let empty = sandbox.store.base().join("no-certs");
    std::fs::create_dir_all(&empty).unwrap();
    let unverified = |ca: Option<&str>, verify: bool| {
        let mut flags = vec![if verify { "--tlsverify" } else { "--tls" }];
        if let Some(ca) = ca {
            flags.extend(["--tlscacert", ca]);
        }
        let (cert, key) = (p("cert.pem"), p("key.pem"));
        flags.extend(["--tlscert", &cert, "--tlskey", &key]);
        let mut cmd = version(&tls, &flags);
        cmd.env("DOCKER_CERT_PATH", &empty);
        output(cmd)
    };
    let wrong_ca = other.join("ca.pem").display().to_string();
    for ca in [None, Some(wrong_ca.as_str())] {
        let out = unverified(ca, false);
        assert!(
            out.status.success(),
            "--tls with CA {ca:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.43");
    }
    let out = unverified(Some(&wrong_ca), true);
    assert_eq!(
        out.status.code(),
        Some(1),
        "--tlsverify trusted a CA that signed nothing"
    );
    let out = unverified(None, true);
    assert!(!out.status.success(), "--tlsverify without a CA connected");
    drop(daemon);
}
