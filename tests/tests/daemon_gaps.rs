//! What dockerd does and berthd did not, each with the real docker CLI (and berth's own
//! tools where they share the store): `rm` keeps anonymous volumes without `-v`, a paused
//! container reads as paused, a restart back-off shows as "Restarting" and survives a
//! daemon restart, MemoryReservation is kept, an exec's Pid is its process's, `--mount`
//! volume options make the volume, `name=` filters are dockerd's regular expressions, and
//! a created container's volumes are in use for `berth-mount` too, an anonymous `--mount`
//! volume takes its volume options, and AutoRemove removes once (a destroy event each, a
//! failed start's included) with nothing wrong in the log.

use std::process::Output;
use std::time::{Duration, Instant};

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::net::SubnetLease;
use berth_tests::private_netns::PrivateNetns;
use serde_json::Value;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn inspect(daemon: &Daemon, what: &str) -> Value {
    let out = daemon.docker_ok(["inspect", what]);
    let all: Value = serde_json::from_str(&out).unwrap();
    all[0].clone()
}

fn volumes(daemon: &Daemon) -> Vec<String> {
    daemon
        .docker_ok(["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The body of a raw HTTP answer as JSON.
fn body_json(raw: &str) -> Value {
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Polls `check` every 20 ms until it holds, at most `timeout`.
fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let begin = Instant::now();
    while !check() {
        assert!(begin.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rm_keeps_anonymous_volumes_without_v_and_removes_them_with_it() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let run = |name: &str| {
        daemon.docker_ok([
            "run",
            "--network",
            "none",
            "--name",
            name,
            "-v",
            "/anon",
            "probe:latest",
            "sh",
            "-c",
            "true",
        ]);
    };
    run("keeps");
    let made = volumes(&daemon);
    assert_eq!(made.len(), 1, "{made:?}");
    daemon.docker_ok(["rm", "keeps"]);
    assert_eq!(
        volumes(&daemon),
        made,
        "docker rm without -v keeps the volume"
    );
    run("takes");
    assert_eq!(volumes(&daemon).len(), 2);
    daemon.docker_ok(["rm", "-v", "takes"]);
    assert_eq!(volumes(&daemon), made, "rm -v took its own volume only");
    // --rm takes its anonymous volumes, as dockerd's does.
    daemon.docker_ok([
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "/gone",
        "probe:latest",
        "sh",
        "-c",
        "true",
    ]);
    assert_eq!(volumes(&daemon), made);
    // berth-run on the same root: the same rule, by its own rm and rm -v.
    for (name, flags) in [("brun-keeps", vec![]), ("brun-takes", vec!["-v"])] {
        sandbox.ok([
            "--name",
            name,
            "--network",
            "none",
            "-v",
            "/b",
            "probe:latest",
            "sh",
            "-c",
            "true",
        ]);
        let before = volumes(&daemon).len();
        let mut args = vec!["rm"];
        args.extend(flags.iter().copied());
        args.push(name);
        sandbox.ok(&args);
        let after = volumes(&daemon).len();
        if flags.is_empty() {
            assert_eq!(after, before, "berth-run rm keeps it");
        } else {
            assert_eq!(after, before - 1, "berth-run rm -v takes it");
        }
    }
    daemon.docker_ok(["volume", "prune", "-f"]);
    assert!(volumes(&daemon).is_empty(), "{:?}", volumes(&daemon));
    sandbox.assert_nothing_left();
}

#[test]
fn a_paused_container_reads_as_paused_in_inspect_and_ps() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "frozen",
        "probe:latest",
        "sh",
        "-c",
        "sleep 600",
    ]);
    daemon.docker_ok(["pause", "frozen"]);
    let state = &inspect(&daemon, "frozen")["State"];
    assert_eq!(state["Paused"], true, "{state}");
    assert_eq!(state["Status"], "paused", "{state}");
    assert_eq!(state["Running"], true, "{state}");
    let ps = daemon.docker_ok(["ps", "--format", "{{.Names}} {{.Status}} {{.State}}"]);
    assert!(ps.contains("(Paused) paused"), "{ps}");
    let filtered = daemon.docker_ok(["ps", "-q", "--filter", "status=paused"]);
    assert_eq!(filtered.lines().count(), 1, "{filtered}");
    daemon.docker_ok(["unpause", "frozen"]);
    let state = &inspect(&daemon, "frozen")["State"];
    assert_eq!(state["Paused"], false, "{state}");
    assert_eq!(state["Status"], "running", "{state}");
    daemon.docker_ok(["rm", "-f", "frozen"]);
    sandbox.assert_nothing_left();
}

#[test]
fn a_restart_back_off_shows_as_restarting_and_outlives_the_daemon() {
    let sandbox = Sandbox::with_probe();
    let mut daemon = Daemon::start(&sandbox);
    let id = daemon.docker_ok([
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "flaky",
        "--restart",
        "always",
        "probe:latest",
        "sh",
        "-c",
        "exit 3",
    ]);
    let id = id.trim().to_string();
    let record = sandbox
        .store
        .root()
        .join("containers")
        .join(&id)
        .join("restart.json");
    let backoff = || -> u64 {
        std::fs::read_to_string(&record)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["backoff_ms"].as_u64())
            .unwrap_or(0)
    };
    // 100, 200, 400, 800 ms: by then each back-off is long enough to be seen.
    eventually("a back-off of 800 ms", Duration::from_secs(20), || {
        backoff() >= 800
    });
    eventually(
        "the restarting state in ps",
        Duration::from_secs(10),
        || {
            let ps = daemon.docker_ok(["ps", "--format", "{{.Names}} {{.Status}} {{.State}}"]);
            ps.contains("flaky Restarting (3)") && ps.contains("restarting")
        },
    );
    eventually(
        "the restarting state in inspect",
        Duration::from_secs(10),
        || {
            let state = &inspect(&daemon, "flaky")["State"];
            state["Restarting"] == true && state["Status"] == "restarting"
        },
    );
    // A daemon killed and started again goes on from the back-off it had.
    let before = backoff();
    daemon.kill();
    let daemon = Daemon::start(&sandbox);
    eventually("the next, longer back-off", Duration::from_secs(30), || {
        backoff() > before
    });
    assert_eq!(
        backoff(),
        before * 2,
        "the back-off doubled, not started over"
    );
    daemon.docker_ok(["rm", "-f", "flaky"]);
    sandbox.assert_nothing_left();
}

#[test]
fn memory_reservation_is_kept_and_shown() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "create",
        "--network",
        "none",
        "--name",
        "reserved",
        "--memory",
        "64m",
        "--memory-reservation",
        "32m",
        "probe:latest",
        "sh",
        "-c",
        "true",
    ]);
    let host = &inspect(&daemon, "reserved")["HostConfig"];
    assert_eq!(host["MemoryReservation"], 32 * 1024 * 1024, "{host}");
    assert_eq!(host["Memory"], 64 * 1024 * 1024, "{host}");
    daemon.docker_ok(["rm", "reserved"]);
    sandbox.assert_nothing_left();
}

#[test]
fn exec_inspect_gives_the_host_pid_of_the_execd_process() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "host",
        "probe:latest",
        "sh",
        "-c",
        "sleep 600",
    ]);
    let created = daemon.http(
        "POST",
        "/containers/host/exec",
        r#"{"Cmd":["sh","-c","sleep 577"],"AttachStdout":false,"AttachStderr":false}"#,
    );
    let exec = body_json(&created)["Id"].as_str().unwrap().to_string();
    let started = daemon.http("POST", &format!("/exec/{exec}/start"), r#"{"Detach":true}"#);
    assert!(started.contains(" 200 "), "{started}");
    let inspected = body_json(&daemon.http("GET", &format!("/exec/{exec}/json"), ""));
    assert_eq!(inspected["Running"], true, "{inspected}");
    let pid = inspected["Pid"].as_i64().unwrap();
    // That process runs the command once its exec is through (sh execs a lone command).
    let cmdline = || {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim()
            .to_string()
    };
    eventually(
        "the exec's command at its pid",
        Duration::from_secs(10),
        || cmdline() == "sleep 577",
    );
    daemon.docker_ok(["rm", "-f", "host"]);
    sandbox.assert_nothing_left();
}

#[test]
fn mount_volume_options_make_the_volume_with_them() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let out = daemon.docker_ok([
        "run", "--rm", "--network", "none", "--mount",
        "type=volume,source=optvol,target=/t,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=8m,volume-label=made=bymount",
        "probe:latest", "sh", "-c", "grep ' /t ' /proc/mounts",
    ]);
    assert!(out.contains("tmpfs"), "{out}");
    let volume = &serde_json::from_str::<Value>(&daemon.docker_ok(["volume", "inspect", "optvol"]))
        .unwrap()[0];
    assert_eq!(volume["Options"]["type"], "tmpfs", "{volume}");
    assert_eq!(volume["Options"]["o"], "size=8m", "{volume}");
    assert_eq!(volume["Labels"]["made"], "bymount", "{volume}");
    // Options the local driver does not know are refused at create, and nothing is made.
    let bad = daemon.docker([
        "create",
        "--network",
        "none",
        "--mount",
        "type=volume,source=badvol,target=/t,volume-opt=colour=red",
        "probe:latest",
        "sh",
        "-c",
        "true",
    ]);
    assert!(!bad.status.success(), "{}", text(&bad));
    assert!(text(&bad).contains("colour"), "{}", text(&bad));
    assert!(!volumes(&daemon).contains(&"badvol".to_string()));
    daemon.docker_ok(["volume", "rm", "optvol"]);
    sandbox.assert_nothing_left();
}

#[test]
fn name_filters_are_dockerds_regular_expressions() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    for name in ["gap-web", "gap-webapp"] {
        daemon.docker_ok([
            "create",
            "--network",
            "none",
            "--name",
            name,
            "probe:latest",
            "sh",
            "-c",
            "true",
        ]);
    }
    let ps = |filter: &str| {
        let mut v: Vec<String> = daemon
            .docker_ok(["ps", "-a", "--format", "{{.Names}}", "--filter", filter])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(ps("name=gap-web"), ["gap-web", "gap-webapp"]);
    assert_eq!(ps("name=^gap-web$"), ["gap-web"]);
    assert_eq!(ps("name=^/gap-web$"), ["gap-web"]);
    assert_eq!(ps("name=app$"), ["gap-webapp"]);
    let lease = SubnetLease::take();
    daemon.docker_ok(["network", "create", "--subnet", &lease.subnet, "gapnet-a"]);
    daemon.docker_ok(["network", "create", "gapnet-ab"]);
    let nets = |filter: &str| {
        let mut v: Vec<String> = daemon
            .docker_ok(["network", "ls", "--format", "{{.Name}}", "--filter", filter])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(nets("name=gapnet-a"), ["gapnet-a", "gapnet-ab"]);
    assert_eq!(nets("name=^gapnet-a$"), ["gapnet-a"]);
    daemon.docker_ok(["rm", "gap-web", "gap-webapp"]);
    daemon.docker_ok(["network", "rm", "gapnet-a", "gapnet-ab"]);
    sandbox.assert_nothing_left();
}

#[test]
fn a_created_containers_volume_is_in_use_for_berth_mount_too() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "create",
        "--network",
        "none",
        "--name",
        "claims",
        "-v",
        "claimed:/d",
        "probe:latest",
        "sh",
        "-c",
        "true",
    ]);
    let refused = sandbox
        .stage_command("berth-mount", ["volume", "rm", "claimed"])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("in use"), "{}", text(&refused));
    assert!(volumes(&daemon).contains(&"claimed".to_string()));
    daemon.docker_ok(["rm", "claims"]);
    let removed = sandbox
        .stage_command("berth-mount", ["volume", "rm", "claimed"])
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", text(&removed));
    sandbox.assert_nothing_left();
}

#[test]
fn network_connect_of_a_created_container_is_made_at_its_start() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let (first, later) = (SubnetLease::take(), SubnetLease::take());
    daemon.docker_ok(["network", "create", "--subnet", &first.subnet, "gapfirst"]);
    daemon.docker_ok(["network", "create", "--subnet", &later.subnet, "gaplater"]);
    let begin = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let id = daemon.docker_ok([
        "create",
        "--network",
        "gapfirst",
        "--name",
        "joiner",
        "probe:latest",
        "sh",
        "-c",
        "sleep 600",
    ]);
    let id = id.trim().to_string();
    daemon.docker_ok([
        "network", "connect", "--alias", "late", "gaplater", "joiner",
    ]);
    let nets = &inspect(&daemon, "joiner")["NetworkSettings"]["Networks"];
    assert_eq!(nets["gaplater"]["Aliases"][0], "late", "{nets}");
    assert_eq!(
        nets["gaplater"]["IPAddress"], "",
        "not joined before the start: {nets}"
    );
    // Twice to one network is refused, as dockerd refuses it.
    let twice = daemon.docker(["network", "connect", "gaplater", "joiner"]);
    assert!(!twice.status.success(), "{}", text(&twice));
    daemon.docker_ok(["start", "joiner"]);
    let nets = &inspect(&daemon, "joiner")["NetworkSettings"]["Networks"];
    for net in ["gapfirst", "gaplater"] {
        let ip = nets[net]["IPAddress"].as_str().unwrap_or_default();
        assert!(!ip.is_empty(), "{net} joined at start: {nets}");
    }
    // --until in the past (a future one streams until then): a second after the start.
    std::thread::sleep(Duration::from_millis(1100));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let events = daemon.docker_ok([
        "events",
        "--since",
        &begin,
        "--until",
        &now,
        "--filter",
        "type=network",
        "--filter",
        "event=connect",
        "--format",
        "{{.Actor.Attributes.name}} {{.Actor.Attributes.container}}",
    ]);
    let mut seen: Vec<&str> = events.lines().filter(|l| l.ends_with(&id)).collect();
    seen.sort();
    assert_eq!(
        seen.len(),
        2,
        "one connect per network at the start: {events}"
    );
    assert!(
        seen[0].starts_with("gapfirst ") && seen[1].starts_with("gaplater "),
        "{events}"
    );
    daemon.docker_ok(["rm", "-f", "joiner"]);
    daemon.docker_ok(["network", "rm", "gapfirst", "gaplater"]);
    sandbox.assert_nothing_left();
}

#[test]
fn mount_volume_options_on_an_anonymous_volume_make_it_with_them() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let before = volumes(&daemon);
    daemon.docker_ok([
        "create",
        "--name",
        "anonopt",
        "--network",
        "none",
        "--mount",
        "type=volume,target=/t,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=8m",
        "probe:latest",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts",
    ]);
    let made: Vec<String> = volumes(&daemon)
        .into_iter()
        .filter(|v| !before.contains(v))
        .collect();
    assert_eq!(made.len(), 1, "one volume made at create: {made:?}");
    let volume = &serde_json::from_str::<Value>(&daemon.docker_ok(["volume", "inspect", &made[0]]))
        .unwrap()[0];
    assert_eq!(volume["Options"]["type"], "tmpfs", "{volume}");
    assert_eq!(volume["Options"]["o"], "size=8m", "{volume}");
    assert!(
        volume["Labels"]
            .get("com.docker.volume.anonymous")
            .is_some(),
        "{volume}"
    );
    let out = daemon.docker_ok(["start", "-a", "anonopt"]);
    assert!(out.contains("tmpfs"), "{out}");
    // Bad options are refused and leave no volume behind.
    let bad = daemon.docker([
        "create",
        "--network",
        "none",
        "--mount",
        "type=volume,target=/u,volume-opt=colour=red",
        "probe:latest",
        "sh",
        "-c",
        "true",
    ]);
    assert!(!bad.status.success(), "{}", text(&bad));
    assert_eq!(volumes(&daemon).len(), before.len() + 1);
    // It is the container's: `rm -v` takes it.
    daemon.docker_ok(["rm", "-v", "anonopt"]);
    assert_eq!(volumes(&daemon), before);
    sandbox.assert_nothing_left();
}

#[test]
fn auto_remove_removes_once_with_a_destroy_each_and_logs_no_error() {
    let _netns = PrivateNetns::enter();
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let port = format!("127.0.0.1:{}:80", 20000 + std::process::id() % 20000);
    let holder = daemon.docker_ok([
        "run",
        "-d",
        "-p",
        &port,
        "probe:latest",
        "sh",
        "-c",
        "sleep 600",
    ]);
    let runs: [&[&str]; 3] = [
        &["run", "--rm", "probe:latest", "sh", "-c", "exit 3"],
        &[
            "run",
            "--rm",
            "-d",
            "--name",
            "gone",
            "probe:latest",
            "sh",
            "-c",
            "sleep 0.3",
        ],
        // A start that fails (the port is taken): removed at once, as dockerd does.
        &["run", "--rm", "-p", &port, "probe:latest", "true"],
    ];
    for args in runs {
        let _ = daemon.docker(args);
    }
    daemon.docker_ok(["rm", "-f", holder.trim()]);
    eventually(
        "the auto-removed containers to go",
        Duration::from_secs(20),
        || daemon.docker_ok(["ps", "-aq"]).trim().is_empty(),
    );
    // `--until 0s` counts whole seconds: the next one.
    std::thread::sleep(Duration::from_millis(1100));
    let log = daemon.log_text();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // One destroy event each (the holder's too): removed once, and a removal after a
    // failed start, whose rootfs teardown took the directory, is recorded as well.
    let events = daemon.docker_ok([
        "events",
        "--since",
        "10m",
        "--until",
        "0s",
        "--filter",
        "event=destroy",
        "--format",
        "{{.Actor.ID}}",
    ]);
    let mut ids: Vec<&str> = events.lines().collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((all, ids.len()), (4, 4), "{events}");
    sandbox.assert_nothing_left();
}
