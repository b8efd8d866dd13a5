//! `berth run`/`create`'s rarer docker flags against a berthd: each reaches the create body
//! where the docker CLI puts it (seen in inspect) and, where it is cheap to see, takes
//! effect inside the container.

use std::process::Command;

use berth_tests::client::{berth_command, client_config, ok, output};
use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use serde_json::Value;

fn berth(sandbox: &Sandbox, daemon: &Daemon, args: &[&str]) -> Command {
    let mut cmd = berth_command(&client_config(sandbox));
    cmd.arg("-H")
        .arg(format!("unix://{}", daemon.socket.display()))
        .args(args);
    cmd
}

fn inspect(sandbox: &Sandbox, daemon: &Daemon, name: &str) -> Value {
    let text = ok(berth(sandbox, daemon, &["inspect", name]));
    let list: Value = serde_json::from_str(&text).unwrap();
    list[0].clone()
}

#[test]
fn run_flags_reach_the_container() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let bound = sandbox.store.base().join("bound");
    std::fs::create_dir_all(&bound).unwrap();
    std::fs::write(bound.join("f"), "from the host\n").unwrap();
    let labels = sandbox.store.base().join("labels");
    std::fs::write(&labels, "# a comment\nfrom.file=1\n\noverridden=file\n").unwrap();
    let bind = format!("type=bind,source={},target=/b,readonly", bound.display());
    let script = "grep -c '10.9.9.9.*db' /etc/hosts; \
        grep -c 'search example.test' /etc/resolv.conf; grep -c 'ndots:2' /etc/resolv.conf; \
        ulimit -n; ulimit -Hn; cat /proc/1/comm; \
        grep ' /t tmpfs' /proc/mounts | grep -o 'size=[0-9a-z]*'; \
        grep ' /dev/shm ' /proc/mounts | grep -o 'size=[0-9a-z]*'; \
        cat /b/f; touch /b/x 2>/dev/null && echo writable || echo read-only; \
        echo kept > /v/file; grep NoNewPrivs /proc/self/status | tr -d '\\t '; true";
    let out = ok(berth(
        &sandbox,
        &daemon,
        &[
            "run",
            "--name",
            "flagged",
            "--add-host",
            "db:10.9.9.9",
            "--dns",
            "10.1.1.1",
            "--dns-search",
            "example.test",
            "--dns-option",
            "ndots:2",
            "--ulimit",
            "nofile=1024:2048",
            "--init",
            "--mount",
            "type=tmpfs,target=/t,tmpfs-size=1m",
            "--mount",
            &bind,
            "--mount",
            "type=volume,source=flagvol,target=/v",
            "--shm-size",
            "8m",
            "--security-opt",
            "no-new-privileges",
            "--pids-limit",
            "64",
            "--cpuset-cpus",
            "0",
            "--cpu-shares",
            "512",
            "--memory-reservation",
            "32m",
            "--stop-timeout",
            "3",
            "--label-file",
            labels.to_str().unwrap(),
            "-l",
            "overridden=flag",
            "--expose",
            "8080",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            "probe:latest",
            "sh",
            "-c",
            script,
        ],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "1",
            "1",
            "1",
            "1024",
            "2048",
            lines[5],
            "size=1024k",
            "size=8192k",
            "from the host",
            "read-only",
            "NoNewPrivs:1"
        ],
        "{out}"
    );
    assert_ne!(lines[5], "sh", "--init: PID 1 is the init, not the command");

    let c = inspect(&sandbox, &daemon, "flagged");
    let host = &c["HostConfig"];
    assert_eq!(host["ExtraHosts"][0], "db:10.9.9.9");
    assert_eq!(host["Dns"][0], "10.1.1.1");
    assert_eq!(host["DnsSearch"][0], "example.test");
    assert_eq!(host["DnsOptions"][0], "ndots:2");
    assert_eq!(host["Init"], true);
    assert_eq!(host["Ulimits"][0]["Name"], "nofile");
    assert_eq!(host["ShmSize"], 8 << 20);
    assert_eq!(host["PidsLimit"], 64);
    assert_eq!(host["CpusetCpus"], "0");
    assert_eq!(host["CpuShares"], 512);
    assert_eq!(host["MemoryReservation"], 32 << 20);
    assert_eq!(host["SecurityOpt"][0], "no-new-privileges");
    let config = &c["Config"];
    assert_eq!(config["StopTimeout"], 3);
    assert_eq!(config["Labels"]["from.file"], "1");
    assert_eq!(config["Labels"]["overridden"], "flag");
    assert!(config["ExposedPorts"]["8080/tcp"].is_object(), "{config}");
    assert_eq!(config["Healthcheck"]["Test"][1], "true");
    assert_eq!(config["Healthcheck"]["Interval"], 1_000_000_000i64);
    let volume = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/v")
        .cloned()
        .unwrap_or_default();
    assert_eq!(volume["Name"], "flagvol", "{}", c["Mounts"]);
    ok(berth(&sandbox, &daemon, &["rm", "-v", "flagged"]));
    ok(berth(&sandbox, &daemon, &["volume", "rm", "flagvol"]));
}

#[test]
fn bad_run_flags_name_themselves_and_create_nothing() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    for (flag, value) in [
        ("--mount", "type=bind,target=/b"),
        ("--ulimit", "nofile=2048:1024"),
        ("--add-host", "db:nowhere"),
        ("--shm-size", "lots"),
        ("--health-interval", "often"),
    ] {
        let out = output(berth(
            &sandbox,
            &daemon,
            &["run", flag, value, "probe:latest", "true"],
        ));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{flag}: {stderr}");
        assert!(stderr.contains(flag) && stderr.contains(value), "{stderr}");
    }
    assert_eq!(ok(berth(&sandbox, &daemon, &["ps", "-aq"])), "");
}
