//! berthd's container file and admin operations with the real docker CLI: `export`,
//! `diff`, `rename`, `update` (the live cgroup and what a restart applies) and
//! `container prune`.

use std::io::Read;

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::wait_for;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn docker_export_streams_the_whole_rootfs_and_diff_lists_the_changes() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    // A fresh container has changed nothing, whatever berth mounted into it.
    daemon.docker_ok(["run", "--name", "fresh", "probe:latest", "sh", "-c", "true"]);
    assert_eq!(daemon.docker_ok(["diff", "fresh"]), "");

    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "changed",
        "probe:latest",
        "sh",
        "-c",
        "echo new > /added && echo more >> /etc/passwd && rm /usr/local/bin/probe \
         && touch /ready && sleep 1000",
    ]);
    wait_for("the changes", || {
        daemon
            .docker(["exec", "changed", "sh", "-c", "test -e /ready"])
            .status
            .success()
    });
    let diff = daemon.docker_ok(["diff", "changed"]);
    let lines: Vec<&str> = diff.lines().collect();
    for expected in [
        "A /added",
        "C /etc",
        "C /etc/passwd",
        "D /usr/local/bin/probe",
        "C /usr/local/bin",
    ] {
        assert!(
            lines.contains(&expected),
            "{expected} missing from:\n{diff}"
        );
    }
    assert!(
        !diff.contains("/etc/hosts") && !diff.contains("/etc/resolv.conf"),
        "{diff}"
    );

    // Export: a tar with the image's busybox and what the container wrote, no mounts.
    let out = daemon
        .docker_command(["export", "changed"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut names = Vec::new();
    let mut added = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "added" {
            entry.read_to_string(&mut added).unwrap();
        }
        names.push(name);
    }
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert_eq!(added, "new\n");
    assert!(!names.iter().any(|n| n == "usr/local/bin/probe"));
    assert!(!names.iter().any(|n| n.starts_with("proc/self")));
    // The same of a stopped container.
    daemon.docker_ok(["stop", "-t", "0", "changed"]);
    let out = daemon
        .docker_command(["export", "changed"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let found = archive
        .entries()
        .unwrap()
        .any(|e| e.unwrap().path().unwrap().to_string_lossy() == "added");
    assert!(found);
    let out = daemon.docker(["export", "no-such-box"]);
    assert!(stderr_of(&out).contains("No such container: no-such-box"));
    daemon.docker_ok(["rm", "-f", "changed", "fresh"]);
}

#[test]
fn docker_rename_changes_the_name_everywhere_and_refuses_a_taken_one() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "before",
        "probe:latest",
        "sh",
        "-c",
        "sleep 1000",
    ]);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "other",
        "probe:latest",
        "sh",
        "-c",
        "sleep 1000",
    ]);
    daemon.docker_ok(["rename", "before", "after"]);
    assert_eq!(
        daemon.docker_ok(["inspect", "-f", "{{.Name}}", "after"]),
        "/after\n"
    );
    let ps = daemon.docker_ok(["ps", "--format", "{{.Names}}"]);
    assert!(ps.lines().any(|l| l == "after"), "{ps}");
    assert!(!ps.lines().any(|l| l == "before"), "{ps}");
    let out = daemon.docker(["inspect", "before"]);
    assert!(!out.status.success());
    // berth-run on the same root sees it too.
    let listed = sandbox.ok(["ps"]);
    assert!(listed.contains("after"), "{listed}");

    let out = daemon.docker(["rename", "after", "other"]);
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("Conflict. The container name \"/other\" is already in use"),
        "{stderr}"
    );
    let out = daemon.docker(["rename", "after", "bad name!"]);
    assert!(
        stderr_of(&out).contains("Invalid container name (bad name!)"),
        "{}",
        stderr_of(&out)
    );
    let out = daemon.docker(["rename", "no-such-box", "x"]);
    assert!(
        stderr_of(&out).contains("No such container: no-such-box"),
        "{}",
        stderr_of(&out)
    );

    // The name survives the container's exit (the monitor's last write).
    daemon.docker_ok(["stop", "-t", "1", "after"]);
    assert_eq!(
        daemon.docker_ok(["inspect", "-f", "{{.Name}} {{.State.Status}}", "after"]),
        "/after exited\n"
    );
    let state = sandbox.run_state(
        daemon
            .docker_ok(["inspect", "-f", "{{.Id}}", "after"])
            .trim(),
    );
    assert_eq!(state["name"], "after", "{state}");
    daemon.docker_ok(["start", "after"]);
    assert_eq!(
        daemon.docker_ok(["inspect", "-f", "{{.Name}} {{.State.Running}}", "after"]),
        "/after true\n"
    );
    daemon.docker_ok(["rm", "-f", "after", "other"]);
}

/// The memory limit of `id`'s cgroup as the kernel has it (v2 memory.max, v1
/// memory.limit_in_bytes).
fn memory_limit(sandbox: &Sandbox, id: &str) -> String {
    let state = sandbox.run_state(id);
    let paths = &state["record"]["cgroup"]["paths"];
    let file = match (paths.get("memory"), paths.get("unified")) {
        (Some(dir), _) => format!("{}/memory.limit_in_bytes", dir.as_str().unwrap()),
        (None, Some(dir)) => format!("{}/memory.max", dir.as_str().unwrap()),
        _ => panic!("no memory cgroup in {state}"),
    };
    std::fs::read_to_string(&file).unwrap().trim().to_string()
}

#[test]
fn docker_update_changes_the_live_cgroup_and_what_a_restart_applies() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let id = daemon
        .docker_ok([
            "run",
            "-d",
            "--name",
            "limited",
            "probe:latest",
            "sh",
            "-c",
            "sleep 1000",
        ])
        .trim()
        .to_string();
    assert_eq!(
        daemon.docker_ok([
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "limited"
        ]),
        "limited\n"
    );
    assert_eq!(memory_limit(&sandbox, &id), (64u64 << 20).to_string());
    assert_eq!(
        daemon.docker_ok(["inspect", "-f", "{{.HostConfig.Memory}}", "limited"]),
        format!("{}\n", 64u64 << 20)
    );
    daemon.docker_ok([
        "update",
        "--pids-limit",
        "77",
        "--restart",
        "on-failure:3",
        "limited",
    ]);
    assert_eq!(
        daemon.docker_ok([
            "inspect",
            "-f",
            "{{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "limited"
        ]),
        "77 on-failure 3\n"
    );
    // A restart applies what was stored.
    daemon.docker_ok(["restart", "-t", "0", "limited"]);
    assert_eq!(memory_limit(&sandbox, &id), (64u64 << 20).to_string());

    let out = daemon.docker(["update", "--memory", "1k", "limited"]);
    assert!(
        stderr_of(&out).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        stderr_of(&out)
    );
    let out = daemon.docker(["update", "--blkio-weight", "5", "limited"]);
    assert!(
        stderr_of(&out).contains("Range of blkio weight is from 10 to 1000"),
        "{}",
        stderr_of(&out)
    );
    let out = daemon.docker(["update", "--memory", "64m", "no-such-box"]);
    assert!(
        stderr_of(&out).contains("No such container: no-such-box"),
        "{}",
        stderr_of(&out)
    );
    daemon.docker_ok(["rm", "-f", "limited"]);
}

#[test]
fn docker_container_prune_removes_only_stopped_containers() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let running = daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "runs",
        "probe:latest",
        "sh",
        "-c",
        "sleep 1000",
    ]);
    let done = daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "done",
        "probe:latest",
        "sh",
        "-c",
        "echo x > /f",
    ]);
    let kept = daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "kept",
        "--label",
        "keep=yes",
        "probe:latest",
        "sh",
        "-c",
        "true",
    ]);
    let created = daemon.docker_ok([
        "create",
        "--name",
        "never",
        "probe:latest",
        "sh",
        "-c",
        "true",
    ]);
    wait_for("the exits", || {
        daemon
            .docker_ok(["ps", "-a", "--filter", "status=exited", "-q"])
            .lines()
            .count()
            == 2
    });
    let out = daemon.docker_ok(["container", "prune", "-f", "--filter", "label!=keep"]);
    assert!(out.contains(done.trim()), "{out}");
    assert!(out.contains(created.trim()), "{out}");
    assert!(
        !out.contains(kept.trim()) && !out.contains(running.trim()),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space"), "{out}");
    let left = daemon.docker_ok(["ps", "-a", "--format", "{{.Names}}"]);
    let mut left: Vec<&str> = left.lines().collect();
    left.sort();
    assert_eq!(left, ["kept", "runs"]);
    // until: nothing is older than an hour here.
    let out = daemon.docker_ok(["container", "prune", "-f", "--filter", "until=1h"]);
    assert!(!out.contains(kept.trim()), "{out}");
    daemon.docker_ok(["container", "prune", "-f"]);
    assert_eq!(
        daemon.docker_ok(["ps", "-a", "--format", "{{.Names}}"]),
        "runs\n"
    );
    daemon.docker_ok(["rm", "-f", "runs"]);
}

#[test]
fn a_renamed_container_answers_to_its_new_name_on_its_network() {
    let _netns = berth_tests::private_netns::PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let net = sandbox.create_network("fsnet", &[]);
    sandbox.ok([
        "-d",
        "--name",
        "oldname",
        "--network",
        "fsnet",
        "probe:latest",
        "sh",
        "-c",
        "sleep 1000",
    ]);
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok(["rename", "oldname", "newname"]);
    let found = sandbox.sh_on("fsnet", "nslookup newname");
    assert!(found.contains(&net.host(0)), "nslookup newname: {found}");
    let gone = sandbox.sh_on("fsnet", "nslookup oldname 2>&1; true");
    assert!(!gone.contains(&net.host(0)), "nslookup oldname: {gone}");
    daemon.docker_ok(["rm", "-f", "newname"]);
}
