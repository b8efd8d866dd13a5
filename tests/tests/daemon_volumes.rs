//! Volumes through berthd with the real docker CLI: create/ls/inspect/rm/prune with labels
//! and filters, `docker run -v` sharing a volume between containers, removal refused while
//! a container refers to one, the local driver's tmpfs and bind options, volumes made by
//! `berth-run -v` on the same root, bad names, and `docker system df`.

use std::process::Output;

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use serde_json::Value;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// The JSON body of a raw answer, and its status code.
fn answer(raw: &str) -> (u16, Value) {
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn volumes_are_created_listed_inspected_filtered_and_removed() {
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);

    assert_eq!(
        daemon
            .docker_ok(["volume", "create", "--label", "tier=db", "data1"])
            .trim(),
        "data1"
    );
    daemon.docker_ok(["volume", "create", "--label", "tier=web", "web1"]);
    let anon = daemon.docker_ok(["volume", "create"]).trim().to_string();
    assert_eq!(anon.len(), 64, "{anon}");
    assert!(anon.bytes().all(|b| b.is_ascii_hexdigit()), "{anon}");
    // Creating one that exists is fine and keeps it.
    daemon.docker_ok(["volume", "create", "data1"]);

    let all = lines(&daemon.docker_ok(["volume", "ls", "-q"]));
    let mut want = vec![anon.clone(), "data1".into(), "web1".into()];
    want.sort();
    assert_eq!(all, want);
    let ls = |filter: &str| lines(&daemon.docker_ok(["volume", "ls", "-q", "--filter", filter]));
    assert_eq!(ls("label=tier=db"), ["data1"]);
    assert_eq!(ls("label=tier"), ["data1", "web1"]);
    assert_eq!(ls("name=web"), ["web1"]);
    assert_eq!(ls("driver=local").len(), 3);
    assert_eq!(ls("dangling=true").len(), 3);
    assert!(ls("dangling=false").is_empty());

    let inspect: Value =
        serde_json::from_str(&daemon.docker_ok(["volume", "inspect", "data1"])).unwrap();
    let v = &inspect[0];
    assert_eq!(v["Name"], "data1");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["tier"], "db");
    let mountpoint = sandbox.store.root().join("volumes/data1/_data");
    assert_eq!(v["Mountpoint"], mountpoint.display().to_string());
    assert!(mountpoint.is_dir());
    assert!(v["CreatedAt"].as_str().unwrap().starts_with("20"), "{v}");
    assert!(
        v.get("UsageData").is_none() || v["UsageData"].is_null(),
        "{v}"
    );

    assert_eq!(daemon.docker_ok(["volume", "rm", "data1"]).trim(), "data1");
    assert!(!sandbox.store.root().join("volumes/data1").exists());
    let out = daemon.docker(["volume", "rm", "data1"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no such volume"), "{}", text(&out));
    let out = daemon.docker(["volume", "inspect", "data1"]);
    assert!(!out.status.success());
    assert!(
        text(&out).to_lowercase().contains("no such volume"),
        "{}",
        text(&out)
    );
    // -f forgives a missing volume.
    daemon.docker_ok(["volume", "rm", "-f", "data1"]);
    let (status, body) = answer(&daemon.http("DELETE", "/volumes/data1", ""));
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("get data1: no such volume"))
    );
    let (status, _) = answer(&daemon.http("PUT", "/volumes/web1", "{}"));
    assert_eq!(status, 503);
    let (status, _) = answer(&daemon.http(
        "POST",
        "/volumes/create",
        r#"{"Name":"x1","Driver":"nfs-plugin"}"#,
    ));
    assert_eq!(status, 404);
    let (status, body) = answer(&daemon.http(
        "POST",
        "/volumes/create",
        r#"{"Name":"x2","DriverOpts":{"bogus":"1"}}"#,
    ));
    assert_eq!(status, 400, "{body}");
    assert!(!sandbox.store.root().join("volumes/x1").exists());
    assert!(!sandbox.store.root().join("volumes/x2").exists());
}

#[test]
fn prune_takes_unused_anonymous_volumes_unless_asked_for_all_or_by_label() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let anon = daemon.docker_ok(["volume", "create"]).trim().to_string();
    daemon.docker_ok(["volume", "create", "named1"]);
    daemon.docker_ok(["volume", "create", "--label", "scratch", "named2"]);
    daemon.docker_ok(["volume", "create", "--label", "scratch", "inuse"]);
    let ctr = daemon.docker_ok(["create", "-v", "inuse:/d", "probe:latest", "true"]);

    let out = daemon.docker_ok(["volume", "prune", "-f"]);
    assert!(out.contains(&anon), "{out}");
    assert_eq!(
        lines(&daemon.docker_ok(["volume", "ls", "-q"])),
        ["inuse", "named1", "named2"]
    );
    let out = daemon.docker_ok(["volume", "prune", "-af", "--filter", "label=scratch"]);
    assert!(out.contains("named2") && !out.contains("inuse"), "{out}");
    assert_eq!(
        lines(&daemon.docker_ok(["volume", "ls", "-q"])),
        ["inuse", "named1"]
    );
    let (status, body) = answer(&daemon.http(
        "POST",
        "/volumes/prune?filters=%7B%22all%22%3A%7B%22true%22%3Atrue%7D%7D",
        "",
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["VolumesDeleted"], serde_json::json!(["named1"]));
    assert_eq!(body["SpaceReclaimed"], 0);
    daemon.docker_ok(["rm", ctr.trim()]);
    sandbox.assert_nothing_left();
}

#[test]
fn docker_run_v_shares_a_volume_and_removal_waits_for_its_containers() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);

    // `run -v` makes the volume it names.
    daemon.docker_ok([
        "run",
        "--rm",
        "-v",
        "shared:/data",
        "probe:latest",
        "sh",
        "-c",
        "echo hello > /data/f",
    ]);
    assert!(daemon.docker_ok(["volume", "ls", "-q"]).contains("shared"));
    let out = daemon.docker_ok([
        "run",
        "--rm",
        "--mount",
        "type=volume,src=shared,dst=/data",
        "probe:latest",
        "cat",
        "/data/f",
    ]);
    assert_eq!(out, "hello\n");

    let id = daemon.docker_ok([
        "run",
        "-d",
        "-v",
        "shared:/data",
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
    let id = id.trim().to_string();
    let mounts: Value =
        serde_json::from_str(&daemon.docker_ok(["inspect", "--format", "{{json .Mounts}}", &id]))
            .unwrap();
    let m = &mounts[0];
    assert_eq!(m["Type"], "volume", "{mounts}");
    assert_eq!(m["Name"], "shared");
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["Destination"], "/data");
    assert_eq!(m["RW"], true);
    assert_eq!(
        m["Source"],
        sandbox
            .store
            .root()
            .join("volumes/shared/_data")
            .display()
            .to_string()
    );
    let out = daemon.docker(["volume", "rm", "shared"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains(&format!("remove shared: volume is in use - [{id}]")),
        "{}",
        text(&out)
    );
    assert!(daemon.docker_ok(["volume", "ls", "-q"]).contains("shared"));
    // Stopped, it still refers to the volume.
    daemon.docker_ok(["stop", "-t", "1", &id]);
    assert!(!daemon.docker(["volume", "rm", "shared"]).status.success());
    assert!(daemon
        .docker_ok(["volume", "ls", "-q", "--filter", "dangling=false"])
        .contains("shared"));
    daemon.docker_ok(["rm", &id]);
    daemon.docker_ok(["volume", "rm", "shared"]);
    assert!(!sandbox.store.root().join("volumes/shared").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn docker_run_v_path_makes_an_anonymous_volume_that_goes_with_its_container() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let id = daemon.docker_ok([
        "run",
        "-d",
        "-v",
        "/anon",
        "probe:latest",
        "sh",
        "-c",
        "echo x > /anon/f; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    let names = lines(&daemon.docker_ok([
        "volume",
        "ls",
        "-q",
        "--filter",
        "label=com.docker.volume.anonymous",
    ]));
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(names[0].len(), 64, "{names:?}");
    // In use: prune keeps it.
    let out = daemon.docker_ok(["volume", "prune", "-f"]);
    assert!(!out.contains(&names[0]), "{out}");
    daemon.docker_ok(["rm", "-f", "-v", id]);
    assert!(daemon.docker_ok(["volume", "ls", "-q"]).trim().is_empty());
    sandbox.assert_nothing_left();
}

#[test]
fn the_local_drivers_tmpfs_and_bind_options_are_mounted() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=64m",
        "tvol",
    ]);
    let v: Value = serde_json::from_str(&daemon.docker_ok(["volume", "inspect", "tvol"])).unwrap();
    assert_eq!(v[0]["Options"]["type"], "tmpfs");
    assert_eq!(v[0]["Options"]["o"], "size=64m");
    let out = daemon.docker_ok([
        "run",
        "--rm",
        "-v",
        "tvol:/t",
        "probe:latest",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts",
    ]);
    assert!(
        out.contains(" /t tmpfs ") && out.contains("size=65536k"),
        "{out}"
    );
    // Mounted as a tmpfs, it is still the volume a container uses.
    let id = daemon.docker_ok([
        "run",
        "-d",
        "-v",
        "tvol:/t",
        "probe:latest",
        "sh",
        "-c",
        "while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    let mounts: Value =
        serde_json::from_str(&daemon.docker_ok(["inspect", "--format", "{{json .Mounts}}", id]))
            .unwrap();
    assert_eq!(mounts[0]["Type"], "volume", "{mounts}");
    assert_eq!(mounts[0]["Name"], "tvol", "{mounts}");
    assert_eq!(
        mounts[0]["Source"],
        sandbox
            .store
            .root()
            .join("volumes/tvol/_data")
            .display()
            .to_string()
    );
    assert!(!daemon.docker(["volume", "rm", "tvol"]).status.success());
    daemon.docker_ok(["rm", "-f", id]);

    let host = sandbox.store.work("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("from-host"), "on the host\n").unwrap();
    let device = format!("device={}", host.display());
    daemon.docker_ok([
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &device,
        "bvol",
    ]);
    let out = daemon.docker_ok([
        "run",
        "--rm",
        "-v",
        "bvol:/b",
        "probe:latest",
        "sh",
        "-c",
        "cat /b/from-host; echo back > /b/from-ctr",
    ]);
    assert_eq!(out, "on the host\n");
    assert_eq!(
        std::fs::read_to_string(host.join("from-ctr")).unwrap(),
        "back\n"
    );
    daemon.docker_ok(["volume", "rm", "tvol", "bvol"]);
    assert!(
        host.join("from-host").exists(),
        "removing the volume keeps the host dir"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn volumes_of_berth_run_and_old_volume_dirs_are_dockers_too() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    sandbox.ok([
        "--rm",
        "-v",
        "native:/data",
        "probe:latest",
        "sh",
        "-c",
        "echo from-berth-run > /data/f",
    ]);
    // A volume directory left by an older berth, without metadata.
    let old = sandbox.store.root().join("volumes/olden/_data");
    std::fs::create_dir_all(&old).unwrap();
    assert_eq!(
        lines(&daemon.docker_ok(["volume", "ls", "-q"])),
        ["native", "olden"]
    );
    let out = daemon.docker_ok([
        "run",
        "--rm",
        "-v",
        "native:/d",
        "probe:latest",
        "cat",
        "/d/f",
    ]);
    assert_eq!(out, "from-berth-run\n");
    // And the other way: a volume made by berthd is berth-run's.
    daemon.docker_ok(["volume", "create", "fromd"]);
    assert!(sandbox
        .ok(["--rm", "-v", "fromd:/d", "probe:latest", "ls", "-a", "/d"])
        .contains('.'));
    daemon.docker_ok(["volume", "rm", "native", "olden", "fromd"]);
    assert!(daemon.docker_ok(["volume", "ls", "-q"]).trim().is_empty());
    sandbox.assert_nothing_left();
}

#[test]
fn bad_volume_names_are_refused_and_nothing_is_made() {
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    for name in ["../x", "a/b", "x", "-dash", ".hidden"] {
        let body = serde_json::json!({ "Name": name }).to_string();
        let (status, answer) = answer(&daemon.http("POST", "/volumes/create", &body));
        assert_eq!(status, 400, "{name}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("includes invalid characters for a local volume name"),
            "{answer}"
        );
    }
    let out = daemon.docker(["volume", "create", "../escape"]);
    assert!(!out.status.success());
    assert!(!sandbox.store.root().join("escape").exists());
    let volumes = sandbox.store.root().join("volumes");
    let left: Vec<_> = std::fs::read_dir(&volumes)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let (status, _) = answer(&daemon.http("POST", "/volumes/create", "{not json"));
    assert_eq!(status, 400);
}

#[test]
fn system_df_counts_images_containers_and_volume_bytes() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "--name",
        "writer",
        "-v",
        "sized:/data",
        "probe:latest",
        "sh",
        "-c",
        "head -c 1048576 /dev/zero > /data/blob; head -c 20000 /dev/zero > /rootfs-file",
    ]);
    let (status, df) = answer(&daemon.http("GET", "/system/df", ""));
    assert_eq!(status, 200, "{df}");
    let volume = df["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "sized")
        .expect("the volume")
        .clone();
    assert_eq!(volume["UsageData"]["Size"], 1048576, "{volume}");
    assert_eq!(volume["UsageData"]["RefCount"], 1, "{volume}");
    let image = &df["Images"][0];
    assert_eq!(image["Containers"], 1, "{image}");
    let image_size = image["Size"].as_i64().unwrap();
    assert!(image_size > 0, "{image}");
    assert_eq!(
        df["LayersSize"].as_i64().unwrap(),
        image_size,
        "one image: {df}"
    );
    assert_eq!(image["SharedSize"], 0, "{image}");
    let ctr = &df["Containers"][0];
    let size_rw = ctr["SizeRw"].as_i64().unwrap();
    assert!((20000..1048576).contains(&size_rw), "{ctr}");
    assert_eq!(ctr["SizeRootFs"].as_i64().unwrap(), size_rw + image_size);
    assert_eq!(df["BuildCache"], serde_json::json!([]));

    let out = daemon.docker_ok(["system", "df"]);
    assert!(
        out.contains("Local Volumes") && out.contains("1.049MB"),
        "{out}"
    );
    let out = daemon.docker_ok(["system", "df", "-v"]);
    assert!(out.contains("sized") && out.contains("writer"), "{out}");
    let (_, only) = answer(&daemon.http("GET", "/system/df?type=volume", ""));
    assert!(
        only.get("Images").is_none() && only["Volumes"].is_array(),
        "{only}"
    );

    daemon.docker_ok(["rm", "writer"]);
    let (_, df) = answer(&daemon.http("GET", "/system/df", ""));
    assert_eq!(df["Volumes"][0]["UsageData"]["RefCount"], 0, "{df}");
    assert_eq!(df["Images"][0]["Containers"], 0, "{df}");
    sandbox.assert_nothing_left();
}
