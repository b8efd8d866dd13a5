//! `import` of plain rootfs tarballs (`docker import`).

use berth_tests::image::{busybox_entries, tar_bytes, Compression};
use berth_tests::store::{describe, parse_record};
use berth_tests::tools::{assert_busybox_in, name_matches};
use berth_tests::{digest_of, hex_part, sha256_hex, Failure, TestStore};
use serde_json::{json, Value};

/// The config blob of `id` in the store, checked against its name.
fn stored_config(store: &TestStore, id: &str) -> Value {
    let path = store.root().join("images/blobs/sha256").join(hex_part(id));
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("config blob {}: {e}", path.display()));
    assert_eq!(
        sha256_hex(&bytes),
        hex_part(id),
        "image id is not the digest of the config"
    );
    serde_json::from_slice(&bytes).expect("config blob is JSON")
}

fn check_imported(store: &TestStore, record: &Value, rootfs_tar: &[u8]) -> Value {
    let id = record["image"]["id"].as_str().expect("record id");
    let config = stored_config(store, id);
    assert_eq!(config["rootfs"]["type"], "layers");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        json!([digest_of(rootfs_tar)]),
        "diff id of the import"
    );
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    let layers = store.record_layers(record);
    assert_eq!(layers.len(), 1, "{record}");
    assert!(layers[0]
        .parent()
        .unwrap()
        .ends_with(hex_part(&digest_of(rootfs_tar))));
    assert_busybox_in(&layers[0]);
    assert!(
        store.tmp_entries().is_empty(),
        "tmp/ left: {:?}",
        store.tmp_entries()
    );
    config
}

#[test]
fn import_gzip_rootfs_with_changes() {
    let store = TestStore::new();
    let tar = tar_bytes(&busybox_entries());
    let path = store.work("rootfs.tar.gz");
    std::fs::write(&path, Compression::Gzip.compress(&tar)).unwrap();
    let record = store.record([
        "import",
        "--change",
        r#"CMD ["sh"]"#,
        "--change",
        "ENV A=b",
        "-m",
        "imported by a test",
        path.to_str().unwrap(),
        "imported/rootfs:1",
    ]);
    let config = check_imported(&store, &record, &tar);
    assert_eq!(record["image"]["config"]["Cmd"], json!(["sh"]), "{record}");
    let env = record["image"]["config"]["Env"]
        .as_array()
        .expect("Env")
        .clone();
    assert!(env.contains(&json!("A=b")), "Env {env:?}");
    assert_eq!(config["config"]["Cmd"], json!(["sh"]));
    let name = record["image"]["name"].as_str().expect("record name");
    assert!(name_matches(name, "imported/rootfs:1"), "name {name}");
    let inspected = store
        .inspect("imported/rootfs:1")
        .expect("inspect the imported image");
    assert_eq!(inspected["Id"], record["image"]["id"]);
}

#[test]
fn import_from_stdin_zstd() {
    let store = TestStore::new();
    let tar = tar_bytes(&busybox_entries());
    let out = store.run_with_stdin(
        ["import", "-", "imported/stdin:1"],
        &Compression::Zstd.compress(&tar),
    );
    assert!(out.status.success(), "import - failed:\n{}", describe(&out));
    let record = parse_record(&out);
    check_imported(&store, &record, &tar);
    assert!(store.inspect("imported/stdin:1").is_some());
}

#[test]
fn import_plain_tar_quiet_prints_the_id() {
    let store = TestStore::new();
    let tar = tar_bytes(&busybox_entries());
    let path = store.work("rootfs.tar");
    std::fs::write(&path, &tar).unwrap();
    let out = store.ok(["import", "-q", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(text.lines().count(), 1, "import -q:\n{}", describe(&out));
    let id = if text.starts_with("sha256:") {
        text.clone()
    } else {
        format!("sha256:{text}")
    };
    assert_eq!(
        hex_part(&id).len(),
        64,
        "import -q should print the full id: {text}"
    );
    stored_config(&store, &id);
    assert_eq!(
        store.inspect(&id).expect("inspect imported id")["Id"],
        id.as_str()
    );
}

#[test]
fn import_applies_every_change_instruction() {
    let store = TestStore::new();
    let tar = tar_bytes(&busybox_entries());
    let path = store.work("rootfs.tar");
    std::fs::write(&path, &tar).unwrap();
    let changes = [
        r#"ENTRYPOINT ["/bin/sh", "-c"]"#,
        r#"CMD ["echo hello"]"#,
        "ENV GREETING=hello",
        "WORKDIR /tmp",
        "USER 1000:1000",
        "EXPOSE 8080/tcp",
        "VOLUME /data",
        "LABEL org.example.k=v",
        "STOPSIGNAL SIGINT",
    ];
    let mut args = vec!["import".to_string()];
    for c in changes {
        args.push("-c".into());
        args.push(c.into());
    }
    args.push(path.to_str().unwrap().into());
    args.push("imported/changes:1".into());
    let record = store.record(&args);
    check_imported(&store, &record, &tar);
    let c = &record["image"]["config"];
    assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c"]), "{c}");
    assert_eq!(c["Cmd"], json!(["echo hello"]), "{c}");
    assert!(
        c["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("GREETING=hello")),
        "{c}"
    );
    assert_eq!(c["WorkingDir"], "/tmp", "{c}");
    assert_eq!(c["User"], "1000:1000", "{c}");
    assert_eq!(c["ExposedPorts"], json!(["8080/tcp"]), "{c}");
    assert_eq!(c["Volumes"], json!(["/data"]), "{c}");
    assert_eq!(c["Labels"]["org.example.k"], "v", "{c}");
    assert_eq!(c["StopSignal"], "SIGINT", "{c}");
}

#[test]
fn import_rejects_unknown_change_instruction() {
    let store = TestStore::new();
    let path = store.work("rootfs.tar");
    std::fs::write(&path, tar_bytes(&busybox_entries())).unwrap();
    let out = store.run(["import", "-c", "RUN rm -rf /", path.to_str().unwrap()]);
    // A usage error (2) or a failed import (125) are both fine; nothing may be left.
    match out.status.code() {
        Some(2) => {}
        _ => Failure::expect(&out).assert_mentions("RUN"),
    }
    assert!(
        store.layer_entries().is_empty(),
        "a layer was left: {:?}",
        store.layer_entries()
    );
    assert!(
        store.blobs().is_empty(),
        "blobs were left: {:?}",
        store.blobs()
    );
}
