//! A hostile build context (a name that climbs out, an absolute name, a symlink out and a
//! file through it, a hard link to a host file, a device node), sent on `berth-build -`'s
//! stdin and to berthd's POST /build: refused with an error naming the entry, nothing
//! written outside the scratch directory, the scratch directory removed, nothing tagged.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::image::{tar_bytes, Entry};

/// The hostile contexts and the entry name each error must quote. `outside` is a host
/// directory of the test's, holding `host-file`.
fn hostile_contexts(outside: &Path) -> Vec<(&'static str, Vec<u8>, String)> {
    let dockerfile = || Entry::file("Dockerfile", "FROM scratch\nCOPY . /\n");
    let out = outside.display().to_string();
    vec![
        (
            "a name that climbs out",
            tar_bytes(&[dockerfile(), Entry::file("../climbed", "x")]),
            "\"../climbed\"".to_string(),
        ),
        (
            "an absolute name",
            tar_bytes(&[dockerfile(), Entry::file(format!("{out}/absolute"), "x")]),
            format!("\"{out}/absolute\""),
        ),
        (
            "a symlink out and a file through it",
            tar_bytes(&[
                dockerfile(),
                Entry::symlink("out", &out),
                Entry::file("out/through", "x"),
            ]),
            "\"out/through\"".to_string(),
        ),
        (
            "a hard link to a host file",
            tar_bytes(&[
                dockerfile(),
                Entry::hardlink("linked", format!("{out}/host-file")),
            ]),
            "\"linked\"".to_string(),
        ),
        (
            "a device node",
            tar_bytes(&[dockerfile(), Entry::char_dev("disk", 8, 0)]),
            "\"disk\"".to_string(),
        ),
    ]
}

fn outside_dir(sandbox: &Sandbox) -> std::path::PathBuf {
    let outside = sandbox.store.work("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("host-file"), "host\n").unwrap();
    outside
}

/// Only `host-file` outside, and no scratch directory left in the store's tmp/.
fn nothing_left(sandbox: &Sandbox, outside: &Path, what: &str) {
    let names: Vec<String> = std::fs::read_dir(outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["host-file"], "{what}: written outside");
    assert_eq!(
        std::fs::read_to_string(outside.join("host-file")).unwrap(),
        "host\n"
    );
    let tmp = sandbox.store.root().join("tmp");
    let left: Vec<String> = std::fs::read_dir(&tmp)
        .map(|dir| {
            dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "{what}: left in {}: {left:?}",
        tmp.display()
    );
}

#[test]
fn berth_build_refuses_a_hostile_context_on_stdin() {
    let sandbox = Sandbox::new();
    let outside = outside_dir(&sandbox);
    for (what, tar, entry) in hostile_contexts(&outside) {
        let mut cmd = sandbox.stage_command("berth-build", ["-t", "hostile", "-"]);
        cmd.env("BERTH_CGROUP_PARENT", &sandbox.cgroup_parent)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn berth-build");
        // The builder may stop reading at the bad entry: a broken pipe is its right.
        let _ = child.stdin.take().unwrap().write_all(&tar);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: built: {stderr}");
        assert!(
            stderr.contains(&format!("tar entry {entry}")),
            "{what}: the error names {entry}: {stderr}"
        );
        nothing_left(&sandbox, &outside, what);
    }
    let listed = sandbox.store.ok(["ls"]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("hostile"),
        "something was tagged"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn berthd_build_refuses_a_hostile_context() {
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    let outside = outside_dir(&sandbox);
    for (what, tar, entry) in hostile_contexts(&outside) {
        let answer = daemon.http_body("POST", "/build?t=hostile", "application/x-tar", &tar);
        let line = answer
            .lines()
            .find(|l| l.contains("errorDetail"))
            .unwrap_or_else(|| panic!("{what}: no error in the stream: {answer}"));
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let message = value["errorDetail"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("tar entry {entry}")),
            "{what}: the error names {entry}: {message}"
        );
        nothing_left(&sandbox, &outside, what);
    }
    let images = daemon.http("GET", "/images/json", "");
    assert!(
        !images.contains("hostile"),
        "something was tagged: {images}"
    );
    sandbox.assert_nothing_left();
}
