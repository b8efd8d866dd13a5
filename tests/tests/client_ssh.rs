//! `berth -H ssh://…`: every connection an ssh process whose stdio is the stream, running a
//! dial-stdio on the far side. A stand-in for `ssh` (named by BERTH_SSH) runs the remote
//! command here: `berth system dial-stdio`, relaying to a berthd.

use std::os::unix::fs::PermissionsExt;

use berth_tests::client::{berth_client_bin, berth_command, client_config, ok, output};
use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;

/// A fake `ssh`: writes its options and host to `log`, then runs the remote command here.
fn fake_ssh(sandbox: &Sandbox) -> (std::path::PathBuf, std::path::PathBuf) {
    let script = sandbox.store.base().join("fake-ssh");
    let log = sandbox.store.base().join("fake-ssh.log");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nopts=\"\"\nwhile [ \"$1\" != \"--\" ]; do opts=\"$opts $1\"; shift; done\nshift\necho \"$opts -- $1\" >> {}\nshift\nexec \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

#[test]
fn ssh_hosts_through_dial_stdio() {
    let sandbox = Sandbox::with_probe();
    let (ssh, log) = fake_ssh(&sandbox);
    let berth = |remote: &str, args: &[&str]| {
        let mut cmd = berth_command(&client_config(&sandbox));
        cmd.env("BERTH_SSH", &ssh)
            .env("BERTH_SSH_REMOTE", remote)
            .envs(sandbox.net.env())
            .args(["-H", "ssh://me@box:2222"])
            .args(args);
        cmd
    };
    // A berthd on the far side: dial-stdio relays to its socket.
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "seen",
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
    let relay = format!(
        "{} -H unix://{} system dial-stdio",
        berth_client_bin().display(),
        daemon.socket.display()
    );
    assert_eq!(
        ok(berth(&relay, &["ps", "--format", "{{.Names}}"])).trim(),
        "seen"
    );
    assert_eq!(
        ok(berth(&relay, &["exec", "seen", "sh", "-c", "echo in"])),
        "in\n"
    );
    // A run over ssh: attach (hijacked through the ssh stdio), exit code, --rm.
    let out = output(berth(
        &relay,
        &[
            "run",
            "--rm",
            "probe:latest",
            "sh",
            "-c",
            "echo over-ssh; exit 5",
        ],
    ));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "over-ssh\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(5));
    let opts = std::fs::read_to_string(&log).unwrap();
    assert!(
        opts.lines().all(|l| l.trim() == "-l me -p 2222 -T -- box"),
        "{opts}"
    );
    // With no daemon to relay to, dial-stdio refuses.
    let mut alone = berth_command(&client_config(&sandbox));
    alone.args(["--root", "/nonexistent", "system", "dial-stdio"]);
    assert_eq!(output(alone).status.code(), Some(125));
    ok(berth(&relay, &["rm", "-f", "seen"]));
    drop(daemon);
    sandbox.assert_nothing_left();
}
