//! `berth-cgroup` as a pipeline stage: the record passes through, a container part is made
//! when missing, and failures print `{"error": …}` and exit 125.

#[path = "cgroup_support.rs"]
mod support;

use support::*;

#[test]
fn a_record_keeps_its_container_id_and_errors_follow_the_stage_contract() {
    need_root!();
    let host = Host::new("record");
    let mut record = minimal_record();
    let id = "ab".repeat(32);
    record["container"] = serde_json::json!({"id": id, "created": "2026-01-01T00:00:00Z"});
    record["net"] = serde_json::json!({"kept": true});
    let out = host.run(&["--pids-limit", "10"], Some(&record));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let extended = out.json();
    assert_eq!(extended["container"]["id"], id.as_str());
    assert_eq!(extended["net"]["kept"], true, "unknown parts pass through");
    assert!(path_of(
        &extended,
        if mode_of(&extended) == "v2" {
            "unified"
        } else {
            "pids"
        }
    )
    .ends_with(&id));
    // A second create on a record that has cgroups is refused.
    let twice = host.run(&[], Some(&extended));
    assert_eq!(twice.code, 125);
    assert!(twice.json()["error"]
        .as_str()
        .unwrap()
        .contains("already has cgroups"));
    // down passes the record on to the next teardown stage, without its cgroup part.
    let down = host.run(&["down"], Some(&extended));
    assert_eq!(down.code, 0, "{}", down.stderr);
    let passed = down.json();
    assert_eq!(passed["container"]["id"], id.as_str());
    assert!(passed["cgroup"].is_null(), "{passed}");
    assert_eq!(passed["net"]["kept"], true);
    assert!(host.leftovers().is_empty());
}

#[test]
fn reset_refuses_while_a_container_remains_then_removes_the_parents() {
    need_root!();
    let host = Host::new("reset");
    let record = host.create(&[]);
    assert!(!host.parent_dirs().is_empty());
    let refused = host.run(&["reset"], None);
    assert_eq!(refused.code, 125);
    assert!(
        refused.stdout.is_empty(),
        "a management command: {}",
        refused.stdout
    );
    assert!(
        refused.stderr.starts_with("berth-cgroup: ") && refused.stderr.contains("still in use"),
        "{}",
        refused.stderr
    );
    assert!(
        !host.parent_dirs().is_empty(),
        "a refused reset removes nothing"
    );
    assert_eq!(host.run(&["down"], Some(&record)).code, 0);
    let reset = host.run(&["reset", "--json"], None);
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    assert!(!reset.json()["removed"].as_array().unwrap().is_empty());
    assert!(host.parent_dirs().is_empty(), "{:?}", host.parent_dirs());
    assert_eq!(
        host.run(&["reset"], None).code,
        0,
        "nothing left is success"
    );
}

#[test]
fn failures_print_an_error_and_exit_125() {
    let host = Host::new("errors");
    let empty = host.run(&[], None);
    assert_eq!(empty.code, 125);
    assert!(
        empty.stderr.starts_with("berth-cgroup: "),
        "{}",
        empty.stderr
    );
    assert!(empty.json()["error"]
        .as_str()
        .unwrap()
        .contains("no container record"));
    let upstream = host.run(&[], Some(&serde_json::json!({"error": "no such image: x"})));
    assert_eq!(upstream.code, 125);
    assert!(upstream.json()["error"]
        .as_str()
        .unwrap()
        .contains("no such image: x"));
    let bad = host.run(&["--memory", "12x"], Some(&minimal_record()));
    assert_eq!(bad.code, 125);
    assert!(
        bad.json()["error"].as_str().unwrap().contains("--memory"),
        "{}",
        bad.stdout
    );
    let no_part = host.run(&["stats"], Some(&minimal_record()));
    assert_eq!(no_part.code, 125);
    assert!(no_part.json()["error"]
        .as_str()
        .unwrap()
        .contains("no cgroup part"));
    let bad_swap = host.run(
        &["--memory", "64m", "--memory-swap", "32m"],
        Some(&minimal_record()),
    );
    assert_eq!(bad_swap.code, 125, "{}", bad_swap.stdout);
    assert!(
        host.leftovers().is_empty(),
        "a refused create leaves no container cgroup"
    );
}
