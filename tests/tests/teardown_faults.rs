//! Teardown that always finishes: each stage (and berth-run) is SIGKILLed at every named
//! step of its setup (`BERTH_FAULT_POINT`), then its teardown runs, and nothing may be
//! left: no mount, namespace file, link, nft element, cgroup, address, state or process.
//! The teardown then runs again and still succeeds. A panic ends like any failure of
//! berth's (the `{"error": …}`, exit 125), and a SIGTERM during a setup undoes it.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};

use berth_tests::container::Sandbox;
use berth_tests::net::{bridge_ports_settled, links_with_prefix, published_port_count};
use berth_tests::store::{describe, output_with_input};
use berth_tests::{sha256_hex, wait_for};
use serde_json::Value;

const MOUNT_POINTS: &[&str] = &["mount:overlay", "mount:volumes", "mount:state"];
const CGROUP_POINTS: &[&str] = &["cgroup:parent", "cgroup:created", "cgroup:limits"];
const NET_POINTS: &[&str] = &[
    "net:netns",
    "net:endpoint",
    "net:veth",
    "net:address",
    "net:route",
    "net:ports",
    "net:dns",
];

/// A container id of this test alone.
fn fresh_id(point: &str) -> String {
    sha256_hex(
        format!(
            "{}-{point}-{:?}",
            std::process::id(),
            std::time::Instant::now()
        )
        .as_bytes(),
    )
}

/// berth-unpack's record of probe:latest, with a container part of id `id` (what
/// berth-mount would add), so the stages below berth-mount can be crashed on their own.
fn record_with_id(sandbox: &Sandbox, id: &str) -> Vec<u8> {
    let out = sandbox
        .stage_command("berth-unpack", ["probe:latest"])
        .output()
        .unwrap();
    assert!(out.status.success(), "berth-unpack: {}", describe(&out));
    let mut record: Value = serde_json::from_slice(&out.stdout).unwrap();
    record["container"] = serde_json::json!({ "id": id, "created": "2026-01-01T00:00:00Z" });
    serde_json::to_vec(&record).unwrap()
}

/// Runs `cmd` with `point` armed and `input` on stdin; asserts it died by SIGKILL there.
fn crash_at(mut cmd: Command, point: &str, input: &[u8]) {
    cmd.env("BERTH_FAULT_POINT", point);
    let out = output_with_input(cmd, input);
    assert_eq!(
        out.status.signal(),
        Some(9), // SIGKILL
        "{point}: not killed at the fault point: {}",
        describe(&out)
    );
}

/// Runs a teardown and expects success.
fn teardown_ok(sandbox: &Sandbox, bin: &str, args: &[&str], context: &str) {
    let out = sandbox.stage_command(bin, args).output().unwrap();
    assert!(
        out.status.success(),
        "{context}: {bin} {args:?}: {}",
        describe(&out)
    );
}

/// Processes other than this test whose command line names the sandbox's directory.
fn processes_of(sandbox: &Sandbox) -> Vec<String> {
    let base = sandbox.store.base().to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(&base).then_some(text)
        })
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Nothing of container `id` is left: mounts, container state and anonymous volumes,
/// cgroups, its namespace file, its veth, its endpoint files and addresses, and the
/// sandbox table's port elements. (Processes are checked once the networks, whose DNS
/// servers outlive their containers, are gone: [`processes_of`].)
fn assert_nothing_left(sandbox: &Sandbox, id: &str, context: &str) {
    let mounts = sandbox.leftover_mounts();
    assert!(mounts.is_empty(), "{context}: mounts left: {mounts:?}");
    let cgroups = sandbox.leftover_cgroups();
    assert!(cgroups.is_empty(), "{context}: cgroups left: {cgroups:?}");
    let root = sandbox.store.root();
    let run_dir = sandbox.store.run_dir();
    for dir in [
        root.join("containers"),
        run_dir.join("containers"),
        root.join("volumes"),
    ] {
        let left = entries(&dir);
        assert!(
            left.is_empty(),
            "{context}: {} holds {left:?}",
            dir.display()
        );
    }
    let netns = entries(&run_dir.join("netns"));
    assert!(netns.is_empty(), "{context}: netns files left: {netns:?}");
    let veth = format!("bv{}", &id[..9]);
    wait_for(&format!("{context}: the veth {veth}… to go"), || {
        links_with_prefix(&veth).is_empty()
    });
    for bridge in sandbox.bridges() {
        assert!(
            bridge_ports_settled(&bridge).is_empty(),
            "{context}: links left on {bridge}"
        );
    }
    assert_eq!(
        published_port_count(&sandbox.net.table),
        0,
        "{context}: port elements left in {}",
        sandbox.net.table
    );
    for network in entries(&root.join("networks")) {
        let dir = root.join("networks").join(&network);
        let endpoints = entries(&dir.join("endpoints"));
        assert!(
            endpoints.iter().all(|e| !e.starts_with(id)),
            "{context}: endpoint left on {network}: {endpoints:?}"
        );
        let ipam = std::fs::read_to_string(dir.join("ipam.json")).unwrap_or_default();
        assert!(
            !ipam.contains(id),
            "{context}: address left on {network}: {ipam}"
        );
    }
}

#[test]
fn berth_mount_killed_at_each_step_leaves_nothing_after_rm() {
    let sandbox = Sandbox::with_probe();
    for point in MOUNT_POINTS {
        let id = fresh_id(point);
        let input = record_with_id(&sandbox, &id);
        let cmd = sandbox.stage_command("berth-mount", ["-v", "/data"]);
        crash_at(cmd, point, &input);
        for round in ["first", "second"] {
            teardown_ok(
                &sandbox,
                "berth-mount",
                &["rm", "--id", &id],
                &format!("{point}, {round} rm"),
            );
            assert_nothing_left(&sandbox, &id, &format!("{point}, after the {round} rm"));
        }
    }
}

#[test]
fn berth_cgroup_killed_at_each_step_leaves_nothing_after_down() {
    let sandbox = Sandbox::with_probe();
    for point in CGROUP_POINTS {
        let id = fresh_id(point);
        let input = record_with_id(&sandbox, &id);
        let cmd = sandbox.stage_command("berth-cgroup", ["--memory", "64m", "--pids-limit", "40"]);
        crash_at(cmd, point, &input);
        for round in ["first", "second"] {
            teardown_ok(
                &sandbox,
                "berth-cgroup",
                &["down", "--id", &id],
                &format!("{point}, {round} down"),
            );
            assert_nothing_left(&sandbox, &id, &format!("{point}, after the {round} down"));
        }
    }
}

#[test]
fn berth_net_killed_at_each_step_leaves_nothing_after_down() {
    let sandbox = Sandbox::with_probe();
    // A user-defined network, so the DNS server's step is reached too.
    sandbox.create_network("tdnet", &[]);
    for point in NET_POINTS {
        let id = fresh_id(point);
        let input = record_with_id(&sandbox, &id);
        let cmd = sandbox.stage_command("berth-net", ["--network", "tdnet", "-p", "127.0.0.1::80"]);
        crash_at(cmd, point, &input);
        for round in ["first", "second"] {
            teardown_ok(
                &sandbox,
                "berth-net",
                &["down", "--id", &id],
                &format!("{point}, {round} down"),
            );
            assert_nothing_left(&sandbox, &id, &format!("{point}, after the {round} down"));
        }
    }
    // The network's DNS server is the network's, not the container's: it goes with it.
    sandbox.net_ok(["rm", "tdnet"]);
    let left = processes_of(&sandbox);
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// The container berth-run was making when it died, from whatever it left on disk or in
/// cgroupfs (no run state exists before the container starts).
fn crashed_container(sandbox: &Sandbox) -> Option<String> {
    let run_dir = sandbox.store.run_dir();
    // Where each name was found, for the message should there be more than one.
    let mut found: Vec<(String, String)> = Vec::new();
    for dir in [
        sandbox.store.root().join("containers"),
        run_dir.join("containers"),
        run_dir.join("netns"),
    ] {
        for name in entries(&dir) {
            found.push((name, dir.display().to_string()));
        }
    }
    for cgroup in sandbox.leftover_cgroups() {
        if let Some(name) = cgroup.file_name() {
            found.push((
                name.to_string_lossy().into_owned(),
                cgroup.display().to_string(),
            ));
        }
    }
    let mut names: Vec<String> = found.iter().map(|(name, _)| name.clone()).collect();
    names.sort();
    names.dedup();
    assert!(names.len() <= 1, "more than one container: {found:?}");
    names.pop()
}

#[test]
fn berth_run_killed_at_each_step_of_its_setup_leaves_nothing_after_teardown() {
    let sandbox = Sandbox::with_probe();
    sandbox.create_network("tdrun", &[]);
    let points = MOUNT_POINTS
        .iter()
        .chain(CGROUP_POINTS)
        .chain(NET_POINTS)
        .chain(&["run:prepared"]);
    for point in points {
        let cmd = sandbox.run_command([
            "--name",
            "crashed",
            "--network",
            "tdrun",
            "-p",
            "127.0.0.1::80",
            "-v",
            "/data",
            "--memory",
            "64m",
            "probe:latest",
            "true",
        ]);
        crash_at(cmd, point, b"");
        let Some(id) = crashed_container(&sandbox) else {
            assert_nothing_left(&sandbox, &"0".repeat(64), point);
            continue;
        };
        // No run state before the start: each part's own teardown, by id.
        for round in ["first", "second"] {
            let context = format!("{point}, {round} teardown");
            teardown_ok(&sandbox, "berth-cgroup", &["down", "--id", &id], &context);
            teardown_ok(&sandbox, "berth-net", &["down", "--id", &id], &context);
            teardown_ok(&sandbox, "berth-mount", &["rm", "--id", &id], &context);
            assert_nothing_left(
                &sandbox,
                &id,
                &format!("{point}, after the {round} teardown"),
            );
        }
    }
    sandbox.net_ok(["rm", "tdrun"]);
    let left = processes_of(&sandbox);
    assert!(left.is_empty(), "processes left: {left:?}");
}

#[test]
fn berth_run_killed_before_its_container_starts_is_cleaned_by_rm() {
    let sandbox = Sandbox::with_probe();
    sandbox.create_network("tdrm", &[]);
    for point in [
        "mount:state",
        "cgroup:limits",
        "net:veth",
        "net:dns",
        "run:prepared",
    ] {
        let cmd = sandbox.run_command([
            "--name",
            "unstarted",
            "--network",
            "tdrm",
            "-p",
            "127.0.0.1::80",
            "-v",
            "/data",
            "--memory",
            "64m",
            "probe:latest",
            "true",
        ]);
        crash_at(cmd, point, b"");
        let id = crashed_container(&sandbox).unwrap_or_else(|| panic!("{point}: nothing made"));
        let dir = sandbox.store.root().join("containers").join(&id);
        assert!(!dir.join("run.json").exists(), "{point}: a run state");
        // By name once the registry has the container (the mount got that far), else by id.
        let reference = if dir.join("container.json").exists() {
            "unstarted"
        } else {
            id.as_str()
        };
        // -v: its anonymous volume goes too (docker's rm keeps it without).
        let out = sandbox.run(["rm", "-v", reference]);
        assert!(
            out.status.success(),
            "{point}: rm {reference}: {}",
            describe(&out)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), reference);
        assert_nothing_left(&sandbox, &id, &format!("{point}, after rm"));
        // Nothing is left to find: docker's answer, which --force does not count a failure.
        let again = sandbox.run(["rm", &id]);
        assert_eq!(
            again.status.code(),
            Some(125),
            "{point}: {}",
            describe(&again)
        );
        assert!(
            String::from_utf8_lossy(&again.stderr).contains("No such container"),
            "{point}: {}",
            describe(&again)
        );
        let forced = sandbox.run(["rm", "-f", "-v", &id]);
        assert!(
            forced.status.success(),
            "{point}: rm -f: {}",
            describe(&forced)
        );
        assert_nothing_left(&sandbox, &id, &format!("{point}, after rm -f"));
    }
    sandbox.net_ok(["rm", "tdrm"]);
    let left = processes_of(&sandbox);
    assert!(left.is_empty(), "processes left: {left:?}");
}

#[test]
fn berth_run_killed_while_its_container_runs_is_cleaned_by_rm_force() {
    let sandbox = Sandbox::with_probe();
    sandbox.create_network("tdlive", &[]);
    let cmd = sandbox.run_command([
        "--name",
        "orphan",
        "--network",
        "tdlive",
        "-p",
        "127.0.0.1::80",
        "-v",
        "/data",
        "probe:latest",
        "sh",
        "-c",
        "sleep 30",
    ]);
    // The container keeps berth-run's stdio: wait for berth-run alone, not for the pipes.
    let mut cmd = cmd;
    let status = cmd
        .env("BERTH_FAULT_POINT", "run:started")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(9), "run:started: {status}");
    let id = crashed_container(&sandbox).expect("the container's state is there");
    let state = sandbox.run_state(&id);
    let pid = state["pid"].as_i64().expect("the state has the pid");
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the container outlives berth-run"
    );
    let begin = std::time::Instant::now();
    let out = sandbox.run(["rm", "-f", "-v", "orphan"]);
    assert!(out.status.success(), "rm -f: {}", describe(&out));
    assert!(
        begin.elapsed() < std::time::Duration::from_secs(15),
        "rm -f killed the container rather than waiting for it"
    );
    assert_nothing_left(&sandbox, &id, "after rm -f");
    // Each part's teardown finds nothing more to do, and says so by succeeding.
    teardown_ok(&sandbox, "berth-cgroup", &["down", "--id", &id], "again");
    teardown_ok(&sandbox, "berth-net", &["down", "--id", &id], "again");
    teardown_ok(&sandbox, "berth-mount", &["rm", "--id", &id], "again");
    assert_nothing_left(&sandbox, &id, "after the teardown again");
    sandbox.net_ok(["rm", "tdlive"]);
    let left = processes_of(&sandbox);
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// The one error line of a failed stage, and the `{"error": …}` on stdout when it has one.
fn failure(out: &Output) -> (String, Option<String>) {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let json = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string));
    (stderr, json)
}

#[test]
fn a_panic_in_a_stage_prints_the_error_json_and_exits_125() {
    let sandbox = Sandbox::with_probe();
    let id = fresh_id("panic");
    let input = record_with_id(&sandbox, &id);
    let mut cmd = sandbox.stage_command("berth-mount", Vec::<String>::new());
    cmd.env("BERTH_FAULT_POINT", "mount:overlay:panic")
        .env_remove("RUST_BACKTRACE");
    let out = output_with_input(cmd, &input);
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let (stderr, json) = failure(&out);
    let json = json.unwrap_or_else(|| panic!("no error JSON: {}", describe(&out)));
    assert!(json.contains("fault point mount:overlay"), "{json}");
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    assert!(
        stderr.starts_with("berth-mount: ") && !stderr.contains("panicked at"),
        "{stderr}"
    );
    teardown_ok(
        &sandbox,
        "berth-mount",
        &["rm", "--id", &id],
        "after the panic",
    );
    assert_nothing_left(&sandbox, &id, "after the panic");

    // berth-run's stdout is the container's: the message goes to stderr alone.
    let mut cmd = sandbox.run_command(["--network", "none", "probe:latest", "true"]);
    cmd.env("BERTH_FAULT_POINT", "run:prepared:panic")
        .env_remove("RUST_BACKTRACE");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let (stderr, _) = failure(&out);
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    assert!(stderr.contains("fault point run:prepared"), "{stderr}");
}

#[test]
fn a_sigterm_during_a_setup_undoes_it() {
    let sandbox = Sandbox::with_probe();
    sandbox.create_network("tdsig", &[]);
    let stages: &[(&str, &[&str], &str)] = &[
        ("berth-mount", &["-v", "/data"], "mount:overlay"),
        ("berth-cgroup", &["--pids-limit", "40"], "cgroup:created"),
        (
            "berth-net",
            &["--network", "tdsig", "-p", "127.0.0.1::80"],
            "net:veth",
        ),
    ];
    for (bin, args, point) in stages {
        let id = fresh_id(point);
        let input = record_with_id(&sandbox, &id);
        let mut cmd = sandbox.stage_command(bin, *args);
        cmd.env("BERTH_FAULT_POINT", format!("{point}:sigterm"));
        let out = output_with_input(cmd, &input);
        assert_eq!(out.status.code(), Some(125), "{bin}: {}", describe(&out));
        let (_, json) = failure(&out);
        assert!(
            json.as_deref()
                .is_some_and(|e| e.contains("interrupted by signal 15")),
            "{bin}: {}",
            describe(&out)
        );
        assert_nothing_left(&sandbox, &id, &format!("{bin} after SIGTERM at {point}"));
    }
    let mut cmd = sandbox.run_command([
        "--network",
        "tdsig",
        "-p",
        "127.0.0.1::80",
        "probe:latest",
        "true",
    ]);
    cmd.env("BERTH_FAULT_POINT", "run:prepared:sigterm");
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(125),
        "berth-run: {}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted by signal 15"),
        "{}",
        describe(&out)
    );
    let id = crashed_container(&sandbox).unwrap_or_else(|| "0".repeat(64));
    assert_nothing_left(&sandbox, &id, "berth-run after SIGTERM");
    sandbox.net_ok(["rm", "tdsig"]);
}

#[test]
fn a_sigterm_after_the_setup_waits_until_the_record_is_out() {
    let sandbox = Sandbox::with_probe();
    let id = fresh_id("late-sigterm");
    let input = record_with_id(&sandbox, &id);
    let mut cmd = sandbox.stage_command("berth-mount", Vec::<String>::new());
    // mount:state is past the setup's last check: the signal must wait for the record.
    cmd.env("BERTH_FAULT_POINT", "mount:state:sigterm");
    let out = output_with_input(cmd, &input);
    assert_eq!(out.status.signal(), Some(15), "{}", describe(&out));
    let record: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("a whole record first ({e}): {}", describe(&out)));
    assert_eq!(record["container"]["id"], id.as_str());
    assert!(record["rootfs"]["path"].is_string(), "{record}");
    // The next stage owns the container now; its teardown from the record cleans it.
    let down = output_with_input(sandbox.stage_command("berth-mount", ["rm"]), &out.stdout);
    assert!(down.status.success(), "rm: {}", describe(&down));
    assert_nothing_left(&sandbox, &id, "after rm from the record");
}

#[test]
fn rm_finds_the_cgroups_under_the_parent_they_were_made_under() {
    let sandbox = Sandbox::with_probe();
    // Killed with its cgroups made and no run state written.
    let cmd = sandbox.run_command([
        "--name",
        "moved",
        "--network",
        "none",
        "probe:latest",
        "true",
    ]);
    crash_at(cmd, "run:prepared", b"");
    let id = crashed_container(&sandbox).expect("something made");
    assert!(
        !sandbox.leftover_cgroups().is_empty(),
        "its cgroups are there"
    );
    // `rm` given another parent than the one the container was made under.
    let other = format!("{}-other", sandbox.cgroup_parent);
    let out = Command::new(berth_tests::berth_bin("berth-run"))
        .arg("--root")
        .arg(sandbox.store.root())
        .arg("--run-dir")
        .arg(sandbox.store.run_dir())
        .arg("--cgroup-parent")
        .arg(&other)
        .envs(sandbox.net.env())
        .args(["rm", "moved"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    // The other parent is ours alone (a unique name): gone whatever happened.
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(hierarchy.path().join(&other));
    }
    let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&other));
    assert!(out.status.success(), "rm: {}", describe(&out));
    assert_nothing_left(&sandbox, &id, "after rm under another parent");
}
