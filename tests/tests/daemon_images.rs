//! berthd's images through the docker CLI: load, ls (with filters), tag, inspect, history,
//! save (loaded back into another daemon, same ID), rmi; bad input leaves the store as it was.

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::probe::write_probe_image;

#[test]
fn load_list_tag_inspect_history_save_and_remove() {
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    let archive = sandbox.store.work("probe.tar");
    write_probe_image(&archive, "probe:latest");

    let loaded = daemon.docker_ok(["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(loaded.trim(), "Loaded image: probe:latest");
    let id = daemon.docker_ok(["image", "inspect", "probe", "--format", "{{.Id}}"]);
    let id = id.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    daemon.docker_ok(["tag", "probe", "team/probe:v1"]);
    let all = daemon.docker_ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = all.lines().collect();
    names.sort();
    assert_eq!(names, ["probe:latest", "team/probe:v1"]);
    let filtered = daemon.docker_ok([
        "images",
        "--filter",
        "reference=team/*",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert_eq!(filtered.trim(), "team/probe:v1");
    let dangling = daemon.docker_ok(["images", "-q", "--filter", "dangling=true"]);
    assert!(dangling.trim().is_empty(), "{dangling}");

    let inspect = daemon.docker_ok(["image", "inspect", "team/probe:v1"]);
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert_eq!(inspect[0]["Os"], "linux");
    assert!(inspect[0]["Size"].as_u64().unwrap() > 0);
    assert_eq!(inspect[0]["RootFS"]["Type"], "layers");
    let history = daemon.docker_ok(["history", "-q", "probe"]);
    assert_eq!(history.lines().next().unwrap(), &id[7..19]);

    // save, then load into a daemon of another root: the same image.
    let saved = sandbox.store.work("saved.tar");
    daemon.docker_ok(["save", "-o", saved.to_str().unwrap(), "team/probe:v1"]);
    let other_sandbox = Sandbox::new();
    let other = Daemon::start(&other_sandbox);
    let back = other.docker_ok(["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(back.trim(), "Loaded image: team/probe:v1");
    let other_id = other.docker_ok(["image", "inspect", "team/probe:v1", "--format", "{{.Id}}"]);
    assert_eq!(other_id.trim(), id);

    let untag = daemon.docker_ok(["rmi", "team/probe:v1"]);
    assert_eq!(untag.trim(), "Untagged: team/probe:v1");
    let gone = daemon.docker_ok(["rmi", "probe"]);
    assert!(gone.contains("Untagged: probe:latest"), "{gone}");
    assert!(gone.contains(&format!("Deleted: {id}")), "{gone}");
    assert!(daemon.docker_ok(["images", "-q"]).trim().is_empty());
}

#[test]
fn unknown_images_and_bad_archives_get_clear_errors_and_change_nothing() {
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    let archive = sandbox.store.work("probe.tar");
    write_probe_image(&archive, "probe:latest");
    daemon.docker_ok(["load", "-i", archive.to_str().unwrap()]);

    let missing = daemon.docker(["rmi", "nope"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("No such image: nope"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let raw = daemon.http("GET", "/v1.43/images/nope/json", "");
    assert!(
        raw.contains(" 404 ") && raw.contains("No such image: nope"),
        "{raw}"
    );
    let bad_filter = daemon.http("GET", "/v1.43/images/json?filters=%7Bnope", "");
    assert!(bad_filter.contains(" 400 "), "{bad_filter}");

    let before = sandbox.store.snapshot();
    let corrupt = sandbox.store.work("corrupt.tar");
    std::fs::write(&corrupt, b"this is no tar archive").unwrap();
    let out = daemon.docker(["load", "-i", corrupt.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an image archive"), "{err}");
    assert!(
        !err.contains("/tmp/api-"),
        "the daemon's scratch path leaked: {err}"
    );
    assert_eq!(before.diff(&sandbox.store.snapshot()), Vec::<String>::new());
    assert!(
        sandbox.store.tmp_entries().is_empty(),
        "scratch left: {:?}",
        sandbox.store.tmp_entries()
    );
    // berthd keeps serving.
    let names = daemon.docker_ok(["images", "--format", "{{.Repository}}"]);
    assert_eq!(names.trim(), "probe");
}
