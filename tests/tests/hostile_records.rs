//! Every stage and teardown subcommand refuses a hostile record (an id that is not one, a
//! path-like id, a version from the future, a missing part, garbage) with an error naming
//! the fault, never a panic, and makes nothing; containers are found by full id, unique id
//! prefix or name in berth-mount and berth-net too; a name has one owner however many
//! creates race for it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use berth_tests::berth_bin;
use berth_tests::container::Sandbox;
use berth_tests::net::links_with_prefix;
use berth_tests::store::{describe, output_with_input};
use serde_json::Value;

/// `bin --root … --run-dir … ARGS` with `input` on stdin, whatever its outcome.
fn feed(sandbox: &Sandbox, bin: &str, args: &[&str], input: &[u8]) -> Output {
    if bin != "berth-enter" {
        return sandbox.stage_output(bin, args, input);
    }
    // berth-enter takes no --root: the record names it.
    let mut cmd = Command::new(berth_bin(bin));
    cmd.envs(sandbox.net.env()).args(args);
    output_with_input(cmd, input)
}

fn ok(sandbox: &Sandbox, bin: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let out = feed(sandbox, bin, args, input);
    assert!(out.status.success(), "{bin} {args:?}: {}", describe(&out));
    out.stdout
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// 64 random lowercase hex digits from the kernel.
fn random_hex() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const STAGES: &[(&str, &[&str])] = &[
    ("berth-mount", &[]),
    ("berth-net", &[]),
    ("berth-cgroup", &[]),
    ("berth-enter", &["--", "true"]),
    ("berth-mount", &["down"]),
    ("berth-mount", &["rm"]),
    ("berth-net", &["down"]),
    ("berth-cgroup", &["down"]),
];

#[test]
fn every_stage_refuses_hostile_records_and_makes_nothing() {
    let sandbox = Sandbox::with_probe();
    let good: Value =
        serde_json::from_slice(&ok(&sandbox, "berth-unpack", &["probe:latest"], b"")).unwrap();
    let with_id = |id: &str| {
        let mut record = good.clone();
        record["container"] = serde_json::json!({"id": id, "created": "2026-01-01T00:00:00Z"});
        record.to_string()
    };
    let mut newer = good.clone();
    newer["version"] = 99.into();
    let mut zero = good.clone();
    zero["version"] = 0.into();
    let mut no_image = good.clone();
    no_image.as_object_mut().unwrap().remove("image");
    let hostile: Vec<(&str, String, &str)> = vec![
        ("short id", with_id("abc"), r#"invalid container id "abc""#),
        (
            "path-like id",
            with_id("../x"),
            r#"invalid container id "../x""#,
        ),
        (
            "path-like id",
            with_id("../../x"),
            r#"invalid container id "../../x""#,
        ),
        (
            "version 99",
            newer.to_string(),
            "record version 99 is newer than this berth (1)",
        ),
        ("version 0", zero.to_string(), "record version 0 is invalid"),
        ("no image", no_image.to_string(), "missing field `image`"),
        (
            "garbage",
            "{\"version\":1,".to_string(),
            "not a container record",
        ),
    ];
    for (what, record, fault) in &hostile {
        for (bin, args) in STAGES {
            let out = feed(&sandbox, bin, args, record.as_bytes());
            let code = out.status.code();
            assert!(
                code != Some(0) && code != Some(101) && code.is_some(),
                "{bin} {args:?} on a record with {what}: {}",
                describe(&out)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(fault) && !stderr.contains("panicked"),
                "{bin} {args:?} on a record with {what}: wanted {fault:?}: {}",
                describe(&out)
            );
        }
    }
    for (bin, args) in [
        ("berth-mount", ["down", "--id", "../x"]),
        ("berth-mount", ["rm", "--id", "../../x"]),
        ("berth-net", ["down", "--id", "../x"]),
        ("berth-net", ["down", "--id", "abc"]),
    ] {
        let out = feed(&sandbox, bin, &args, b"");
        assert_eq!(
            out.status.code(),
            Some(125),
            "{bin} {args:?}: {}",
            describe(&out)
        );
        let wanted = format!("No such container: {}", args[2]);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&wanted),
            "{bin} {args:?}: {}",
            describe(&out)
        );
    }
    assert_eq!(
        entries(&sandbox.store.run_dir().join("netns")),
        Vec::<String>::new()
    );
    assert_eq!(
        entries(&sandbox.store.root().join("containers")),
        Vec::<String>::new()
    );
    assert_eq!(
        entries(&sandbox.store.run_dir().join("containers")),
        Vec::<String>::new()
    );
    assert_eq!(links_with_prefix(&sandbox.net.bridge), Vec::<String>::new());
    assert!(!sandbox.store.root().join("x").exists());
    assert!(!sandbox.store.base().join("x").exists());
    sandbox.assert_nothing_left();
}

#[test]
fn short_id_prefixes_and_names_find_containers_in_mount_and_net() {
    let sandbox = Sandbox::with_probe();
    let image: Value =
        serde_json::from_slice(&ok(&sandbox, "berth-unpack", &["probe:latest"], b"")).unwrap();
    // Two ids that share their first six digits and differ in the seventh (and so in the
    // host veth name, which takes nine).
    let base = random_hex();
    let ids = [
        format!("{}a{}", &base[..6], &base[7..]),
        format!("{}b{}", &base[..6], &base[7..]),
    ];
    let mut records = Vec::new();
    for (id, name) in ids.iter().zip(["first", "second"]) {
        let mut record = image.clone();
        record["container"] = serde_json::json!({"id": id, "created": "2026-01-01T00:00:00Z"});
        let record = ok(
            &sandbox,
            "berth-mount",
            &["--name", name],
            record.to_string().as_bytes(),
        );
        records.push(ok(&sandbox, "berth-net", &[], &record));
    }
    let netns = sandbox.store.run_dir().join("netns");
    assert_eq!(entries(&netns).len(), 2);

    let common = &base[..6];
    for (bin, args) in [
        ("berth-net", vec!["down", "--id", common]),
        ("berth-mount", vec!["down", "--id", common]),
        ("berth-mount", vec!["rm", "--id", common]),
    ] {
        let out = feed(&sandbox, bin, &args, b"");
        assert_eq!(
            out.status.code(),
            Some(125),
            "{bin} {args:?}: {}",
            describe(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("ambiguous: it matches 2 containers"),
            "{bin} {args:?}: {}",
            describe(&out)
        );
    }
    let missing = feed(&sandbox, "berth-net", &["down", "--id", "nope"], b"");
    assert_eq!(missing.status.code(), Some(125), "{}", describe(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("No such container: nope"));
    assert_eq!(entries(&netns).len(), 2, "the refusals took nothing down");

    // The first by a prefix, the second by name.
    let first = &ids[0][..7];
    ok(&sandbox, "berth-net", &["down", "--id", first], b"");
    assert!(!netns.join(&ids[0]).exists());
    assert!(netns.join(&ids[1]).exists());
    ok(&sandbox, "berth-mount", &["rm", "--id", first], b"");
    assert!(!sandbox
        .store
        .root()
        .join("containers")
        .join(&ids[0])
        .exists());
    ok(&sandbox, "berth-net", &["down", "--id", "second"], b"");
    ok(&sandbox, "berth-mount", &["rm", "--id", "second"], b"");
    assert_eq!(entries(&netns), Vec::<String>::new());
    sandbox.assert_nothing_left();
}

#[test]
fn twenty_concurrent_creates_of_one_name_have_one_winner() {
    let sandbox = Sandbox::with_probe();
    let record = ok(&sandbox, "berth-unpack", &["probe:latest"], b"");
    // All twenty are started before any is given its record, so they race for the name.
    let racers: Vec<std::process::Child> = (0..20)
        .map(|_| {
            let mut cmd = Command::new(berth_bin("berth-mount"));
            cmd.arg("--root")
                .arg(sandbox.store.root())
                .arg("--run-dir")
                .arg(sandbox.store.run_dir())
                .args(["--name", "same"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().expect("spawn berth-mount")
        })
        .collect();
    let outcomes: Vec<Output> = racers
        .into_iter()
        .map(|mut child| {
            child.stdin.take().unwrap().write_all(&record).unwrap();
            child
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect();
    let (won, lost): (Vec<&Output>, Vec<&Output>) =
        outcomes.iter().partition(|o| o.status.success());
    assert_eq!(
        won.len(),
        1,
        "one winner: {:?}",
        outcomes.iter().map(describe).collect::<Vec<_>>()
    );
    for out in &lost {
        assert_eq!(out.status.code(), Some(125), "{}", describe(out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(r#"The container name "/same" is already in use by container"#),
            "{}",
            describe(out)
        );
    }
    assert_eq!(entries(&sandbox.store.root().join("containers")).len(), 1);
    ok(&sandbox, "berth-mount", &["rm", "--id", "same"], b"");
    sandbox.assert_nothing_left();
}
