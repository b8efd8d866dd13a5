//! A container from `berth-run` is isolated and hardened like Docker's default: checked
//! from inside with the probe and busybox.

use berth_tests::container::Sandbox;
use berth_tests::probe::{parse_syscalls, Status};

const EPERM: i32 = 1;

#[test]
fn pid_one_hostname_and_no_host_processes() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.ok([
        "--rm",
        "--hostname",
        "box1",
        "probe:latest",
        "sh",
        "-c",
        "echo $$; hostname; ls /proc | grep -c '^[0-9]'",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "the command is pid 1: {out}");
    assert_eq!(lines[1], "box1");
    let pids: usize = lines[2].parse().unwrap();
    assert!(
        pids <= 3,
        "only the container's processes are visible, saw {pids}"
    );
}

#[test]
fn capabilities_seccomp_and_fds_match_docker() {
    let sandbox = Sandbox::with_probe();
    let status = Status::from_value(sandbox.probe(&[], &["status"]));
    assert_eq!(status.cap_eff, Some(0xa80425fb), "CapEff");
    assert_eq!(status.cap_prm, Some(0xa80425fb), "CapPrm");
    assert_eq!(status.cap_bnd, Some(0xa80425fb), "CapBnd");
    assert_eq!(status.cap_inh, Some(0), "CapInh");
    assert_eq!(status.cap_amb, Some(0), "CapAmb");
    assert_eq!(status.seccomp, Some(2), "seccomp filter mode");
    assert_eq!(
        status.no_new_privs,
        Some(0),
        "no_new_privs is off by default, as in docker"
    );
    assert_eq!(status.uid, 0);
    assert_eq!(
        status.fds,
        vec![0, 1, 2],
        "only stdio crosses into the container (CVE-2024-21626)"
    );
}

#[test]
fn non_root_user_has_no_effective_caps_but_same_bounding_set() {
    let sandbox = Sandbox::with_probe();
    let status = Status::from_value(sandbox.probe(&["--user", "65534:65534"], &["status"]));
    assert_eq!((status.uid, status.gid), (65534, 65534));
    assert_eq!(status.cap_eff, Some(0));
    assert_eq!(status.cap_prm, Some(0));
    assert_eq!(status.cap_bnd, Some(0xa80425fb));
    assert_eq!(
        status.groups,
        vec![65534],
        "no supplementary group leaks from the host"
    );
}

#[test]
fn blocked_syscalls_get_eperm_and_allowed_ones_work() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.run(["--rm", "probe:latest", "probe", "syscalls"]);
    assert!(
        out.status.success(),
        "{}",
        berth_tests::store::describe(&out)
    );
    let results = parse_syscalls(&out.stdout);
    for name in [
        "mount",
        "unshare_newns",
        "keyctl",
        "add_key",
        "kexec_load",
        "init_module",
        "bpf",
        "perf_event_open",
        "open_by_handle_at",
        "socket_vsock",
    ] {
        let r = results
            .get(name)
            .unwrap_or_else(|| panic!("probe reported no {name}: {results:?}"));
        assert!(r.failed_with(EPERM), "{name} should fail with EPERM: {r:?}");
    }
    assert!(
        results["clone3"].failed_with(38),
        "clone3 gets ENOSYS: {:?}",
        results["clone3"]
    );
    assert!(results["getppid"].succeeded());
    assert!(results["socket_inet"].succeeded());
    // The i386 entry point (32-bit programs, int 0x80) gets Docker's policy too, in i386's
    // numbers: allowed calls work, blocked ones fail with EPERM, nothing is killed.
    let i386 = |name: &str| results[name];
    assert!(i386("i386_getpid").succeeded(), "{:?}", i386("i386_getpid"));
    for name in ["i386_keyctl", "i386_mount", "i386_personality_set"] {
        assert!(i386(name).failed_with(EPERM), "{name}: {:?}", i386(name));
    }
    // x32 calls pass the filter as Docker's do; this kernel has no x32 ABI (ENOSYS).
    let x32 = results["x32_getpid"];
    assert!(x32.succeeded() || x32.failed_with(38), "{x32:?}");
}

#[test]
fn proc_sys_and_sysrq_are_read_only() {
    let sandbox = Sandbox::with_probe();
    for file in [
        "/proc/sysrq-trigger",
        "/proc/sys/kernel/hostname",
        "/sys/kernel/uevent_helper",
    ] {
        let result = sandbox.probe(&[], &["open-write", file]);
        assert_eq!(result["ok"], false, "{file} must not be writable: {result}");
    }
}

#[test]
fn privileged_lifts_the_defaults() {
    let sandbox = Sandbox::with_probe();
    let status = Status::from_value(sandbox.probe(&["--privileged"], &["status"]));
    assert_eq!(status.seccomp, Some(0));
    assert!(status.cap_eff.unwrap_or(0).count_ones() > 14);
}

#[test]
fn cap_add_and_drop_change_the_sets() {
    let sandbox = Sandbox::with_probe();
    let status = Status::from_value(sandbox.probe(
        &["--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN"],
        &["status"],
    ));
    assert!(status.has_cap(12), "CAP_NET_ADMIN added");
    assert!(!status.has_cap(0), "CAP_CHOWN dropped");
}

#[test]
fn nothing_is_left_after_rm() {
    let sandbox = Sandbox::with_probe();
    sandbox.ok(["--rm", "probe:latest", "sh", "-c", "exit 0"]);
    sandbox.assert_nothing_left();
}

#[test]
fn own_network_namespace_has_dockers_sysctls_and_only_lo() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.sh_on("none", "cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start; ls /sys/class/net");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["0", "2147483647"],
        "{out}"
    );
    assert_eq!(lines[1], "0");
    assert_eq!(&lines[2..], ["lo"], "--network none has only lo: {out}");
    let ping = sandbox.ok([
        "--rm",
        "probe:latest",
        "sh",
        "-c",
        "cat /sys/class/net/lo/flags; busybox ping -c 1 -W 2 127.0.0.1 >/dev/null && echo ping-ok",
    ]);
    let flags =
        u32::from_str_radix(ping.lines().next().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is up: {ping}");
    assert!(ping.contains("ping-ok"), "loopback answers: {ping}");
}

#[test]
fn ulimit_and_seccomp_profile_files() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.ok([
        "--rm",
        "--ulimit",
        "nofile=256:512",
        "probe:latest",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn",
    ]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["256", "512"]);
    let profile = sandbox.store.work("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = sandbox.ok([
        "--rm",
        "--security-opt",
        &opt,
        "probe:latest",
        "sh",
        "-c",
        "mkdir /made 2>&1 || echo refused; grep Seccomp: /proc/self/status",
    ]);
    assert!(out.contains("refused"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    let bad = sandbox.run([
        "--rm",
        "--security-opt",
        "seccomp=/no/such/profile.json",
        "probe:latest",
        "true",
    ]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/no/such/profile.json"));
}

#[test]
fn host_network_shares_the_hosts_interfaces() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.sh_on("host", "ls /sys/class/net");
    // Links other tests make and remove meanwhile (berth's bv*/bt*, neighbours' bn*) come and
    // go; the host's own ones must all be there.
    let host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !["bv", "bt", "bn", "berth-"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    for name in host {
        assert!(
            out.lines().any(|l| l == name),
            "{name} is visible with --network host: {out}"
        );
    }
}
