//! The known runtime escapes, each attacking files the test itself created: a hostile
//! image (symlinked /dev, /etc, /proc, mount targets), a working directory in /proc, and
//! the berth binaries themselves (CVE-2019-5736: only ever opened for writing, never
//! written). Nothing may be written, created or mounted outside.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_tests::container::Sandbox;
use berth_tests::escape::{assert_untouched, load_hostile, target_dir};
use berth_tests::image::Entry;
use berth_tests::probe::{errno, parse_json_lines, ExeCatch};
use berth_tests::store::describe;

#[test]
fn image_with_symlinked_dev_etc_and_proc_cannot_reach_the_host() {
    let sandbox = Sandbox::new();
    let outside = target_dir(&sandbox);
    let aim = outside.display().to_string();
    for dir in ["dev", "etc", "proc"] {
        let name = format!("evil-{dir}:1");
        load_hostile(&sandbox, &name, vec![Entry::symlink(dir, &aim)]);
        let out = sandbox.run([
            "--rm",
            &name,
            "sh",
            "-c",
            "echo x > /dev/null; cat /etc/hostname; ls /proc >/dev/null",
        ]);
        // Whether berth refuses the image or runs it with the link resolved inside the
        // container's root, the host directory stays as it was.
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(125),
            "{}",
            describe(&out)
        );
        assert_untouched(&outside);
    }
    assert!(sandbox.leftover_mounts().is_empty());
}

#[test]
fn mount_target_through_a_symlink_stays_inside_the_container() {
    let sandbox = Sandbox::new();
    let outside = target_dir(&sandbox);
    load_hostile(
        &sandbox,
        "evil-target:1",
        vec![Entry::symlink("evil", outside.display().to_string())],
    );
    let source = sandbox.store.work("bind-src");
    std::fs::create_dir_all(&source).unwrap();
    for _ in 0..100 {
        let spec = format!("{}:/evil/x", source.display());
        let out = sandbox.run([
            "--rm",
            "-v",
            &spec,
            "--tmpfs",
            "/evil/t",
            "evil-target:1",
            "sh",
            "-c",
            "ls /evil",
        ]);
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(125),
            "{}",
            describe(&out)
        );
        assert_untouched(&outside);
    }
}

#[test]
fn working_directory_in_proc_is_refused() {
    let sandbox = Sandbox::with_probe();
    for dir in ["/proc/self/fd/3", "/proc/self/cwd", "/proc/1/root"] {
        let out = sandbox.run(["--rm", "-w", dir, "probe:latest", "probe", "status"]);
        assert_eq!(
            out.status.code(),
            Some(125),
            "-w {dir} must be refused: {}",
            describe(&out)
        );
    }
}

/// The berth binaries the tests run, with their contents now.
fn berth_binaries() -> Vec<(PathBuf, Vec<u8>)> {
    ["berth-run", "berth-enter", "berth-unpack"]
        .map(berth_tests::berth_bin)
        .into_iter()
        .map(|b| {
            let bytes = std::fs::read(&b).unwrap();
            (b, bytes)
        })
        .collect()
}

fn assert_unchanged(binaries: &[(PathBuf, Vec<u8>)]) {
    for (binary, old) in binaries {
        assert!(
            std::fs::read(binary).unwrap() == *old,
            "{} changed",
            binary.display()
        );
    }
}

#[test]
fn container_cannot_overwrite_the_berth_binaries() {
    let sandbox = Sandbox::with_probe();
    let binaries = berth_binaries();
    let out = sandbox.run([
        "--rm", "probe:latest", "sh", "-c",
        "for f in /proc/*/exe /proc/self/exe; do echo pwned >> $f 2>/dev/null; done; for p in /proc/[0-9]*; do ls -l $p/exe 2>/dev/null; done; true",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        !listing.contains("berth"),
        "no berth process is visible from inside: {listing}"
    );
    assert_unchanged(&binaries);
}

/// Copies of berth-run and berth-enter in the sandbox's work dir: the files the attacks
/// below aim at are the test's own, not the built binaries (which are checked too).
fn copied_berth_binaries(sandbox: &Sandbox) -> Vec<(PathBuf, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = sandbox.store.work("bin");
    std::fs::create_dir_all(&dir).unwrap();
    ["berth-run", "berth-enter"]
        .map(|name| {
            let copy = dir.join(name);
            std::fs::copy(berth_tests::berth_bin(name), &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
            let bytes = std::fs::read(&copy).unwrap();
            (copy, bytes)
        })
        .into_iter()
        .collect()
}

/// `BINARY --root … --run-dir … ARGS` against the sandbox's store, stdin closed.
fn run_copy(sandbox: &Sandbox, binary: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary)
        .arg("--root")
        .arg(sandbox.store.root())
        .arg("--run-dir")
        .arg(sandbox.store.run_dir())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// What the dmz says when a `#!/proc/self/exe` script makes it the interpreter.
const DMZ_REFUSES: &str = "berth-dmz: refused: run other than by berth";

/// What a glibc-based image (debian, ubuntu, …) holds for the berth binaries: their dynamic
/// loader and shared libraries, copied from the host at the paths `ldd` gives. Without
/// them a dynamically linked berth binary could not start inside the container at all
/// (the kernel finds no ELF interpreter: ENOENT), and the attack below would fail for
/// that reason alone.
fn glibc_entries(binaries: &[(PathBuf, Vec<u8>)]) -> Vec<Entry> {
    let mut files = std::collections::BTreeSet::new();
    for (binary, _) in binaries {
        let out = std::process::Command::new("ldd").arg(binary).output();
        let Ok(out) = out else { continue }; // no ldd: nothing dynamic to add
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = line.split_whitespace().find(|w| w.starts_with('/'));
            if let Some(path) = path {
                files.insert(path.to_string());
            }
        }
    }
    let mut dirs = std::collections::BTreeSet::new();
    let mut entries = Vec::new();
    for file in &files {
        let relative = file.trim_start_matches('/');
        let mut dir = Path::new(relative).parent();
        let mut parents = Vec::new();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            parents.push(d.to_string_lossy().into_owned());
            dir = d.parent();
        }
        for d in parents.into_iter().rev() {
            if dirs.insert(d.clone()) {
                entries.push(Entry::dir(d));
            }
        }
        entries.push(Entry::exe(relative, std::fs::read(file).unwrap()));
    }
    entries
}

/// CVE-2019-5736 as it was exploited: the container plants `#!/proc/self/exe` as a program,
/// waits for `exec` to run it, grabs /proc/PID/exe of the process berth exec'd and, once that
/// is gone, reopens it for writing. berth's child execs the command through its sealed copy
/// of berth-dmz, so what the attacker grabs is that memfd (immutable: not even reopened),
/// never berth-run or berth-enter on the host.
#[test]
fn exec_of_a_hash_bang_proc_self_exe_program_cannot_reach_the_berth_binaries() {
    let sandbox = Sandbox::new();
    let built = berth_binaries();
    // exec and --join run from the test's own copies: those are what the attacker aims at.
    let binaries = copied_berth_binaries(&sandbox);
    load_hostile(&sandbox, "exe-attack:1", glibc_entries(&binaries));
    let host_files: Vec<(u64, u64)> = binaries
        .iter()
        .map(|(b, _)| {
            let m = std::fs::metadata(b).unwrap();
            (m.dev(), m.ino())
        })
        .collect();
    let name = "exe-attacker";
    // pid 1 is the attacker: it plants /bin/evil and reports each process it catches.
    sandbox.ok([
        "-d",
        "--name",
        name,
        "--network",
        "none",
        "exe-attack:1",
        "probe",
        "exe-attack",
        "/bin/evil",
        "2",
        "300",
    ]);
    let lines = || parse_json_lines(&sandbox.run(["logs", name]).stdout);
    let catches = || ExeCatch::parse_all(&lines());
    // Races run to the end, won (a catch) or lost (a miss).
    let races = || {
        lines()
            .iter()
            .filter(|v| v.get("catch").is_some() || v.get("missed").is_some())
            .count()
    };
    berth_tests::wait_for("the attacker to plant /bin/evil", || {
        lines().iter().any(|v| v["ready"] == true)
    });
    // Exec /bin/evil until the attacker has caught one process of berth-run exec, then one
    // of berth-enter --join (it needs to win a race of a few hundred microseconds).
    let mut execs = Vec::new();
    for (wanted, via) in [(1, "berth-run exec"), (2, "berth-enter --join")] {
        for _ in 0..100 {
            if catches().len() >= wanted {
                break;
            }
            let raced = races();
            execs.push(match via {
                "berth-run exec" => {
                    run_copy(&sandbox, &binaries[0].0, &["exec", name, "/bin/evil"])
                }
                _ => run_copy(
                    &sandbox,
                    &binaries[1].0,
                    &["--join", name, "--", "/bin/evil"],
                ),
            });
            // The attacker reports the race once the process has been gone a while.
            let since = std::time::Instant::now();
            while races() == raced && since.elapsed() < Duration::from_millis(1500) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let caught = catches();
    eprintln!(
        "{} execs; the attacker's report: {:?}",
        execs.len(),
        lines()
    );
    let _ = sandbox.run(["rm", "-f", name]);
    assert_eq!(
        caught.len(),
        2,
        "the attacker caught a process of berth-run exec and one of berth-enter --join \
         in {} execs: {:?}",
        execs.len(),
        lines()
    );
    for catch in &caught {
        assert!(
            !host_files.contains(&(catch.dev, catch.ino))
                && !binaries.iter().any(|(b, _)| Path::new(&catch.exe) == b),
            "the attacker got hold of a berth binary: {catch:?}"
        );
        assert!(catch.is_dmz_memfd(), "{catch:?}");
        // Immutable (Linux 6.0+): no reopen for writing at all; before, the seals refuse
        // the write itself.
        assert!(
            !catch.write_open || catch.write_errno == Some(errno::EPERM),
            "{catch:?}"
        );
        if kernel_at_least(6, 0) {
            assert!(!catch.write_open, "{catch:?}");
            assert_eq!(catch.errno, errno::EPERM, "{catch:?}");
        }
    }
    // Every exec ran the dmz as the script's interpreter, which execs nothing as one.
    for out in &execs {
        assert_eq!(out.status.code(), Some(127), "{}", describe(out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(DMZ_REFUSES),
            "{}",
            describe(out)
        );
    }
    assert_unchanged(&binaries);
    assert_unchanged(&built);
    sandbox.assert_nothing_left();
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}

/// The same script as the container's command (pid 1, and under --init), in an image where
/// berth-run could run: the kernel makes the dmz its interpreter, which refuses; berth-run
/// (whose help would say otherwise) never runs inside. The same for `/proc/self/exe` as the
/// command.
#[test]
fn a_hash_bang_proc_self_exe_command_gets_the_dmz_as_interpreter() {
    let sandbox = Sandbox::new();
    let binaries = berth_binaries();
    let mut extra = glibc_entries(&binaries);
    extra.push(Entry::exe("bin/evil", "#!/proc/self/exe\n"));
    load_hostile(&sandbox, "evil-exe:1", extra);
    // The script, and /proc/self/exe named directly.
    for command in ["/bin/evil", "/proc/self/exe"] {
        for flags in [&[][..], &["--init"][..]] {
            let mut args = vec!["--rm", "--network", "none"];
            args.extend(flags);
            args.extend(["evil-exe:1", command, "--help"]);
            let out = sandbox.run(&args);
            let what = format!("{command} {flags:?}: {}", describe(&out));
            assert_eq!(out.status.code(), Some(127), "{what}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(DMZ_REFUSES),
                "{what}"
            );
            assert!(out.stdout.is_empty(), "{what}");
        }
    }
    assert_unchanged(&binaries);
    sandbox.assert_nothing_left();
}

/// A seccomp profile that allows execve but not execveat (one traced from a workload, say):
/// the child execs the dmz by its /proc/self/fd path instead, and commands run as before.
#[test]
fn commands_run_under_a_profile_without_execveat() {
    let sandbox = Sandbox::with_probe();
    let docker = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lib/seccomp/profiles/docker-default.json"
    );
    let mut profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(docker).unwrap()).unwrap();
    for rule in profile["syscalls"].as_array_mut().unwrap() {
        if let Some(names) = rule["names"].as_array_mut() {
            names.retain(|n| n != "execveat");
        }
    }
    let path = sandbox.store.work("no-execveat.json");
    std::fs::write(&path, profile.to_string()).unwrap();
    let opt = format!("seccomp={}", path.display());
    let common = [
        "--rm",
        "--network",
        "none",
        "--security-opt",
        &opt,
        "probe:latest",
    ];
    let out = sandbox.run(common.iter().chain(&["sh", "-c", "exit 3"]));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let out = sandbox.run(common.iter().chain(&["/etc/passwd"]));
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exec: /etc/passwd: permission denied"),
        "{}",
        describe(&out)
    );
}

#[test]
fn host_processes_cannot_be_traced() {
    let sandbox = Sandbox::with_probe();
    let out = sandbox.run(["--rm", "probe:latest", "probe", "syscalls"]);
    let results = berth_tests::probe::parse_syscalls(&out.stdout);
    // The probe aims at a pid that does not exist in the container's namespace; the host's
    // processes have no pid there at all.
    assert!(!results["ptrace"].succeeded(), "{:?}", results["ptrace"]);
    let status = berth_tests::probe::Status::from_value(sandbox.probe(&[], &["status"]));
    assert!(!status.has_cap(19), "no CAP_SYS_PTRACE by default");
}

/// Where executable memfds are forbidden (`vm.memfd_noexec=2`, set here in a pid namespace
/// of the test's own, to which the setting is confined), the dmz runs from an unlinked,
/// immutable file beside berth-run instead, and commands run as before (they failed with
/// 125 before that fallback).
#[test]
fn commands_run_where_memfds_cannot_be_executed() {
    if !Path::new("/proc/sys/vm/memfd_noexec").exists() {
        eprintln!("skipped: no vm.memfd_noexec (Linux < 6.3)");
        return;
    }
    let sandbox = Sandbox::with_probe();
    let out = sandbox.run_in_namespaces(
        &["--pid", "--fork", "--mount-proc"],
        "echo 2 > /proc/sys/vm/memfd_noexec",
        &[
            "--rm",
            "--network",
            "none",
            "probe:latest",
            "sh",
            "-c",
            "exit 3",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    sandbox.assert_nothing_left();
}

/// With `--init` berth stays pid 1 and never execs, so close-on-exec does nothing for it:
/// it must close what its parent held itself. A detached container's monitor holds the log
/// file, the attach socket, the write end of the container's stdin and its report pipe; left
/// open in pid 1 they would be the container's (CVE-2024-21626), and `-d` would not return
/// before the container ended.
#[test]
fn init_as_pid_one_holds_no_host_fds() {
    let sandbox = Sandbox::with_probe();
    let started = std::time::Instant::now();
    let out = sandbox.run([
        "-d",
        "-i",
        "--init",
        "--network",
        "none",
        "probe:latest",
        "sh",
        "-c",
        "sleep 30",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "-d returns once the container runs, not when it ends ({:?})",
        started.elapsed()
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let pid = sandbox.run_state(&id)["pid"].as_i64().unwrap();
    let mut fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            (
                e.file_name().to_string_lossy().into_owned(),
                target.display().to_string(),
            )
        })
        .collect();
    fds.sort();
    let numbers: Vec<&str> = fds.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(numbers, ["0", "1", "2"], "pid 1 (berth-init) holds {fds:?}");
    let _ = sandbox.run(["rm", "-f", &id]);
    sandbox.assert_nothing_left();
}
