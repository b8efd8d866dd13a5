//! The `berth` client in tests: in-process on a [`Sandbox`]'s store (its root, run dir,
//! cgroup parent and network names), or against daemons by `-H`, with a docker config dir
//! of the test's own and none of the host's DOCKER_HOST/DOCKER_CONTEXT.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::container::Sandbox;

/// The built `berth` client.
pub fn berth_client_bin() -> PathBuf {
    crate::berth_bin("berth")
}

/// `berth` with the environment cleared of the host's docker settings; `config` is its
/// DOCKER_CONFIG.
pub fn berth_command(config: &std::path::Path) -> Command {
    let mut cmd = Command::new(berth_client_bin());
    cmd.env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "localhost,127.0.0.1")
        .stdin(Stdio::null());
    cmd
}

/// The docker config dir of a sandbox's clients.
pub fn client_config(sandbox: &Sandbox) -> PathBuf {
    let dir = sandbox.store.base().join("berth-config");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `berth --root … --run-dir … --cgroup-parent … ARGS`: in-process on the sandbox.
pub fn berth_local<I, S>(sandbox: &Sandbox, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = berth_command(&client_config(sandbox));
    cmd.arg("--root")
        .arg(sandbox.store.root())
        .arg("--run-dir")
        .arg(sandbox.store.run_dir())
        .arg("--cgroup-parent")
        .arg(&sandbox.cgroup_parent)
        .envs(sandbox.net.env())
        .args(args);
    cmd
}

/// Runs `cmd`; its output.
pub fn output(mut cmd: impl std::borrow::BorrowMut<Command>) -> Output {
    cmd.borrow_mut()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("spawn berth")
}

/// Runs `cmd`, which must succeed; its stdout.
pub fn ok(mut cmd: impl std::borrow::BorrowMut<Command>) -> String {
    let described = format!("{:?}", cmd.borrow_mut());
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{described} failed ({:?}): stdout {:?} stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
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

/// In `dir`: a CA (`ca.pem`), a server certificate for 127.0.0.1 (`server.pem`,
/// `server-key.pem`) and a client certificate (`cert.pem`, `key.pem`: docker's names in a
/// DOCKER_CERT_PATH), all signed by it.
pub fn make_pki(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ca",
    ]);
    openssl(dir, &ca);
    for (name, key, usage) in [
        (
            "server",
            "server-key",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        ("cert", "key", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), usage).unwrap();
        let (keyfile, csr, pem, ext) = (
            format!("{key}.pem"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &keyfile, "-out", &csr, "-subj", "/CN=berth-test"]);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

/// A TCP port on loopback that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
