//! Exit codes, signals, the run flags docker users rely on, and volumes.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use berth_tests::container::Sandbox;
use berth_tests::store::describe;

#[test]
fn exit_codes_follow_docker() {
    let sandbox = Sandbox::with_probe();
    assert_eq!(
        sandbox
            .run(["--rm", "probe:latest", "sh", "-c", "exit 7"])
            .status
            .code(),
        Some(7)
    );
    let missing = sandbox.run(["--rm", "probe:latest", "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127), "{}", describe(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-command"));
    let not_exec = sandbox.run(["--rm", "probe:latest", "/etc/passwd"]);
    assert_eq!(not_exec.status.code(), Some(126), "{}", describe(&not_exec));
    let no_image = sandbox.run(["--rm", "no-such-image:1", "true"]);
    assert_eq!(no_image.status.code(), Some(125), "{}", describe(&no_image));
    assert!(String::from_utf8_lossy(&no_image.stderr).contains("no-such-image"));
    assert!(
        sandbox.leftover_mounts().is_empty() && sandbox.leftover_cgroups().is_empty(),
        "a failed run leaves nothing"
    );
}

#[test]
fn signals_are_forwarded_to_the_container() {
    let sandbox = Sandbox::with_probe();
    let mut child = sandbox
        .run_command(["--rm", "probe:latest", "probe", "signals"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert!(ready.contains("ready"), "{ready}");
    let pid = child.id() as i32;
    send(pid, 10); // SIGUSR1
    let got = lines.next().unwrap().unwrap();
    assert!(got.contains("SIGUSR1"), "{got}");
    send(pid, 15); // SIGTERM
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    assert_eq!(
        status,
        Some(143),
        "the probe exits 143 on SIGTERM and berth-run passes it on"
    );
}

fn send(pid: i32, sig: i32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill has no memory effects; the pid is our own child.
    unsafe { kill(pid, sig) };
}

fn wait_timeout(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

#[test]
fn env_workdir_user_entrypoint_and_hostname() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.ok([
        "--rm",
        "-e",
        "GREETING=hi",
        "-w",
        "/srv/app",
        "--user",
        "65534",
        "--hostname",
        "web",
        "probe:latest",
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(id -u) $(hostname) $HOME",
    ]);
    assert_eq!(
        out.trim(),
        "hi /srv/app 65534 web /",
        "an unknown uid gets HOME=/"
    );
    let out = sandbox.ok([
        "--rm",
        "--entrypoint",
        "/bin/busybox",
        "probe:latest",
        "echo",
        "from",
        "entrypoint",
    ]);
    assert_eq!(out.trim(), "from entrypoint");
    let unknown = sandbox.run(["--rm", "--user", "mallory", "probe:latest", "true"]);
    assert_eq!(
        unknown.status.code(),
        Some(125),
        "an unknown user is an error, never root: {}",
        describe(&unknown)
    );
}

#[test]
fn a_named_volume_keeps_its_data_across_runs() {
    let sandbox = Sandbox::with_probe();
    sandbox.ok([
        "--rm",
        "-v",
        "keep:/data",
        "probe:latest",
        "sh",
        "-c",
        "echo persisted > /data/f",
    ]);
    let out = sandbox.ok(["--rm", "-v", "keep:/data", "probe:latest", "cat", "/data/f"]);
    assert_eq!(out.trim(), "persisted");
}

#[test]
fn bind_mount_and_read_only_rootfs() {
    let sandbox = Sandbox::with_probe();
    let host_dir = sandbox.store.work("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("in"), "from host").unwrap();
    let spec = format!("{}:/mnt/shared:ro", host_dir.display());
    let out = sandbox.run([
        "--rm",
        "--read-only",
        "-v",
        &spec,
        "probe:latest",
        "sh",
        "-c",
        "cat /mnt/shared/in; touch /mnt/shared/x || echo ro-bind; touch /x || echo ro-root",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("from host") && text.contains("ro-bind") && text.contains("ro-root"),
        "{}",
        describe(&out)
    );
    assert!(!host_dir.join("x").exists());
}

#[test]
fn an_image_in_use_by_a_container_is_not_removed() {
    let sandbox = Sandbox::with_probe();
    sandbox.ok(["probe:latest", "sh", "-c", "exit 0"]);
    let refused = sandbox.store.run(["rm", "probe:latest"]);
    assert_eq!(refused.status.code(), Some(125), "{}", describe(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("used by container"));
    sandbox.store.ok(["prune"]);
    let record = sandbox.store.record(["probe:latest"]);
    for layer in sandbox.store.record_layers(&record) {
        assert!(
            layer.is_dir(),
            "prune keeps {} while a container uses it",
            layer.display()
        );
    }
    let containers = sandbox.store.root().join("containers");
    for entry in std::fs::read_dir(&containers).unwrap().flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        let out = std::process::Command::new(berth_tests::berth_bin("berth-mount"))
            .arg("--root")
            .arg(sandbox.store.root())
            .arg("--run-dir")
            .arg(sandbox.store.run_dir())
            .args(["rm", "--id", &id])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    }
    sandbox.store.ok(["rm", "probe:latest"]);
}

#[test]
fn init_is_pid_one_reaps_orphans_and_passes_signals_on() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.ok([
        "--rm", "--init", "probe:latest", "sh", "-c",
        "cat /proc/1/comm; echo $$; (sh -c 'sleep 0.1' &); sleep 0.6; ps -o stat,comm | grep -c '^Z' || true",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "berth-init", "{out}");
    assert_ne!(lines[1], "1", "the command is not pid 1: {out}");
    assert_eq!(lines[2], "0", "the orphan was reaped: {out}");
    assert_eq!(
        sandbox
            .run(["--rm", "--init", "probe:latest", "sh", "-c", "exit 9"])
            .status
            .code(),
        Some(9)
    );
    assert_eq!(
        sandbox
            .run(["--rm", "--init", "probe:latest", "no-such-command"])
            .status
            .code(),
        Some(127)
    );

    let mut child = sandbox
        .run_command(["--rm", "--init", "probe:latest", "probe", "signals"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().contains("ready"));
    send(child.id() as i32, 15);
    assert_eq!(
        wait_timeout(&mut child, Duration::from_secs(10)),
        Some(143),
        "SIGTERM reached the command through berth-init"
    );
}

#[test]
fn a_bad_flag_is_refused_before_anything_is_made() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.run(["--rm", "--memory", "12x", "probe:latest", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--memory"),
        "{}",
        describe(&out)
    );
    assert!(
        !sandbox.store.root().join("containers").exists()
            || std::fs::read_dir(sandbox.store.root().join("containers"))
                .unwrap()
                .next()
                .is_none()
    );
    assert!(sandbox.leftover_cgroups().is_empty() && sandbox.leftover_mounts().is_empty());
}

#[test]
fn a_missing_image_says_how_to_load_one() {
    let sandbox = Sandbox::new();
    let hint = "Unable to find image 'alpine:3.19' locally: load one with \
                'docker save alpine:3.19 | berth-unpack load' (or berth-unpack load FILE)";
    for args in [&["--rm", "alpine:3.19", "true"][..], &["-d", "alpine:3.19"]] {
        let out = sandbox.run(args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(hint),
            "{args:?}: {}",
            describe(&out)
        );
    }
    // The pipeline says the same: berth-unpack's error, and berth-mount passing it on.
    let unpacked = sandbox.stage_output("berth-unpack", &["alpine:3.19"], b"");
    assert_eq!(unpacked.status.code(), Some(125), "{}", describe(&unpacked));
    assert!(
        String::from_utf8_lossy(&unpacked.stderr).contains(hint),
        "{}",
        describe(&unpacked)
    );
    let mounted = sandbox.stage_output("berth-mount", &[], &unpacked.stdout);
    assert_eq!(mounted.status.code(), Some(125), "{}", describe(&mounted));
    assert!(
        String::from_utf8_lossy(&mounted.stderr).contains(hint),
        "{}",
        describe(&mounted)
    );
    sandbox.assert_nothing_left();
}
