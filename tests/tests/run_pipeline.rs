//! The stages chained by hand make the same container as `berth-run`:
//! `berth-unpack IMAGE | berth-mount | berth-net | berth-cgroup | berth-enter -- CMD`,
//! then each stage's teardown from the saved record.

use std::io::Write;
use std::process::{Command, Stdio};

use berth_tests::berth_bin;
use berth_tests::container::Sandbox;
use berth_tests::probe::Status;
use berth_tests::store::describe;

/// Runs `bin args` with `input` on stdin; returns stdout, asserting success.
fn stage(sandbox: &Sandbox, bin: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    sandbox.stage(bin, args, input)
}

/// `berth-enter -- CMD` fed `record`; asserts success.
fn enter(record: &[u8], command: &[&str]) -> std::process::Output {
    let mut enter = Command::new(berth_bin("berth-enter"))
        .arg("--")
        .args(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    enter.stdin.take().unwrap().write_all(record).unwrap();
    let out = enter.wait_with_output().unwrap();
    assert!(out.status.success(), "berth-enter: {}", describe(&out));
    out
}

type Shape = (
    Option<u64>,
    Option<u64>,
    Option<u32>,
    Vec<i32>,
    Vec<(String, String)>,
);

/// What must be equal between two containers of the same image and flags.
fn shape(status: &Status) -> Shape {
    let mounts = status
        .mounts
        .iter()
        .map(|m| (m.mountpoint.clone(), m.fstype.clone()))
        .collect();
    (
        status.cap_eff,
        status.cap_bnd,
        status.seccomp,
        status.fds.clone(),
        mounts,
    )
}

#[test]
fn pipeline_and_wrapper_make_the_same_container() {
    let sandbox = Sandbox::with_probe();
    let record = stage(&sandbox, "berth-unpack", &["probe:latest"], b"");
    let record = stage(&sandbox, "berth-mount", &["--tmpfs", "/scratch"], &record);
    let record = stage(&sandbox, "berth-net", &[], &record);
    let record = stage(&sandbox, "berth-cgroup", &["--pids-limit", "50"], &record);
    let out = enter(&record, &["probe", "status"]);
    let piped = Status::parse(&out.stdout);

    stage(&sandbox, "berth-cgroup", &["down"], &record);
    stage(&sandbox, "berth-net", &["down"], &record);
    stage(&sandbox, "berth-mount", &["down", "--remove"], &record);
    assert!(
        sandbox.leftover_mounts().is_empty(),
        "{:?}",
        sandbox.leftover_mounts()
    );
    assert!(
        sandbox.leftover_cgroups().is_empty(),
        "{:?}",
        sandbox.leftover_cgroups()
    );

    let wrapped = Status::from_value(
        sandbox.probe(&["--tmpfs", "/scratch", "--pids-limit", "50"], &["status"]),
    );
    assert_eq!(shape(&piped), shape(&wrapped));
    assert_eq!(piped.pid, 1);
    assert!(
        piped
            .cgroup
            .iter()
            .any(|l| l.contains(&sandbox.cgroup_parent)),
        "placed in its cgroup: {:?}",
        piped.cgroup
    );
}

#[test]
fn the_network_stage_gives_the_container_its_address_and_takes_it_back() {
    let sandbox = Sandbox::with_probe();
    let record = stage(&sandbox, "berth-unpack", &["probe:latest"], b"");
    let record = stage(&sandbox, "berth-mount", &[], &record);
    let record = stage(
        &sandbox,
        "berth-net",
        &["--add-host", "db:10.9.8.7"],
        &record,
    );
    let json: serde_json::Value = serde_json::from_slice(&record).unwrap();
    let ip = sandbox.net.default_subnet.host(0);
    assert_eq!(json["network"]["endpoints"][0]["ip"], ip.as_str(), "{json}");
    let record = stage(&sandbox, "berth-cgroup", &[], &record);
    let out = enter(
        &record,
        &["sh", "-c", "ip -4 addr show eth0; ip route; cat /etc/hosts"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("inet {ip}/24")), "{text}");
    assert!(
        text.contains(&format!(
            "default via {}",
            sandbox.net.default_subnet.gateway
        )),
        "{text}"
    );
    assert!(text.contains("10.9.8.7\tdb"), "{text}");
    stage(&sandbox, "berth-cgroup", &["down"], &record);
    let passed_on = stage(&sandbox, "berth-net", &["down"], &record);
    let passed_on: serde_json::Value = serde_json::from_slice(&passed_on).unwrap();
    assert!(
        passed_on.get("network").is_none() && passed_on.get("rootfs").is_some(),
        "{passed_on}"
    );
    stage(&sandbox, "berth-mount", &["down", "--remove"], &record);
    assert!(berth_tests::net::bridge_ports_settled(&sandbox.net.bridge).is_empty());
    assert!(
        sandbox.leftover_mounts().is_empty(),
        "{:?}",
        sandbox.leftover_mounts()
    );
}
