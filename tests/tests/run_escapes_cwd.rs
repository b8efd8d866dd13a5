//! Two escapes through the container's paths, run as attacks on a host directory the test
//! made: a working directory through an fd of the host (CVE-2024-21626: `/dev/fd/N/x`,
//! `/proc/self/fd/N`, `/proc/self/cwd/..`, an image symlink to them, the fds berth opens
//! itself, `exec` into a running container), and a mount over or under /proc (runc's
//! checkProcMount: `-v /x:/proc`, `--tmpfs /proc/sys`, through an image symlink `/p ->
//! /proc`). Each must be refused with the path named and leave nothing; the normal cases
//! (`-w /tmp/new`, a bind over /proc/cpuinfo) still work.

use std::fs::File;
use std::path::Path;
use std::process::Output;

use berth_tests::container::Sandbox;
use berth_tests::escape::{assert_untouched, load_hostile, target_dir, with_fd};
use berth_tests::image::Entry;
use berth_tests::probe::Status;
use berth_tests::store::describe;

/// The fd number the caller leaves to berth in these attacks.
const HELD: i32 = 7;

/// `berth-run ARGS` with `held` open as fd 7, as `berth-run … 7<dir` from a shell.
fn run_holding(sandbox: &Sandbox, held: &File, args: &[&str]) -> Output {
    let mut cmd = sandbox.run_command(args);
    with_fd(&mut cmd, held, HELD)
        .output()
        .expect("spawn berth-run")
}

fn assert_refused(out: &Output, code: i32, names: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(names),
        "the error must name {names}: {}",
        describe(out)
    );
}

/// Fails if an entry called `name` exists anywhere below `dir` (symlinks not followed).
fn assert_nowhere_below(dir: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        assert!(
            entry.file_name() != name,
            "{} was created on the host",
            path.display()
        );
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            assert_nowhere_below(&path, name);
        }
    }
}

#[test]
fn a_workdir_through_a_callers_fd_is_refused_before_anything_is_made() {
    let sandbox = Sandbox::with_probe();
    let outside = target_dir(&sandbox);
    let held = File::open(&outside).unwrap();
    for workdir in [
        "/dev/fd/7/x",
        "/dev/fd/7",
        "/dev/fd/7/../../..",
        "/proc/self/fd/7/x",
        "/proc/self/fd/7",
        "/proc/self/cwd/..",
        "/proc/self/cwd/x",
        "/proc/1/cwd/x",
        "/proc/thread-self/fd/7/x",
    ] {
        let args = [
            "--rm",
            "--network",
            "none",
            "-w",
            workdir,
            "probe:latest",
            "probe",
            "status",
        ];
        let out = run_holding(&sandbox, &held, &args);
        assert_refused(&out, 125, workdir);
        assert!(
            out.stdout.is_empty(),
            "the command must not run: {}",
            describe(&out)
        );
        assert_untouched(&outside);
    }
    sandbox.assert_nothing_left();
}

#[test]
fn an_image_symlink_to_a_magic_link_is_no_workdir() {
    let sandbox = Sandbox::new();
    let outside = target_dir(&sandbox);
    let held = File::open(&outside).unwrap();
    load_hostile(
        &sandbox,
        "evil-cwd:1",
        vec![
            Entry::symlink("escape", "/proc/self/fd/7"),
            Entry::symlink("fds", "/dev/fd"),
            Entry::symlink("up", "/proc/self/cwd/.."),
        ],
    );
    for workdir in ["/escape", "/escape/x", "/fds/7/x", "/up", "/up/x"] {
        let args = [
            "--rm",
            "--network",
            "none",
            "-w",
            workdir,
            "evil-cwd:1",
            "probe",
            "status",
        ];
        let out = run_holding(&sandbox, &held, &args);
        assert_refused(&out, 125, workdir);
        assert_untouched(&outside);
    }
    sandbox.assert_nothing_left();
}

/// Every fd number berth or its caller could leave the container's process at the time
/// the working directory is resolved: none reaches the host, and the command gets only
/// its stdio (the layer directories, cgroup directories, network namespace and pipes
/// berth opened for the start are closed before).
#[test]
fn no_fd_berth_opened_reaches_the_host_through_the_workdir() {
    let sandbox = Sandbox::with_probe();
    let outside = target_dir(&sandbox);
    let held = File::open(&outside).unwrap();
    let name = format!("berth-escape-{}", std::process::id());
    for n in 3..=24 {
        let workdir = format!("/dev/fd/{n}/{name}");
        let args = ["--rm", "-w", &workdir, "probe:latest", "probe", "status"];
        let out = run_holding(&sandbox, &held, &args);
        assert_ne!(out.status.code(), Some(0), "{workdir}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&workdir),
            "{}",
            describe(&out)
        );
    }
    assert_untouched(&outside);
    assert_nowhere_below(sandbox.store.base(), &name);
    // A cgroup made below the container's would have kept its directory.
    sandbox.assert_nothing_left();

    let out = run_holding(
        &sandbox,
        &held,
        &["--rm", "probe:latest", "probe", "status"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let status = Status::parse(&out.stdout);
    assert_eq!(
        status.fds,
        [0, 1, 2],
        "the command holds {:?}",
        status.fd_links
    );
}

#[test]
fn exec_into_a_running_container_cannot_use_a_host_fd_as_workdir() {
    let sandbox = Sandbox::with_probe();
    let outside = target_dir(&sandbox);
    let held = File::open(&outside).unwrap();
    let id = sandbox.detach(&["--network", "none", "probe:latest", "probe", "sleep", "60"]);
    for workdir in ["/dev/fd/7/x", "/proc/self/fd/7/x", "/proc/self/cwd/.."] {
        let out = run_holding(
            &sandbox,
            &held,
            &["exec", "-w", workdir, &id, "probe", "status"],
        );
        assert_refused(&out, 125, workdir);
        assert_untouched(&outside);
    }
    let out = run_holding(&sandbox, &held, &["exec", &id, "probe", "status"]);
    assert!(out.status.success(), "{}", describe(&out));
    let status = Status::parse(&out.stdout);
    assert_eq!(
        status.fds,
        [0, 1, 2],
        "the exec'd process holds {:?}",
        status.fd_links
    );
    let out = run_holding(
        &sandbox,
        &held,
        &["exec", "-w", "/tmp/made/by/exec", &id, "probe", "status"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        Status::parse(&out.stdout).cwd.as_deref(),
        Some("/tmp/made/by/exec")
    );
    sandbox.ok(["rm", "-f", &id]);
    sandbox.assert_nothing_left();
}

#[test]
fn berth_enter_resolves_the_workdir_inside_the_container_too() {
    let sandbox = Sandbox::with_probe();
    let outside = target_dir(&sandbox);
    let held = File::open(&outside).unwrap();
    let record = sandbox.stage("berth-unpack", &["probe:latest"], b"");
    let record = sandbox.stage("berth-mount", &[], &record);
    let record_file = sandbox.store.work("record.json");
    std::fs::write(&record_file, &record).unwrap();
    let mut enter = std::process::Command::new(berth_tests::berth_bin("berth-enter"));
    enter
        .args(["-w", "/dev/fd/7/x", "--", "probe", "status"])
        .stdin(File::open(&record_file).unwrap());
    let out = with_fd(&mut enter, &held, HELD).output().unwrap();
    assert_refused(&out, 125, "/dev/fd/7/x");
    assert_untouched(&outside);
    let mut enter = std::process::Command::new(berth_tests::berth_bin("berth-enter"));
    enter
        .args(["--", "probe", "status"])
        .stdin(File::open(&record_file).unwrap());
    let out = with_fd(&mut enter, &held, HELD).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let status = Status::parse(&out.stdout);
    assert_eq!(
        status.fds,
        [0, 1, 2],
        "the command holds {:?}",
        status.fd_links
    );
    sandbox.stage("berth-mount", &["down", "--remove"], &record);
    sandbox.assert_nothing_left();
}

#[test]
fn ordinary_workdirs_still_work() {
    let sandbox = Sandbox::new();
    load_hostile(&sandbox, "cwd-link:1", vec![Entry::symlink("work", "/tmp")]);
    let cwd = |flags: &[&str]| {
        let mut args = vec!["--rm", "--network", "none"];
        args.extend(flags);
        args.extend(["cwd-link:1", "probe", "status"]);
        let out = sandbox.run(&args);
        assert!(out.status.success(), "{flags:?}: {}", describe(&out));
        Status::parse(&out.stdout).cwd
    };
    assert_eq!(cwd(&[]).as_deref(), Some("/"));
    // Created inside the container, as docker does, also for a user that is not root.
    assert_eq!(
        cwd(&["-w", "/tmp/new/deep"]).as_deref(),
        Some("/tmp/new/deep")
    );
    assert_eq!(
        cwd(&["--user", "65534", "-w", "/home/made"]).as_deref(),
        Some("/home/made")
    );
    // A symlink of the image resolves inside it.
    assert_eq!(cwd(&["-w", "/work/sub"]).as_deref(), Some("/tmp/sub"));
    assert_eq!(cwd(&["-w", "/work/../etc"]).as_deref(), Some("/etc"));
    let out = sandbox.run([
        "--rm",
        "--network",
        "none",
        "-w",
        "/etc/passwd",
        "cwd-link:1",
        "true",
    ]);
    assert_refused(&out, 125, "/etc/passwd");
    sandbox.assert_nothing_left();
}

#[test]
fn mounts_over_or_under_proc_are_refused() {
    let sandbox = Sandbox::new();
    let source = target_dir(&sandbox);
    load_hostile(
        &sandbox,
        "proc-link:1",
        vec![
            Entry::symlink("p", "/proc"),
            Entry::symlink("s", "../proc/sys"),
            Entry::symlink("dangling", "/proc/no/such"),
        ],
    );
    let src = source.display().to_string();
    let bind = |target: &str| format!("{src}:{target}");
    for (flag, value, target) in [
        ("-v", bind("/proc"), "/proc"),
        ("-v", bind("/proc/sys"), "/proc/sys"),
        ("-v", bind("/proc/self/fd"), "/proc/self/fd"),
        ("-v", bind("/proc/./sys/../sys"), "/proc/sys"),
        ("-v", "procvol:/proc".into(), "/proc"),
        ("-v", "/proc/sys/kernel".into(), "/proc/sys/kernel"),
        ("--tmpfs", "/proc".into(), "/proc"),
        ("--tmpfs", "/proc/sys/kernel".into(), "/proc/sys/kernel"),
        ("-v", bind("/p"), "/p"),
        ("-v", bind("/p/sys"), "/p/sys"),
        ("-v", bind("/s"), "/s"),
        ("-v", bind("/dangling"), "/dangling"),
        ("--tmpfs", "/p/sys/kernel".into(), "/p/sys/kernel"),
    ] {
        let out = sandbox.run([
            "--rm",
            "--network",
            "none",
            flag,
            &value,
            "proc-link:1",
            "true",
        ]);
        assert_refused(&out, 125, &format!("invalid mount target {target}"));
        assert_untouched(&source);
        sandbox.assert_nothing_left();
    }
    let volumes: Vec<_> = std::fs::read_dir(sandbox.store.root().join("volumes"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(volumes.is_empty(), "no volume may be made: {volumes:?}");
}

/// A record changed after berth-mount checked it: berth-enter checks each target again
/// where it mounts it.
#[test]
fn berth_enter_refuses_a_proc_target_in_the_record() {
    let sandbox = Sandbox::new();
    let source = target_dir(&sandbox);
    load_hostile(&sandbox, "proc-link:1", vec![Entry::symlink("p", "/proc")]);
    let record = sandbox.stage("berth-unpack", &["proc-link:1"], b"");
    let record = sandbox.stage("berth-mount", &[], &record);
    let entries = [
        serde_json::json!({"kind": "tmpfs", "target": "/p/sys"}),
        serde_json::json!({"kind": "bind", "source": source, "target": "/proc"}),
        serde_json::json!({"kind": "bind", "source": source, "target": "/p/self"}),
    ];
    for entry in entries {
        let mut edited: serde_json::Value = serde_json::from_slice(&record).unwrap();
        edited["rootfs"]["mounts"] = serde_json::json!([entry.clone()]);
        let edited = serde_json::to_vec(&edited).unwrap();
        let mut enter = std::process::Command::new(berth_tests::berth_bin("berth-enter"));
        enter.args(["--", "true"]);
        let out = berth_tests::store::output_with_input(enter, &edited);
        let target = entry["target"].as_str().unwrap();
        assert_refused(&out, 125, &format!("invalid mount target {target}"));
        assert_untouched(&source);
    }
    sandbox.stage("berth-mount", &["down", "--remove"], &record);
    sandbox.assert_nothing_left();
}

#[test]
fn binds_over_lxcfs_files_in_proc_work() {
    let sandbox = Sandbox::new();
    load_hostile(&sandbox, "proc-link:1", vec![Entry::symlink("p", "/proc")]);
    let cpuinfo = sandbox.store.work("cpuinfo");
    std::fs::write(&cpuinfo, "processor : emulated\n").unwrap();
    let uptime = sandbox.store.work("uptime");
    std::fs::write(&uptime, "12.00 34.00\n").unwrap();
    let out = sandbox.run([
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{}:/proc/cpuinfo:ro", cpuinfo.display()),
        "-v",
        &format!("{}:/p/uptime", uptime.display()),
        "proc-link:1",
        "cat",
        "/proc/cpuinfo",
        "/proc/uptime",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "processor : emulated\n12.00 34.00\n"
    );
    sandbox.assert_nothing_left();
}
