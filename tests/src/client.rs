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
