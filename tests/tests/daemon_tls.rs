//! berthd on TCP with TLS: the docker CLI with a client certificate from the daemon's CA
//! gets in; without one, or with one from another CA, it does not.

use std::path::Path;
use std::process::{Command, Stdio};

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("spawn openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a certificate it signed for `name` (`usage`: serverAuth or clientAuth).
fn make_ca(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{ca}-key.pem"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
        ],
    );
}

fn sign(dir: &Path, ca: &str, name: &str, usage: &str) {
    let ext = format!("{name}.ext");
    let san = if usage == "serverAuth" {
        "subjectAltName=IP:127.0.0.1\n"
    } else {
        ""
    };
    std::fs::write(dir.join(&ext), format!("{san}extendedKeyUsage={usage}\n")).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tlsverify_admits_only_clients_of_its_ca() {
    let sandbox = Sandbox::new();
    let pki = sandbox.store.base().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    make_ca(&pki, "ca");
    sign(&pki, "ca", "server", "serverAuth");
    sign(&pki, "ca", "client", "clientAuth");
    make_ca(&pki, "rogue");
    sign(&pki, "rogue", "intruder", "clientAuth");

    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let p = |f: &str| pki.join(f).display().to_string();
    let daemon = Daemon::start_with(
        &sandbox,
        &[
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &p("ca.pem"),
            "--tlscert",
            &p("server.pem"),
            "--tlskey",
            &p("server-key.pem"),
        ],
    );

    let docker = |cert: Option<&str>| {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_CONFIG", sandbox.store.base().join("docker-config"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .arg("--tlsverify")
            .arg("--tlscacert")
            .arg(p("ca.pem"));
        if let Some(name) = cert {
            cmd.arg("--tlscert")
                .arg(p(&format!("{name}.pem")))
                .arg("--tlskey")
                .arg(p(&format!("{name}-key.pem")));
        }
        cmd.arg("-H")
            .arg(&tcp)
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .stdin(Stdio::null())
            .output()
            .expect("spawn docker")
    };

    let admitted = docker(Some("client"));
    assert!(
        admitted.status.success(),
        "{}\nberthd log:\n{}",
        String::from_utf8_lossy(&admitted.stderr),
        daemon.log_text()
    );
    assert_eq!(String::from_utf8_lossy(&admitted.stdout).trim(), "1.43");

    let rogue = docker(Some("intruder"));
    assert!(
        !rogue.status.success(),
        "a certificate of another CA got in"
    );
    let anonymous = docker(None);
    assert!(
        !anonymous.status.success(),
        "a client without certificate got in"
    );

    // The Unix socket serves beside the TLS listener, and berthd is still well.
    daemon.docker_ok(["version"]);
}

#[test]
fn tls_settings_that_cannot_work_are_refused_at_start() {
    let sandbox = Sandbox::new();
    let socket = sandbox.store.base().join("d.sock");
    let run = |extra: &[&str]| {
        let out = Daemon::command(&sandbox, &socket, extra)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run(&["--tlsverify"]).contains("--tlscert"));
    let missing = sandbox
        .store
        .base()
        .join("missing.pem")
        .display()
        .to_string();
    let err = run(&[
        "-H",
        "tcp://127.0.0.1:1",
        "--tls",
        "--tlscert",
        &missing,
        "--tlskey",
        &missing,
    ]);
    assert!(err.contains("missing.pem"), "{err}");
    assert!(!socket.exists());
}
