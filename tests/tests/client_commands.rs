//! The rest of docker's daily commands through `berth` in-process: cp both ways and between
//! two containers, diff,
//! export, top, stats, update, pause/unpause, rename, port, wait, tag/history/save/rmi,
//! volumes, networks, events, system df, prunes, completions and man pages.

use berth_tests::client::{berth_local, ok, output};
use berth_tests::container::Sandbox;
use berth_tests::wait_for;

#[test]
fn daily_commands_in_process() {
    let sandbox = Sandbox::with_probe();
    let b = |args: &[&str]| ok(berth_local(&sandbox, args));
    b(&[
        "run",
        "-d",
        "--name",
        "box",
        "-p",
        "127.0.0.1::80",
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);

    // cp both ways, diff, export.
    let local = sandbox.store.work("hello.txt");
    std::fs::write(&local, "from the host\n").unwrap();
    b(&["cp", local.to_str().unwrap(), "box:/tmp/in.txt"]);
    assert_eq!(b(&["exec", "box", "cat", "/tmp/in.txt"]), "from the host\n");
    b(&[
        "exec",
        "box",
        "sh",
        "-c",
        "mkdir /tmp/d && echo inside > /tmp/d/f",
    ]);
    let out_dir = sandbox.store.work("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    b(&["cp", "box:/tmp/d", out_dir.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("d/f")).unwrap(),
        "inside\n"
    );
    let renamed = sandbox.store.work("renamed.txt");
    b(&["cp", "box:/tmp/in.txt", renamed.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&renamed).unwrap(),
        "from the host\n"
    );
    let diff = b(&["diff", "box"]);
    assert!(diff.lines().any(|l| l == "A /tmp/in.txt"), "{diff}");
    assert!(diff.lines().any(|l| l == "C /tmp"), "{diff}");
    let tarball = sandbox.store.work("box.tar");
    b(&["export", "-o", tarball.to_str().unwrap(), "box"]);
    let names: Vec<String> = tar::Archive::new(std::fs::File::open(&tarball).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.trim_start_matches("./") == "tmp/in.txt"),
        "{names:?}"
    );

    // top, stats, update, port, pause/unpause, rename.
    let top = b(&["top", "box"]);
    assert!(top.starts_with("UID") || top.contains("PID"), "{top}");
    assert!(top.contains("sleep") || top.contains("sh"), "{top}");
    let stats = b(&["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}"]);
    let (name, pids) = stats.trim().split_once(' ').unwrap();
    assert_eq!(name, "box");
    assert!(pids.parse::<u32>().unwrap() >= 1, "{stats}");
    let table = b(&["stats", "--no-stream"]);
    assert!(table.starts_with("CONTAINER ID   NAME"), "{table}");
    b(&["update", "-m", "64m", "box"]);
    assert_eq!(
        b(&["inspect", "-f", "{{.HostConfig.Memory}}", "box"]).trim(),
        (64u64 << 20).to_string()
    );
    let port = b(&["port", "box"]);
    assert!(port.starts_with("80/tcp -> 127.0.0.1:"), "{port}");
    b(&["pause", "box"]);
    let again = output(berth_local(&sandbox, ["pause", "box"]));
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is already paused"));
    b(&["unpause", "box"]);
    b(&["rename", "box", "crate"]);
    assert_eq!(b(&["ps", "--format", "{{.Names}}"]).trim(), "crate");
    b(&["stop", "-t", "1", "crate"]);
    assert_eq!(b(&["wait", "crate"]).trim(), "137");
    let events = b(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "--filter",
        "event=rename",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(events.trim(), "rename crate");
    b(&["rm", "crate"]);

    // Images: tag, history, save, rmi.
    b(&["tag", "probe:latest", "copy:v2"]);
    let images = b(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.lines().collect::<Vec<_>>().len(), 2, "{images}");
    assert!(images.contains("copy:v2"), "{images}");
    let history = b(&["history", "-q", "copy:v2"]);
    assert!(!history.trim().is_empty());
    let saved = sandbox.store.work("saved.tar");
    b(&["save", "-o", saved.to_str().unwrap(), "copy:v2"]);
    assert!(std::fs::metadata(&saved).unwrap().len() > 1000);
    assert_eq!(b(&["rmi", "copy:v2"]).trim(), "Untagged: copy:v2");

    // Volumes and networks.
    assert_eq!(b(&["volume", "create", "vol1"]).trim(), "vol1");
    assert_eq!(b(&["volume", "ls", "-q"]).trim(), "vol1");
    assert_eq!(
        b(&["volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "vol1"]).trim(),
        "vol1 local"
    );
    b(&[
        "run",
        "--rm",
        "-v",
        "vol1:/data",
        "probe:latest",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        b(&[
            "run",
            "--rm",
            "-v",
            "vol1:/data",
            "probe:latest",
            "cat",
            "/data/f"
        ]),
        "kept\n"
    );
    assert_eq!(b(&["volume", "rm", "vol1"]).trim(), "vol1");
    let net = b(&["network", "create", "clientnet"]);
    assert_eq!(net.trim().len(), 64, "{net}");
    let nets = b(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert!(nets.lines().any(|l| l == "clientnet bridge"), "{nets}");
    b(&[
        "run",
        "-d",
        "--name",
        "joiner",
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
    b(&["network", "connect", "--alias", "jo", "clientnet", "joiner"]);
    let nets = b(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        "joiner",
    ]);
    assert!(nets.contains("clientnet"), "{nets}");
    b(&["network", "disconnect", "clientnet", "joiner"]);
    b(&["rm", "-f", "joiner"]);
    assert_eq!(b(&["network", "rm", "clientnet"]).trim(), "clientnet");

    let df = b(&["system", "df"]);
    assert!(
        df.starts_with("TYPE") && df.contains("Images") && df.contains("Local Volumes"),
        "{df}"
    );
    let pruned = b(&["container", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");

    // Completions and man pages come from the same flags.
    let bash = b(&["completion", "bash"]);
    assert!(
        bash.contains("berth") && bash.contains("--detach-keys"),
        "completion"
    );
    let man = sandbox.store.work("man");
    b(&["__man", man.to_str().unwrap()]);
    let page = std::fs::read_to_string(man.join("berth-run.1")).unwrap();
    assert!(
        page.contains("detach\\-keys") || page.contains("detach-keys"),
        "{page}"
    );
    wait_for("nothing left", || {
        ok(berth_local(&sandbox, ["ps", "-aq"])).trim().is_empty()
    });
    let out = output(berth_local(&sandbox, ["inspect", "nothing-such"]));
    assert_eq!(out.status.code(), Some(1));
    sandbox.assert_nothing_left();
}

#[test]
fn cp_between_two_containers_in_process() {
    let sandbox = Sandbox::with_probe();
    let b = |args: &[&str]| ok(berth_local(&sandbox, args));
    for name in ["from", "to"] {
        b(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "probe:latest",
            "sh",
            "-c",
            "while true; do sleep 0.1; done",
        ]);
    }
    b(&[
        "exec",
        "from",
        "sh",
        "-c",
        "mkdir -p /tmp/d/sub && echo one > /tmp/d/f && echo two > /tmp/d/sub/g \
         && chmod 640 /tmp/d/f",
    ]);
    // Into a directory: under the source's own name.
    b(&["cp", "from:/tmp/d", "to:/tmp"]);
    // To a new name: the file, and the tree.
    b(&["cp", "from:/tmp/d/f", "to:/tmp/renamed.txt"]);
    b(&["cp", "from:/tmp/d", "to:/tmp/newdir"]);
    let seen = b(&[
        "exec",
        "to",
        "sh",
        "-c",
        "cat /tmp/d/f /tmp/d/sub/g /tmp/renamed.txt /tmp/newdir/f /tmp/newdir/sub/g; \
         stat -c %a /tmp/newdir/f",
    ]);
    assert_eq!(seen, "one\ntwo\none\none\ntwo\n640\n");
    let out = output(berth_local(&sandbox, ["cp", "from:/no/such", "to:/tmp"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/no/such"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    b(&["rm", "-f", "from", "to"]);
}
