//! berth-oci against runc (issue 16): each case of tests/oci/cases.json is run by both
//! runtimes on the same bundle (busybox rootfs, runc's default spec plus the case's
//! changes); both must give the same output and exit status, and that output must be the
//! one the case expects (so two runtimes failing alike do not pass). Then the lifecycle
//! (state transitions, pid file, kill, delete) side by side, and bad input: a clear error
//! from berth-oci and nothing left (state, cgroups, mounts).

#[path = "../oci/support.rs"]
mod support;

use serde_json::Value;
use support::{set_path, World};

fn load_cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/oci/cases.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).expect("cases.json is JSON")
}

/// Replaces HOST_DIR in every string of `value`.
fn substitute(value: &Value, host_dir: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace("HOST_DIR", host_dir)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute(v, host_dir)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, host_dir)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn prepare_case(world: &World, case: &Value, runtime: &str) -> std::path::PathBuf {
    let name = case["name"].as_str().unwrap();
    let host_dir = world.dir.path().join(format!("host-{name}-{runtime}"));
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("file"), "from the host\n").unwrap();
    let case = substitute(case, host_dir.to_str().unwrap());
    let id = format!("{name}-{runtime}");
    let bundle = world.bundle(&id, case["script"].as_str().unwrap());
    let mut config = world.config(&bundle);
    for (path, value) in case["set"].as_object().into_iter().flatten() {
        set_path(&mut config, path, value.clone());
    }
    for (path, value) in case["append"].as_object().into_iter().flatten() {
        let list = path.split('.').fold(&mut config, |at, part| &mut at[part]);
        list.as_array_mut().unwrap().push(value.clone());
    }
    if let Some(link) = case["symlink"].as_array() {
        std::os::unix::fs::symlink(
            link[1].as_str().unwrap(),
            bundle.join("rootfs").join(link[0].as_str().unwrap()),
        )
        .unwrap();
    }
    world.write_config(&bundle, &config);
    bundle
}

#[test]
fn every_case_gives_what_runc_gives() {
    let world = World::new();
    let mut failures = Vec::new();
    for case in load_cases() {
        let name = case["name"].as_str().unwrap();
        let mut results = Vec::new();
        for rt in &world.runtimes {
            let bundle = prepare_case(&world, &case, rt.name);
            let id = format!("{name}-{}", rt.name);
            let out = rt.output(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            results.push((rt.name, out.status.code(), stdout, stderr));
            let host_dir = world.dir.path().join(format!("host-{name}-{}", rt.name));
            let mut entries: Vec<String> = std::fs::read_dir(&host_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            entries.sort();
            if entries != ["file"] {
                failures.push(format!(
                    "{name} ({}): the host dir now has {entries:?}",
                    rt.name
                ));
            }
        }
        let (_, runc_code, runc_out, runc_err) = &results[0];
        let (_, code, out, err) = &results[1];
        let want_code = case["exit"].as_i64().unwrap_or(0) as i32;
        if (runc_code, runc_out) != (code, out) {
            failures.push(format!(
                "{name}: runc gave {runc_code:?} {runc_out:?} (stderr {runc_err:?}), berth-oci {code:?} {out:?} (stderr {err:?})"
            ));
        }
        for (rt, code, out, err) in &results {
            if *code != Some(want_code) {
                failures.push(format!(
                    "{name} ({rt}): exit {code:?}, want {want_code}; stderr {err:?}"
                ));
            }
            if let Some(want) = case["stdout"].as_str() {
                if out != want {
                    failures.push(format!("{name} ({rt}): stdout {out:?}, want {want:?}"));
                }
            }
            if let Some(want) = case["contains"].as_str() {
                if !out.contains(want) {
                    failures.push(format!("{name} ({rt}): stdout {out:?} lacks {want:?}"));
                }
            }
        }
    }
    assert!(
        world.leftover_cgroups().is_empty(),
        "{:?}",
        world.leftover_cgroups()
    );
    assert!(
        world.leftover_mounts().is_empty(),
        "{:?}",
        world.leftover_mounts()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn status_of(world: &World, rt: &support::Runtime, id: &str) -> Option<(String, i64)> {
    let _ = world;
    rt.state(id).map(|s| {
        (
            s["status"].as_str().unwrap().to_string(),
            s["pid"].as_i64().unwrap(),
        )
    })
}

#[test]
fn the_lifecycle_is_runcs() {
    let world = World::new();
    let mut seen = Vec::new();
    for rt in &world.runtimes {
        let id = format!("life-{}", rt.name);
        let bundle = world.bundle(&id, "echo started; exec busybox sleep 60");
        let pid_file = world.dir.path().join(format!("{id}.pid"));
        let out = rt.output(&[
            "create",
            "--bundle",
            bundle.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ]);
        assert!(out.status.success(), "{} create: {out:?}", rt.name);
        let pid: i64 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let (created, created_pid) = status_of(&world, rt, &id).unwrap();
        assert_eq!(
            created_pid, pid,
            "{}: the pid file is the state's pid",
            rt.name
        );
        let state = rt.state(&id).unwrap();
        assert_eq!(state["bundle"], bundle.to_str().unwrap(), "{}", rt.name);
        let again = rt.output(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
        let list = rt.output(&["list", "--format", "json"]);
        let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
        let start = rt.output(&["start", &id]);
        let (running, _) = status_of(&world, rt, &id).unwrap();
        let pause = rt.output(&["pause", &id]);
        let (paused, _) = status_of(&world, rt, &id).unwrap();
        let resume = rt.output(&["resume", &id]);
        let (resumed, _) = status_of(&world, rt, &id).unwrap();
        let second_start = rt.output(&["start", &id]);
        let refused_delete = rt.output(&["delete", &id]);
        let ps = rt.output(&["ps", "--format", "json", &id]);
        let pids: Vec<i64> = serde_json::from_slice(&ps.stdout).unwrap();
        let kill = rt.output(&["kill", &id, "KILL"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut stopped = status_of(&world, rt, &id).unwrap();
        while stopped.0 != "stopped" && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            stopped = status_of(&world, rt, &id).unwrap();
        }
        let kill_stopped = rt.output(&["kill", &id, "KILL"]);
        let delete = rt.output(&["delete", &id]);
        let gone = rt.state(&id);
        let delete_missing = rt.output(&["delete", &id]);
        let force_missing = rt.output(&["delete", "--force", &id]);
        seen.push(serde_json::json!({
            "created": created,
            "duplicate_create": again.status.code(),
            "listed": listed.as_array().map(|a| a.len()),
            "start": start.status.code(),
            "running": running,
            "pause": pause.status.code(),
            "paused": paused,
            "resume": resume.status.code(),
            "resumed": resumed,
            "second_start": second_start.status.code(),
            "delete_running": refused_delete.status.code(),
            "ps_is_the_init": pids == vec![pid],
            "kill": kill.status.code(),
            "stopped": stopped,
            "kill_stopped": kill_stopped.status.code(),
            "delete": delete.status.code(),
            "gone": gone.is_none(),
            "delete_missing": delete_missing.status.code(),
            "delete_force_missing": force_missing.status.code(),
        }));
    }
    assert_eq!(seen[0], seen[1], "runc, then berth-oci");
    assert_eq!(seen[1]["created"], "created");
    assert_eq!(seen[1]["running"], "running");
    assert_eq!(seen[1]["paused"], "paused");
    assert_eq!(seen[1]["resumed"], "running");
    assert_eq!(seen[1]["stopped"], serde_json::json!(["stopped", 0]));
    assert!(
        world.leftover_cgroups().is_empty(),
        "{:?}",
        world.leftover_cgroups()
    );
}

#[test]
fn bad_input_is_refused_clearly_and_leaves_nothing() {
    let world = World::new();
    let berth = world.berth();
    let base = world.bundle("bad", "true");
    let good = std::fs::read(base.join("config.json")).unwrap();
    let config: Value = serde_json::from_slice(&good).unwrap();
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    cases.push(("malformed", b"{\"ociVersion\": ".to_vec(), "config.json"));
    let mut wrong = config.clone();
    wrong["process"]["args"] = "sh".into();
    cases.push((
        "wrong-type",
        serde_json::to_vec(&wrong).unwrap(),
        "invalid type",
    ));
    let mut ns = config.clone();
    ns["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "bogus"}));
    cases.push((
        "unknown-namespace",
        serde_json::to_vec(&ns).unwrap(),
        "bogus",
    ));
    let mut rootfs = config.clone();
    rootfs["root"]["path"] = "no-such-rootfs".into();
    cases.push((
        "missing-rootfs",
        serde_json::to_vec(&rootfs).unwrap(),
        "no-such-rootfs",
    ));
    let mut hooks = config.clone();
    hooks["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/false", "args": ["false"]}]});
    cases.push((
        "failing-hook",
        serde_json::to_vec(&hooks).unwrap(),
        "prestart hook 0 (/bin/false)",
    ));
    let mut inside = config.clone();
    inside["hooks"] = serde_json::json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}]});
    cases.push((
        "failing-create-container-hook",
        serde_json::to_vec(&inside).unwrap(),
        "createContainer hook 0 (/bin/sh): exit status: 4",
    ));
    let mut slow = config.clone();
    slow["hooks"] = serde_json::json!({"createContainer": [{"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}]});
    cases.push((
        "slow-create-container-hook",
        serde_json::to_vec(&slow).unwrap(),
        "createContainer hook 0 (/bin/sleep): timed out after 1s",
    ));
    // Refused by field where the host has no such module (this project's machines).
    if !std::path::Path::new("/sys/kernel/security/apparmor").exists() {
        let mut apparmor = config.clone();
        apparmor["process"]["apparmorProfile"] = "docker-default".into();
        cases.push((
            "apparmor-profile",
            serde_json::to_vec(&apparmor).unwrap(),
            "process.apparmorProfile: this host has no AppArmor",
        ));
    }
    if !std::path::Path::new("/sys/fs/selinux").exists() {
        let mut selinux = config.clone();
        selinux["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0".into();
        cases.push((
            "selinux-label",
            serde_json::to_vec(&selinux).unwrap(),
            "process.selinuxLabel: this host has no SELinux",
        ));
    }
    let mut command = config.clone();
    command["process"]["args"] = serde_json::json!(["/no/such/command"]);
    cases.push((
        "missing-command",
        serde_json::to_vec(&command).unwrap(),
        "/no/such/command",
    ));
    for (name, bytes, want) in &cases {
        std::fs::write(base.join("config.json"), bytes).unwrap();
        let out = berth.output(&["create", "--bundle", base.to_str().unwrap(), name]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(want),
            "{name}: {stderr:?} should name {want:?}"
        );
        assert!(!berth.root.join(name).exists(), "{name}: its state is left");
        assert!(
            world.leftover_cgroups().is_empty(),
            "{name}: {:?}",
            world.leftover_cgroups()
        );
    }
    std::fs::write(base.join("config.json"), &good).unwrap();
    for id in ["a/b", "..", "a b"] {
        let out = berth.output(&["create", "--bundle", base.to_str().unwrap(), id]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{id}: {stderr}");
        assert!(stderr.contains("invalid container id"), "{id}: {stderr}");
    }
    let ok = berth.output(&["create", "--bundle", base.to_str().unwrap(), "dup"]);
    assert!(ok.status.success(), "{ok:?}");
    let dup = berth.output(&["create", "--bundle", base.to_str().unwrap(), "dup"]);
    assert!(String::from_utf8_lossy(&dup.stderr).contains("container with id exists: dup"));
    // The error is also a JSON line of the log, for containerd's shim.
    let log = world.dir.path().join("log.json");
    let out = berth
        .command(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "start",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line: Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("nope"), "{line}");
    assert!(berth.output(&["delete", "dup"]).status.success());
    assert!(
        world.leftover_cgroups().is_empty(),
        "{:?}",
        world.leftover_cgroups()
    );
    assert!(world.leftover_mounts().is_empty());
}

/// Receives one fd (the pty master) on an accepted console socket connection.
fn receive_fd(stream: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut name = [0u8; 256];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    recvmsg(
        stream,
        &mut [std::io::IoSliceMut::new(&mut name)],
        &mut control,
        RecvFlags::empty(),
    )
    .expect("recvmsg on the console socket");
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message {
            return fds.next().expect("one fd");
        }
    }
    panic!("no fd on the console socket");
}

#[test]
fn the_console_socket_gets_the_pty_master() {
    use std::io::Read;
    let world = World::new();
    let mut seen = Vec::new();
    for rt in &world.runtimes {
        let id = format!("tty-{}", rt.name);
        let bundle = world.bundle(&id, "[ -t 0 ] && [ -t 1 ] && echo a terminal; exit 2");
        let mut config = world.config(&bundle);
        config["process"]["terminal"] = true.into();
        world.write_config(&bundle, &config);
        let socket = world.dir.path().join(format!("{id}.sock"));
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let mut cmd = rt.command(&[
            "create",
            "--bundle",
            bundle.to_str().unwrap(),
            "--console-socket",
            socket.to_str().unwrap(),
            &id,
        ]);
        let accept = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            receive_fd(&stream)
        });
        let status = cmd.status().unwrap();
        assert!(status.success(), "{} create with a console socket", rt.name);
        let master = accept.join().unwrap();
        assert!(rt.output(&["start", &id]).status.success());
        let mut text = Vec::new();
        // EIO once the container's side is closed: the output is all there then.
        let _ = std::fs::File::from(master).read_to_end(&mut text);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while rt.state(&id).unwrap()["status"] != "stopped" {
            assert!(
                std::time::Instant::now() < deadline,
                "{} did not stop",
                rt.name
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(rt.output(&["delete", &id]).status.success());
        seen.push(String::from_utf8_lossy(&text).into_owned());
    }
    assert_eq!(seen[0], seen[1], "runc, then berth-oci");
    assert_eq!(seen[1], "a terminal\r\n");
    assert!(
        world.leftover_cgroups().is_empty(),
        "{:?}",
        world.leftover_cgroups()
    );
}

#[test]
fn hooks_get_the_state_on_stdin_as_from_runc() {
    let world = World::new();
    let mut seen = Vec::new();
    for rt in &world.runtimes {
        let id = format!("hooks-{}", rt.name);
        let bundle = world.bundle(&id, "exec busybox sleep 60");
        let out_dir = world.dir.path().join(format!("hooks-out-{}", rt.name));
        std::fs::create_dir_all(&out_dir).unwrap();
        // startContainer runs in the container: it writes to the host's directory through
        // a bind of it at /out. createContainer runs before pivot_root: the host's paths.
        let hook = |stage: &str, dir: &str| {
            serde_json::json!({
                "path": "/bin/sh",
                "args": ["sh", "-c", format!("cat > {dir}/{stage}.json; echo $HOOK_ENV >> {dir}/{stage}.env; echo {stage} >> {dir}/order")],
                "env": ["HOOK_ENV=given"],
                "timeout": 5
            })
        };
        let host = out_dir.display().to_string();
        let mut config = world.config(&bundle);
        config["hooks"] = serde_json::json!({
            "prestart": [hook("prestart", &host)],
            "createRuntime": [hook("createRuntime", &host)],
            "createContainer": [hook("createContainer", &host)],
            "startContainer": [hook("startContainer", "/out")],
            "poststart": [hook("poststart", &host)],
            "poststop": [hook("poststop", &host)],
        });
        config["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "destination": "/out", "type": "bind", "source": host, "options": ["rbind", "rw"]
            }));
        world.write_config(&bundle, &config);
        let create = rt.output(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
        assert!(create.status.success(), "{} create: {create:?}", rt.name);
        assert!(rt.output(&["start", &id]).status.success());
        assert!(rt.output(&["delete", "--force", &id]).status.success());
        let mut stages = serde_json::Map::new();
        for stage in [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ] {
            let state: Value = serde_json::from_slice(
                &std::fs::read(out_dir.join(format!("{stage}.json"))).unwrap_or_default(),
            )
            .unwrap_or(Value::Null);
            let env =
                std::fs::read_to_string(out_dir.join(format!("{stage}.env"))).unwrap_or_default();
            stages.insert(
                stage.into(),
                serde_json::json!({"id": state["id"] == id, "status": state["status"], "pid": state["pid"].as_i64().is_some_and(|p| p > 0), "env": env}),
            );
        }
        // The init's own pid, as runc gives it (1 in the container's pid namespace).
        for stage in ["createContainer", "startContainer"] {
            let state: Value = serde_json::from_slice(
                &std::fs::read(out_dir.join(format!("{stage}.json"))).unwrap_or_default(),
            )
            .unwrap_or(Value::Null);
            stages.insert(format!("{stage} pid"), state["pid"].clone());
        }
        // startContainer and poststart race (the init goes on as `start` reads its byte),
        // in runc too: the order is checked up to the first of them.
        let order = std::fs::read_to_string(out_dir.join("order")).unwrap_or_default();
        let order: Vec<&str> = order.lines().collect();
        stages.insert("order".into(), serde_json::json!(order.get(..3)));
        stages.insert("hooks run".into(), order.len().into());
        seen.push(Value::Object(stages));
    }
    assert_eq!(seen[0], seen[1], "runc, then berth-oci");
    assert_eq!(seen[1]["prestart"]["status"], "creating");
    assert_eq!(seen[1]["prestart"]["env"], "given\n");
    assert_eq!(seen[1]["createContainer"]["status"], "creating");
    assert_eq!(seen[1]["startContainer"]["status"], "created");
    assert_eq!(seen[1]["startContainer"]["env"], "given\n");
    assert_eq!(
        seen[1]["order"],
        serde_json::json!(["prestart", "createRuntime", "createContainer"])
    );
    assert_eq!(seen[1]["hooks run"], 6);
    assert!(
        world.leftover_cgroups().is_empty(),
        "{:?}",
        world.leftover_cgroups()
    );
}

#[test]
fn update_sets_the_limits_runc_sets() {
    let world = World::new();
    let mut seen = Vec::new();
    for rt in &world.runtimes {
        let id = format!("update-{}", rt.name);
        let bundle = world.bundle(&id, "exec busybox sleep 60");
        let run = rt.output(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id]);
        assert!(run.status.success(), "{} run -d: {run:?}", rt.name);
        let resources = world.dir.path().join(format!("{id}.json"));
        std::fs::write(
            &resources,
            r#"{"pids": {"limit": 42}, "cpu": {"shares": 512}}"#,
        )
        .unwrap();
        let update = rt.output(&["update", "--resources", resources.to_str().unwrap(), &id]);
        assert!(update.status.success(), "{} update: {update:?}", rt.name);
        // v1 and hybrid: per controller; pure v2: one directory (no cpu.shares there, and
        // the runtimes' share-to-weight formulas are their own, so only pids compare).
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let read = |file: &str| {
            let hierarchy = file.split('.').next().unwrap();
            let path = if v2 {
                format!("/sys/fs/cgroup/{}/{id}/{file}", world.cgroup_parent)
            } else {
                format!(
                    "/sys/fs/cgroup/{hierarchy}/{}/{id}/{file}",
                    world.cgroup_parent
                )
            };
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        let shares = if v2 {
            String::new()
        } else {
            read("cpu.shares")
        };
        seen.push((read("pids.max"), shares));
        assert!(rt.output(&["delete", "--force", &id]).status.success());
    }
    assert_eq!(seen[0], seen[1], "runc, then berth-oci");
    assert_eq!(seen[1].0, "42");
    assert!(
        world.leftover_cgroups().is_empty(),
        "{:?}",
        world.leftover_cgroups()
    );
}

#[test]
fn events_stats_has_runcs_shape() {
    let world = World::new();
    let mut seen = Vec::new();
    for rt in &world.runtimes {
        let id = format!("events-{}", rt.name);
        let bundle = world.bundle(&id, "exec busybox sleep 60");
        assert!(rt
            .output(&["run", "-d", "--bundle", bundle.to_str().unwrap(), &id])
            .status
            .success());
        let out = rt.output(&["events", "--stats", &id]);
        assert!(out.status.success(), "{} events: {out:?}", rt.name);
        let event: Value = serde_json::from_slice(&out.stdout).unwrap();
        seen.push(serde_json::json!({
            "type": event["type"],
            "id": event["id"] == id,
            "pids": event["data"]["pids"]["current"],
            "memory": event["data"]["memory"]["usage"]["usage"].as_u64().is_some_and(|u| u > 0),
            "cpu": event["data"]["cpu"]["usage"]["total"].as_u64().is_some(),
        }));
        assert!(rt.output(&["delete", "--force", &id]).status.success());
        let stopped = rt.output(&["events", "--stats", &id]);
        assert!(
            !stopped.status.success(),
            "{}: events of a deleted container",
            rt.name
        );
    }
    assert_eq!(seen[0], seen[1], "runc, then berth-oci");
    assert_eq!(seen[1]["pids"], 1);
}

#[test]
fn preserved_fds_reach_the_command_as_with_runc() {
    let world = World::new();
    let mut seen = Vec::new();
    for rt in &world.runtimes {
        let id = format!("fds-{}", rt.name);
        let bundle = world.bundle(&id, "echo through fd 3 >&3; busybox ls /proc/self/fd");
        let file = world.dir.path().join(format!("{id}.out"));
        // fd 3 of the runtime: a file the shell opens for it.
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("exec \"$@\" 3>{}", file.display()))
            .arg("sh")
            .arg(&rt.bin)
            .arg("--root")
            .arg(&rt.root)
            .args(["run", "--preserve-fds", "1", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .stdin(std::process::Stdio::null());
        let out = support::run_with_deadline(cmd, std::time::Duration::from_secs(30));
        seen.push((
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            std::fs::read_to_string(&file).unwrap(),
        ));
    }
    assert_eq!(seen[0], seen[1], "runc, then berth-oci");
    assert_eq!(seen[1].2, "through fd 3\n");
}

#[test]
fn a_second_container_joins_the_firsts_ipc_uts_and_pid_namespaces() {
    let world = World::new();
    let mut seen = Vec::new();
    for rt in &world.runtimes {
        let first = format!("ns-first-{}", rt.name);
        let bundle = world.bundle(&first, "exec busybox sleep 60");
        let mut config = world.config(&bundle);
        config["hostname"] = "first".into();
        world.write_config(&bundle, &config);
        let create = rt.output(&["create", "--bundle", bundle.to_str().unwrap(), &first]);
        assert!(create.status.success(), "{} create: {create:?}", rt.name);
        assert!(rt.output(&["start", &first]).status.success());
        let pid = rt.state(&first).unwrap()["pid"].as_i64().unwrap();
        let ns = |name: &str| {
            std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
                .unwrap()
                .display()
                .to_string()
        };
        let second = format!("ns-second-{}", rt.name);
        let bundle = world.bundle(
            &second,
            "busybox hostname; [ $$ -ne 1 ] && echo not pid 1; for n in ipc uts pid; do busybox readlink /proc/self/ns/$n; done; busybox cat /proc/1/cmdline",
        );
        let mut config = world.config(&bundle);
        config.as_object_mut().unwrap().remove("hostname");
        for entry in config["linux"]["namespaces"].as_array_mut().unwrap() {
            let typ = entry["type"].as_str().unwrap().to_string();
            if ["ipc", "uts", "pid"].contains(&typ.as_str()) {
                entry["path"] = format!("/proc/{pid}/ns/{typ}").into();
            }
        }
        world.write_config(&bundle, &config);
        let out = rt.output(&["run", "--bundle", bundle.to_str().unwrap(), &second]);
        assert!(out.status.success(), "{} run: {out:?}", rt.name);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let want = format!(
            "first\nnot pid 1\n{}\n{}\n{}\nbusybox\0sleep\060\0",
            ns("ipc"),
            ns("uts"),
            ns("pid")
        );
        assert_eq!(stdout, want, "{}", rt.name);
        // The first container's name is its own still (the second gave none).
        let hostname = rt.output(&["exec", &first, "busybox", "hostname"]);
        seen.push((
            stdout
                .replace(&ns("ipc"), "IPC")
                .replace(&ns("uts"), "UTS")
                .replace(&ns("pid"), "PID"),
            String::from_utf8_lossy(&hostname.stdout).into_owned(),
        ));
        assert!(rt.output(&["delete", "--force", &first]).status.success());
    }
    assert_eq!(seen[0], seen[1], "runc, then berth-oci");
    assert_eq!(seen[1].1, "first\n");
    assert!(
        world.leftover_cgroups().is_empty(),
        "{:?}",
        world.leftover_cgroups()
    );
    assert!(world.leftover_mounts().is_empty());
}
