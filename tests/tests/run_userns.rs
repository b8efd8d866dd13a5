//! `--userns-remap` and `--uidmap`: a container in a user namespace of its own. Its root is
//! root inside (Docker's capabilities, files of the image owned by 0) and a subordinate
//! uid on the host; the image and the writable layer stay stored as without a user
//! namespace (idmapped mounts); host binds keep the host's owners. The subordinate id
//! files are the test's own (BERTH_SUBUID_FILE, BERTH_SUBGID_FILE), never /etc/subuid.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use berth_tests::container::Sandbox;
use berth_tests::probe::{OpenResult, Status};
use berth_tests::store::describe;

const EACCES: i32 = 13;
const EPERM: i32 = 1;
/// Docker's default capabilities.
const DOCKER_CAPS: u64 = 0xa80425fb;

/// A probe sandbox whose subuid file gives `berth` 200000+65536 and 900000+10 (container
/// ids 0-65535 and 65536-65545) and whose subgid file gives it 300000+65536 (different, to
/// catch a gid taken from the uid map).
fn sandbox() -> Sandbox {
    let sandbox = Sandbox::with_probe();
    std::fs::write(
        sandbox.store.work("subuid"),
        "alice:100000:65536\nberth:200000:65536\nberth:900000:10\n",
    )
    .unwrap();
    std::fs::write(sandbox.store.work("subgid"), "berth:300000:65536\n").unwrap();
    sandbox
}

fn run(sandbox: &Sandbox, args: &[&str]) -> Output {
    sandbox
        .run_command(args)
        .env("BERTH_SUBUID_FILE", sandbox.store.work("subuid"))
        .env("BERTH_SUBGID_FILE", sandbox.store.work("subgid"))
        .output()
        .expect("spawn berth-run")
}

fn ok(sandbox: &Sandbox, args: &[&str]) -> String {
    let out = run(sandbox, args);
    assert!(
        out.status.success(),
        "berth-run {args:?}: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `--rm --userns-remap default FLAGS probe:latest ARGS`.
fn remapped(sandbox: &Sandbox, flags: &[&str], args: &[&str]) -> String {
    let mut all = vec!["--rm", "--userns-remap", "default"];
    all.extend(flags);
    all.push("probe:latest");
    all.extend(args);
    ok(sandbox, &all)
}

fn map_lines(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .filter(|l: &Vec<String>| !l.is_empty())
        .collect()
}

fn status_field(pid: i32, key: &str) -> Vec<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    line.split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect()
}

fn owner(path: &Path) -> (u32, u32) {
    let meta =
        std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.uid(), meta.gid())
}

#[test]
fn a_second_subuid_range_follows_the_first() {
    let sandbox = sandbox();
    let id = ok(
        &sandbox,
        &[
            "-d",
            "--userns-remap",
            "default",
            "--user",
            "65539:0",
            "probe:latest",
            "sh",
            "-c",
            "sleep 60",
        ],
    )
    .trim()
    .to_string();
    let pid = sandbox.run_state(&id)["pid"].as_i64().unwrap() as i32;
    assert_eq!(
        status_field(pid, "Uid"),
        [900003; 4],
        "65539 is 3 into the second range"
    );
    assert_eq!(status_field(pid, "Gid"), [300000; 4]);
    ok(&sandbox, &["rm", "-f", &id]);
    sandbox.assert_nothing_left();
}

#[test]
fn remapped_root_is_root_inside_and_a_subordinate_uid_outside() {
    let sandbox = sandbox();
    let id = ok(
        &sandbox,
        &[
            "-d",
            "--name",
            "remapped",
            "--userns-remap",
            "default",
            "probe:latest",
            "sh",
            "-c",
            "echo made > /made; mkdir -p /home/u && chown 1000:1000 /home/u; sleep 60",
        ],
    )
    .trim()
    .to_string();
    let state = sandbox.run_state(&id);
    let pid = state["pid"].as_i64().unwrap() as i32;
    assert_eq!(
        state["record"]["rootfs"]["userns"]["uid_map"][0],
        serde_json::json!({"container": 0, "host": 200000, "size": 65536}),
        "the record keeps the maps (for exec, for the daemon): {state}"
    );
    // From the host: the container's pid 1 runs as the subordinate ids.
    assert_eq!(status_field(pid, "Uid"), [200000; 4]);
    assert_eq!(status_field(pid, "Gid"), [300000; 4]);
    assert_eq!(
        map_lines(&std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap()),
        [["0", "200000", "65536"], ["65536", "900000", "10"]]
    );

    // exec joins the user namespace: root inside, the image's files are root's.
    let start = Instant::now();
    while !sandbox
        .store
        .root()
        .join("containers")
        .join(&id)
        .join("upper/home/u")
        .exists()
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the container never wrote"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let inside = ok(
        &sandbox,
        &[
            "exec",
            "remapped",
            "sh",
            "-c",
            "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u; id -g; \
             ls -ln /bin/busybox /made; ls -lnd /home/u; grep CapEff /proc/self/status",
        ],
    );
    let parts: Vec<&str> = inside.split("--\n").collect();
    assert_eq!(
        map_lines(parts[0]),
        [["0", "200000", "65536"], ["65536", "900000", "10"]],
        "{inside}"
    );
    let rest: Vec<&str> = parts[2].lines().collect();
    assert_eq!(
        map_lines(parts[1].trim_end()),
        [["0", "300000", "65536"]],
        "{inside}"
    );
    assert_eq!(&rest[..2], ["0", "0"], "{inside}");
    let owners = |line: &str| -> (String, String) {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f[2].to_string(), f[3].to_string())
    };
    assert_eq!(
        owners(rest[2]),
        ("0".into(), "0".into()),
        "busybox: {inside}"
    );
    assert_eq!(owners(rest[3]), ("0".into(), "0".into()), "/made: {inside}");
    assert_eq!(
        owners(rest[4]),
        ("1000".into(), "1000".into()),
        "/home/u: {inside}"
    );
    assert!(rest[5].ends_with("00000000a80425fb"), "{inside}");

    // On disk the writable layer is stored as without a user namespace; through the
    // mounted rootfs the host sees the container's ids shifted.
    let upper = sandbox
        .store
        .root()
        .join("containers")
        .join(&id)
        .join("upper");
    assert_eq!(owner(&upper.join("made")), (0, 0));
    assert_eq!(owner(&upper.join("home/u")), (1000, 1000));
    let rootfs = PathBuf::from(state["record"]["rootfs"]["path"].as_str().unwrap());
    assert_eq!(owner(&rootfs.join("made")), (200000, 300000));
    assert_eq!(owner(&rootfs.join("home/u")), (201000, 301000));
    assert_eq!(owner(&rootfs.join("bin/busybox")), (200000, 300000));

    ok(&sandbox, &["rm", "-f", "remapped"]);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the container's process is gone"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn capabilities_seccomp_and_namespaces_are_dockers_relative_to_the_user_namespace() {
    let sandbox = sandbox();
    let out = remapped(&sandbox, &["--network", "none"], &["probe", "status"]);
    let status = Status::parse(out.as_bytes());
    assert_eq!((status.uid, status.gid, status.euid), (0, 0, 0));
    assert_eq!(status.cap_eff, Some(DOCKER_CAPS), "CapEff");
    assert_eq!(status.cap_bnd, Some(DOCKER_CAPS), "CapBnd");
    assert_eq!(status.seccomp, Some(2), "Docker's seccomp profile");
    assert_eq!(status.fds, vec![0, 1, 2]);
    assert_eq!(status.pid, 1);
    let host_user = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert_ne!(
        status.namespaces.get("user").map(String::as_str),
        Some(host_user.to_str().unwrap()),
        "a user namespace of its own"
    );
    for path in ["/proc", "/dev/pts", "/dev/mqueue", "/dev/shm", "/sys"] {
        assert!(
            status.mount(path).is_some(),
            "{path} is mounted: {:?}",
            status.mounts
        );
    }
    assert!(status.mount("/sys").unwrap().is_readonly());
    // Devices cannot be made in a user namespace: they are the host's, bound.
    let dev = remapped(
        &sandbox,
        &["--network", "none"],
        &[
            "sh",
            "-c",
            "echo x > /dev/null && head -c 4 /dev/zero | wc -c; ls -ln /dev/null",
        ],
    );
    let lines: Vec<&str> = dev.lines().collect();
    assert_eq!(lines[0].trim(), "4", "{dev}");
    assert!(
        lines[1].starts_with("crw-rw-rw-") && lines[1].contains("1,   3"),
        "{dev}"
    );
    // The host's files stay the host's: /proc/sysrq-trigger, a host-root file bound in.
    let refused = OpenResult::parse(
        remapped(
            &sandbox,
            &["--network", "none"],
            &["probe", "open-write", "/proc/sysrq-trigger"],
        )
        .as_bytes(),
    );
    assert!(!refused.ok);
}

#[test]
fn host_binds_keep_host_owners_and_volumes_are_the_containers() {
    let sandbox = sandbox();
    let host_dir = sandbox.store.work("hostdir");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("secret"), "host\n").unwrap();
    let bind = format!("{}:/hostdir", host_dir.display());
    let out = remapped(
        &sandbox,
        &["--network", "none", "-v", &bind],
        &["sh", "-c", "ls -ln /hostdir; cat /hostdir/secret"],
    );
    assert!(
        out.contains(" 65534 ") && out.contains("host"),
        "host root is nobody: {out}"
    );
    let create = remapped(
        &sandbox,
        &["--network", "none", "-v", &bind],
        &["sh", "-c", "echo x > /hostdir/new || echo refused"],
    );
    assert!(
        create.contains("refused"),
        "container root cannot create in a host root's directory: {create}"
    );
    let write = OpenResult::parse(
        remapped(
            &sandbox,
            &["--network", "none", "-v", &bind],
            &["probe", "open-write", "/hostdir/secret"],
        )
        .as_bytes(),
    );
    assert!(
        !write.ok && (write.errno == EACCES || write.errno == EPERM),
        "nor write a host root's file: {write:?}"
    );
    assert!(!host_dir.join("new").exists());

    // A named volume, seeded from the image: stored as without a user namespace, written
    // by the container's root as root.
    let out = remapped(
        &sandbox,
        &["--network", "none", "-v", "etcdata:/etc"],
        &[
            "sh",
            "-c",
            "echo v > /etc/written; ls -ln /etc/passwd /etc/written",
        ],
    );
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((f[2], f[3]), ("0", "0"), "{out}");
    }
    let data = sandbox.store.root().join("volumes/etcdata/_data");
    assert_eq!(owner(&data.join("passwd")), (0, 0), "seeded unshifted");
    assert_eq!(owner(&data.join("written")), (0, 0));
    assert_eq!(
        std::fs::read_to_string(data.join("written")).unwrap(),
        "v\n"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn network_none_and_the_default_bridge_both_work() {
    let sandbox = sandbox();
    let none = remapped(
        &sandbox,
        &["--network", "none"],
        &[
            "sh",
            "-c",
            "ls /sys/class/net; cat /proc/sys/net/ipv4/ping_group_range; \
             busybox ping -c 1 -W 2 127.0.0.1 >/dev/null && echo ping-ok",
        ],
    );
    let lines: Vec<&str> = none.lines().collect();
    assert_eq!(lines[0], "lo", "{none}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "65535"],
        "ICMP sockets for every mapped gid: {none}"
    );
    assert_eq!(
        lines[2], "ping-ok",
        "the namespace owns its network namespace: CAP_NET_RAW counts there: {none}"
    );
    let bridge = remapped(
        &sandbox,
        &["--hostname", "remapped"],
        &[
            "sh",
            "-c",
            "ls /sys/class/net; cat /sys/class/net/eth0/address; hostname; \
             busybox wget -q -T 2 -O /dev/null http://127.0.0.1:1/ 2>&1; echo done",
        ],
    );
    let lines: Vec<&str> = bridge.lines().collect();
    assert_eq!(
        &lines[..2],
        ["eth0", "lo"],
        "sysfs shows the container's own network namespace: {bridge}"
    );
    assert!(lines[2].contains(':'), "{bridge}");
    assert_eq!(lines[3], "remapped");
    assert!(bridge.ends_with("done\n"));
    assert!(
        berth_tests::net::bridge_ports_settled(&sandbox.net.bridge).is_empty(),
        "nothing of the container holds its network namespace: its veth goes with it"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn explicit_maps_users_and_a_read_only_rootfs() {
    let sandbox = sandbox();
    let out = ok(
        &sandbox,
        &[
            "--rm",
            "--network",
            "none",
            "--uidmap",
            "0:400000:1000",
            "--uidmap",
            "1000:500000:100",
            "--gidmap",
            "0:600000:2000",
            "--user",
            "1000:1000",
            "--read-only",
            "--init",
            "probe:latest",
            "sh",
            "-c",
            "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u; \
             touch /x 2>/dev/null || echo read-only",
        ],
    );
    let parts: Vec<&str> = out.split("--\n").collect();
    assert_eq!(
        map_lines(parts[0]),
        [["0", "400000", "1000"], ["1000", "500000", "100"]],
        "{out}"
    );
    assert_eq!(map_lines(parts[1]), [["0", "600000", "2000"]], "{out}");
    assert_eq!(parts[2], "1000\nread-only\n", "{out}");
    sandbox.assert_nothing_left();
}

#[test]
fn bad_user_namespace_flags_are_refused_before_anything_is_made() {
    let sandbox = sandbox();
    std::fs::write(sandbox.store.work("subuid"), "alice:100000:65536\n").unwrap();
    let out = run(
        &sandbox,
        &["--rm", "--userns-remap", "default", "probe:latest", "true"],
    );
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let subuid = sandbox.store.work("subuid").display().to_string();
    assert!(
        stderr.contains(&subuid) && stderr.contains("berth:100000:65536"),
        "names the file and the line to add: {stderr}"
    );
    for (args, wanted) in [
        (
            &["--userns", "host", "--userns-remap", "default"][..],
            "conflicts with --userns-remap",
        ),
        (
            &["--uidmap", "0:100000:10", "--network", "host"][..],
            "--network host",
        ),
        (&["--uidmap", "5:100000:10"][..], "container id 0"),
    ] {
        let mut all = vec!["--rm"];
        all.extend(args);
        all.extend(["probe:latest", "true"]);
        let out = run(&sandbox, &all);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(wanted),
            "{args:?}: {}",
            describe(&out)
        );
    }
    sandbox.assert_nothing_left();
}

/// Runs stage `bin` with the sandbox's dirs and subordinate id files; returns stdout.
fn stage(sandbox: &Sandbox, bin: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut cmd = std::process::Command::new(berth_tests::berth_bin(bin));
    if bin != "berth-enter" {
        cmd.arg("--root")
            .arg(sandbox.store.root())
            .arg("--run-dir")
            .arg(sandbox.store.run_dir());
    }
    cmd.envs(sandbox.net.env())
        .env("BERTH_SUBUID_FILE", sandbox.store.work("subuid"))
        .env("BERTH_SUBGID_FILE", sandbox.store.work("subgid"));
    if bin == "berth-cgroup" {
        cmd.arg("--cgroup-parent").arg(&sandbox.cgroup_parent);
    }
    cmd.args(args);
    let out = berth_tests::store::output_with_input(cmd, input);
    assert!(out.status.success(), "{bin} {args:?}: {}", describe(&out));
    out.stdout
}

#[test]
fn the_pipeline_takes_the_user_namespace_from_the_record_and_remounts_it() {
    let sandbox = sandbox();
    let image = stage(&sandbox, "berth-unpack", &["probe:latest"], b"");
    let mounted = stage(
        &sandbox,
        "berth-mount",
        &["--userns-remap", "default"],
        &image,
    );
    let json: serde_json::Value = serde_json::from_slice(&mounted).unwrap();
    assert_eq!(
        json["rootfs"]["userns"]["gid_map"][0]["host"], 300000,
        "berth-mount records the maps: {json}"
    );
    let record = stage(&sandbox, "berth-net", &[], &mounted);
    let record = stage(&sandbox, "berth-cgroup", &[], &record);
    let script = "cat /proc/self/uid_map; ip -4 addr show eth0 | grep -c inet; echo x > /made";
    let out = stage(
        &sandbox,
        "berth-enter",
        &["--", "sh", "-c", script],
        &record,
    );
    let text = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        map_lines(&lines[..2].join("\n")),
        [["0", "200000", "65536"], ["65536", "900000", "10"]],
        "{text}"
    );
    assert_eq!(lines[2], "1", "{text}");
    stage(&sandbox, "berth-cgroup", &["down"], &record);
    stage(&sandbox, "berth-net", &["down"], &record);
    // Unmounted but kept, then mounted again: the upper dir is stored unshifted, so the
    // same container may come back with its user namespace (or without).
    let kept = stage(&sandbox, "berth-mount", &["down"], &mounted);
    let again = stage(
        &sandbox,
        "berth-mount",
        &["--userns-remap", "default"],
        &kept,
    );
    let out = stage(
        &sandbox,
        "berth-enter",
        &["--", "ls", "-ln", "/made"],
        &again,
    );
    let text = String::from_utf8_lossy(&out);
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!((f[2], f[3]), ("0", "0"), "{text}");
    stage(&sandbox, "berth-mount", &["down", "--remove"], &again);
    assert!(berth_tests::net::bridge_ports_settled(&sandbox.net.bridge).is_empty());
    sandbox.assert_nothing_left();
}
