//! `berth` against berthds: two at once (`-H A -H B`: merged tables with a HOST column,
//! `HOST/NAME`, one down → exit 1 naming it while the other's rows print), version
//! negotiation, TLS-less TCP refused hosts, and contexts in docker's store that the
//! docker CLI reads too.

use std::process::Command;

use berth_tests::client::{berth_command, client_config, ok, output};
use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::wait_for;

fn host(daemon: &Daemon) -> String {
    format!("unix://{}", daemon.socket.display())
}

fn berth(sandbox: &Sandbox, hosts: &[&str], args: &[&str]) -> Command {
    let mut cmd = berth_command(&client_config(sandbox));
    for h in hosts {
        cmd.arg("-H").arg(h);
    }
    cmd.args(args);
    cmd
}

#[test]
fn two_daemons_in_one_table_and_one_of_them_down() {
    let (sa, sb) = (Sandbox::with_probe(), Sandbox::with_probe());
    let a = Daemon::start(&sa);
    let mut b = Daemon::start(&sb);
    let (ha, hb) = (host(&a), host(&b));
    let sleeper = ["sh", "-c", "echo up; while true; do sleep 0.1; done"];
    let run = |h: &str, name: &str| {
        let mut args = vec!["run", "-d", "--name", name, "probe:latest"];
        args.extend(sleeper);
        ok(berth(&sa, &[h], &args))
    };
    let id_a = run(&ha, "on-a");
    run(&hb, "on-b");

    let ps = ok(berth(&sa, &[&ha, &hb], &["ps"]));
    let lines: Vec<&str> = ps.lines().collect();
    assert_eq!(lines.len(), 3, "{ps}");
    assert!(
        lines[0].starts_with("HOST ")
            && lines[0].contains("CONTAINER ID")
            && lines[0].ends_with("NAMES"),
        "{ps}"
    );
    assert!(
        lines[1].starts_with(&ha) && lines[1].ends_with("on-a"),
        "{ps}"
    );
    assert!(
        lines[2].starts_with(&hb) && lines[2].ends_with("on-b"),
        "{ps}"
    );
    assert!(lines[1].contains(&id_a[..12]), "{ps}");
    let names = ok(berth(
        &sa,
        &[&ha, &hb],
        &["ps", "--format", "{{.Host}} {{.Names}}"],
    ));
    assert_eq!(names, format!("{ha} on-a\n{hb} on-b\n"));
    let images = ok(berth(
        &sa,
        &[&ha, &hb],
        &["images", "--format", "{{.Host}} {{.Repository}}"],
    ));
    assert_eq!(images, format!("{ha} probe\n{hb} probe\n"));

    // HOST/NAME picks the daemon; a name only one daemon has needs no host.
    wait_for("the logs", || {
        ok(berth(&sa, &[&ha, &hb], &["logs", &format!("{hb}/on-b")])) == "up\n"
    });
    assert_eq!(ok(berth(&sa, &[&ha, &hb], &["logs", "on-a"])), "up\n");
    let out = output(berth(&sa, &[&ha, &hb], &["logs", &format!("{ha}/on-b")]));
    assert_eq!(out.status.code(), Some(1));

    // The docker CLI sees through berthd what berth made, and berth what docker made.
    a.docker_ok([
        "run",
        "-d",
        "--name",
        "by-docker",
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
    let mut by_berth: Vec<String> = ok(berth(&sa, &[&ha], &["ps", "--format", "{{.Names}}"]))
        .lines()
        .map(String::from)
        .collect();
    let mut by_docker: Vec<String> = a
        .docker_ok(["ps", "--format", "{{.Names}}"])
        .lines()
        .map(String::from)
        .collect();
    by_berth.sort();
    by_docker.sort();
    assert_eq!(by_berth, ["by-docker", "on-a"]);
    assert_eq!(by_berth, by_docker);

    ok(berth(&sa, &[&hb], &["rm", "-f", "on-b"]));
    b.stop();
    let out = output(berth(&sa, &[&ha, &hb], &["ps", "--format", "{{.Names}}"]));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout} {stderr}");
    assert!(
        stdout.contains("on-a") && stdout.contains("by-docker"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&hb) && stderr.contains("Cannot connect"),
        "{stderr}"
    );
    assert!(!stderr.contains(&ha), "{stderr}");

    // Version negotiation: berthd offers 1.43, berth speaks 1.43.
    let v = ok(berth(
        &sa,
        &[&ha],
        &[
            "version",
            "--format",
            "{{.Client.ApiVersion}} {{.Server.ApiVersion}}",
        ],
    ));
    assert_eq!(v.trim(), "1.43 1.43");
    let out = output(berth(&sa, &[&ha], &["ps", "--format", "{{.ID"]));
    assert_eq!(out.status.code(), Some(125));
    ok(berth(&sa, &[&ha], &["rm", "-f", "on-a", "by-docker"]));
    drop(a);
    sa.assert_nothing_left();
    sb.assert_nothing_left();
}

#[test]
fn contexts_are_dockers() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let config = client_config(&sandbox);
    let h = host(&daemon);
    ok(berth(
        &sandbox,
        &[],
        &[
            "context",
            "create",
            "mine",
            "--description",
            "the test's",
            "--docker",
            &format!("host={h}"),
        ],
    ));
    ok(berth(&sandbox, &[], &["context", "use", "mine"]));
    // The docker CLI reads the same store and current context.
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", &config)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{:?}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ls = docker(&["context", "ls", "--format", "{{.Name}} {{.DockerEndpoint}}"]);
    assert!(
        ls.lines()
            .any(|l| l == format!("mine {h}") || l == format!("mine * {h}")),
        "{ls}"
    );
    assert_eq!(docker(&["context", "show"]).trim(), "mine");
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "ctx",
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
    // No -H: the current context's daemon, not in-process.
    assert_eq!(
        ok(berth(&sandbox, &[], &["ps", "--format", "{{.Names}}"])).trim(),
        "ctx"
    );
    // A context docker made is berth's too.
    docker(&[
        "context",
        "create",
        "theirs",
        "--docker",
        &format!("host={h}"),
    ]);
    let ls = ok(berth(
        &sandbox,
        &[],
        &["context", "ls", "--format", "{{.Name}}"],
    ));
    assert_eq!(ls, "default\nmine\ntheirs\n");
    let table = ok(berth(&sandbox, &[], &["context", "ls"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("mine *") && l.contains("the test's")),
        "{table}"
    );
    assert_eq!(
        ok(berth(&sandbox, &[], &["--context", "theirs", "ps", "-q"]))
            .trim()
            .len(),
        12
    );
    ok(berth(&sandbox, &[], &["context", "use", "default"]));
    ok(berth(&sandbox, &[], &["context", "rm", "mine", "theirs"]));
    assert_eq!(
        ok(berth(&sandbox, &[], &["context", "ls", "-q"])),
        "default\n"
    );
    daemon.docker_ok(["rm", "-f", "ctx"]);
    drop(daemon);
    sandbox.assert_nothing_left();
}
