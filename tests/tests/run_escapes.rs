//! The known runtime escapes, each attacking files the test itself created: a hostile
//! image (symlinked /dev, /etc, /proc, mount targets), a working directory in /proc, and
//! the berth binaries themselves. Nothing may be written, created or mounted outside.

use std::path::Path;

use berth_tests::container::Sandbox;
use berth_tests::formats::{write_images, Format, ImageSpec};
use berth_tests::image::{busybox_entries, Entry, Layer};
use berth_tests::probe::probe_entries;
use berth_tests::store::describe;

/// busybox + probe in one layer, then `extra` in a layer of its own, loaded as `name`.
fn load_hostile(sandbox: &Sandbox, name: &str, extra: Vec<Entry>) {
    let mut base = busybox_entries();
    base.extend(probe_entries());
    let image = ImageSpec::new(vec![Layer::new(base), Layer::new(extra)])
        .name(name)
        .build();
    let path = sandbox
        .store
        .work(&format!("{}.tar", name.replace([':', '/'], "_")));
    write_images(Format::OciArchive, &[image], &path);
    sandbox.store.load(&path);
}

/// A directory outside every store, with one file, that the attacks aim at.
fn target_dir(sandbox: &Sandbox) -> std::path::PathBuf {
    let dir = sandbox.store.work("outside");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep"), "untouched").unwrap();
    dir
}

fn assert_untouched(dir: &Path) {
    let entries: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        vec!["keep".to_string()],
        "nothing may appear in {}",
        dir.display()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("keep")).unwrap(),
        "untouched"
    );
    let mounted = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounted.contains(&dir.display().to_string()),
        "nothing may be mounted on {}",
        dir.display()
    );
}

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

#[test]
fn container_cannot_overwrite_the_berth_binaries() {
    let sandbox = Sandbox::with_probe();
    let binaries = ["berth-run", "berth-enter", "berth-unpack"].map(berth_tests::berth_bin);
    let before: Vec<Vec<u8>> = binaries.iter().map(|b| std::fs::read(b).unwrap()).collect();
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
    for (binary, old) in binaries.iter().zip(before) {
        assert!(
            std::fs::read(binary).unwrap() == old,
            "{} changed",
            binary.display()
        );
    }
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
