//! `docker cp` both ways through berthd with the real docker CLI: files, directories and
//! their modes, a running and a stopped container, docker's errors, and the symlink
//! attacks: links in the container to `/` and `/etc`, and uploaded tars that climb out
//! with `../` or through absolute symlinks. Nothing may be read from or written to the
//! host.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::wait_for;

/// A name nothing on the host has, for files an attack would make there.
fn unique(what: &str) -> String {
    format!("berth-cp-{what}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007
}

/// The entries of a tar: name → (mode, content).
fn entries(tar_bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mode = entry.header().mode().unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((name, mode, data));
    }
    out
}

fn cp_out(daemon: &Daemon, source: &str) -> Vec<u8> {
    let out = daemon.docker(["cp", source, "-"]);
    assert!(
        out.status.success(),
        "docker cp {source} -: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        daemon.log_text()
    );
    out.stdout
}

/// A raw `PUT /containers/{id}/archive?path=…` with `body`; the status line.
fn put_tar(daemon: &Daemon, id: &str, path: &str, body: &[u8]) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    let head = format!(
        "PUT /containers/{id}/archive?path={path}&noOverwriteDirNonDir=true HTTP/1.0\r\n\
         Host: berth\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // A refusal may come before the body is read (and the connection close under it).
    let _ = stream.write_all(body);
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// A tar of (name, kind, content or link target).
fn make_tar(items: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, data) in items {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        // Names go in raw: set_path refuses `..`, which is the point here.
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        match kind {
            tar::EntryType::Symlink => {
                h.set_link_name(data).unwrap();
                h.set_size(0);
                h.set_cksum();
                builder.append(&h, std::io::empty()).unwrap();
            }
            _ => {
                h.set_size(data.len() as u64);
                h.set_cksum();
                builder.append(&h, data.as_bytes()).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

fn exec(daemon: &Daemon, name: &str, script: &str) -> String {
    daemon.docker_ok(["exec", name, "sh", "-c", script])
}

#[test]
fn docker_cp_copies_files_and_directories_both_ways_with_their_modes() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "cpc",
        "-v",
        "cpvol:/vol",
        "probe:latest",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo hello > /data/sub/f && chmod 640 /data/sub/f \
         && ln -s f /data/sub/link && sleep 1000",
    ]);
    wait_for("the container's files", || {
        daemon
            .docker(["exec", "cpc", "sh", "-c", "test -L /data/sub/link"])
            .status
            .success()
    });

    // Out: a file to stdout (a tar named after it), a directory to a host path.
    let tar = cp_out(&daemon, "cpc:/data/sub/f");
    assert_eq!(
        entries(&tar),
        vec![("f".into(), 0o640, b"hello\n".to_vec())]
    );
    let host = tempfile::tempdir().unwrap();
    let dest = host.path().join("out");
    daemon.docker_ok(["cp", "cpc:/data/sub", dest.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dest.join("f")).unwrap(), "hello\n");
    let mode = std::fs::metadata(dest.join("f"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(
        std::fs::read_link(dest.join("link")).unwrap(),
        Path::new("f")
    );

    // In: a file keeps its mode and belongs to the container's root; a directory goes in
    // whole; copying onto a file name renames.
    let file = host.path().join("script.sh");
    std::fs::write(&file, "#!/bin/sh\necho from-host\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o751)).unwrap();
    daemon.docker_ok(["cp", file.to_str().unwrap(), "cpc:/data/"]);
    assert_eq!(exec(&daemon, "cpc", "/data/script.sh"), "from-host\n");
    assert_eq!(
        exec(&daemon, "cpc", "stat -c '%a %u %g' /data/script.sh"),
        "751 0 0\n"
    );
    let dir = host.path().join("tree");
    std::fs::create_dir_all(dir.join("deep")).unwrap();
    std::fs::write(dir.join("deep/leaf"), "leaf").unwrap();
    daemon.docker_ok(["cp", dir.to_str().unwrap(), "cpc:/data/"]);
    assert_eq!(exec(&daemon, "cpc", "cat /data/tree/deep/leaf"), "leaf");
    daemon.docker_ok(["cp", file.to_str().unwrap(), "cpc:/data/renamed"]);
    assert_eq!(
        exec(&daemon, "cpc", "cat /data/renamed"),
        "#!/bin/sh\necho from-host\n"
    );

    // A volume mounted in the running container is seen as the container sees it.
    daemon.docker_ok(["cp", file.to_str().unwrap(), "cpc:/vol/"]);
    assert_eq!(exec(&daemon, "cpc", "cat /vol/script.sh | wc -c"), "25\n");
    exec(&daemon, "cpc", "echo in-volume > /vol/v");
    let got = entries(&cp_out(&daemon, "cpc:/vol/v"));
    assert_eq!(got[0].2, b"in-volume\n");

    // HEAD: the stat header the CLI reads (a symlink's target resolved in the container).
    let head = daemon.http("HEAD", "/containers/cpc/archive?path=/data/sub/link", "");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("x-docker-container-path-stat: "),
        "{head}"
    );

    // Errors as docker words them.
    let out = daemon.docker(["cp", "cpc:/nope", "-"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Could not find the file /nope in container cpc"),
        "{stderr}"
    );
    let out = daemon.docker(["cp", file.to_str().unwrap(), "cpc:/nope/x"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Could not find the file /nope"), "{stderr}");
    let out = daemon.docker(["cp", "no-such-box:/etc/passwd", "-"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("No such container: no-such-box"),
        "{stderr}"
    );
    let answer = put_tar(&daemon, "cpc", "/data/script.sh", &make_tar(&[]));
    assert!(answer.contains(" 400 "), "{answer}");
    assert!(
        answer.contains("extraction point is not a directory"),
        "{answer}"
    );

    daemon.docker_ok(["rm", "-f", "cpc"]);
}

#[test]
fn symlinks_in_the_container_and_in_uploads_never_reach_the_host() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let marker = unique("marker");
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "evil",
        "probe:latest",
        "sh",
        "-c",
        &format!(
            "mkdir /srv && ln -s / /x && ln -s /etc /etc2 && ln -s ../../../../.. /data-up \
             && echo inside > /etc/{marker} && sleep 1000"
        ),
    ]);
    wait_for("the links", || {
        daemon
            .docker([
                "exec",
                "evil",
                "sh",
                "-c",
                &format!("test -f /etc/{marker}"),
            ])
            .status
            .success()
    });
    // Reading through links to / and /etc gets the container's files: its hostname, a
    // file the host has no copy of.
    let hostname = exec(&daemon, "evil", "cat /etc/hostname");
    let host_hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    assert_ne!(hostname, host_hostname, "the test needs them to differ");
    for path in ["evil:/x/etc/hostname", "evil:/data-up/etc/hostname"] {
        let got = entries(&cp_out(&daemon, path));
        assert_eq!(got.len(), 1, "{path}");
        assert_eq!(String::from_utf8_lossy(&got[0].2), hostname, "{path}");
    }
    let got = entries(&cp_out(&daemon, &format!("evil:/etc2/{marker}")));
    assert_eq!(got[0].2, b"inside\n");
    let got = entries(&cp_out(&daemon, &format!("evil:/x/etc/{marker}")));
    assert_eq!(got[0].2, b"inside\n");
    // The link itself is copied as a link.
    let got = entries(&cp_out(&daemon, "evil:/x"));
    assert_eq!(got[0].0, "x");

    // Writing through them lands in the container.
    let host = tempfile::tempdir().unwrap();
    let name = unique("put");
    let file = host.path().join(&name);
    std::fs::write(&file, "payload").unwrap();
    for dest in ["evil:/x/tmp/", "evil:/etc2/", "evil:/data-up/srv/"] {
        daemon.docker_ok(["cp", file.to_str().unwrap(), dest]);
    }
    for inside in ["/tmp", "/etc", "/srv"] {
        assert_eq!(
            exec(&daemon, "evil", &format!("cat {inside}/{name}")),
            "payload"
        );
        assert!(
            !Path::new(inside).join(&name).exists(),
            "{inside}/{name} was written on the host"
        );
    }

    // Uploaded tars: `../` entries are refused; a symlink entry to / followed by a file
    // below it may not leave the extraction point; nothing is made anywhere.
    let escape = unique("escape");
    exec(&daemon, "evil", "mkdir -p /up");
    let tar = make_tar(&[(
        &format!("../../../../tmp/{escape}"),
        tar::EntryType::Regular,
        "x",
    )]);
    let answer = put_tar(&daemon, "evil", "/up", &tar);
    assert!(answer.contains(" 400 "), "{answer}");
    let tar = make_tar(&[
        ("abs", tar::EntryType::Symlink, "/"),
        (&format!("abs/tmp/{escape}"), tar::EntryType::Regular, "x"),
    ]);
    let answer = put_tar(&daemon, "evil", "/up", &tar);
    assert!(answer.contains(" 400 "), "{answer}");
    assert!(!Path::new("/tmp").join(&escape).exists());
    let listing = exec(
        &daemon,
        "evil",
        &format!("ls /tmp/{escape} /{escape} 2>&1; true"),
    );
    assert!(listing.contains("No such file"), "{listing}");
    // At the root of the container an absolute link stays a link inside it.
    let tar = make_tar(&[
        ("rootlink", tar::EntryType::Symlink, "/"),
        (
            &format!("rootlink/tmp/{escape}"),
            tar::EntryType::Regular,
            "in",
        ),
    ]);
    let answer = put_tar(&daemon, "evil", "/", &tar);
    assert!(answer.contains(" 200 "), "{answer}");
    assert_eq!(exec(&daemon, "evil", &format!("cat /tmp/{escape}")), "in");
    assert!(!Path::new("/tmp").join(&escape).exists());

    daemon.docker_ok(["rm", "-f", "evil"]);
}

#[test]
fn docker_cp_works_on_a_stopped_container_and_leaves_no_mount() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "--name",
        "halted",
        "probe:latest",
        "sh",
        "-c",
        "cat /tmp/added 2>/dev/null; echo before > /kept; rm -f /usr/local/bin/probe",
    ]);
    // Stopped means torn down: its overlay is unmounted.
    let id = daemon.docker_ok(["inspect", "-f", "{{.Id}}", "halted"]);
    let id = id.trim();
    wait_for("the teardown", || overlays_of(id).is_empty());
    let got = entries(&cp_out(&daemon, "halted:/kept"));
    assert_eq!(got[0].2, b"before\n");
    // A file of the image the container deleted is deleted here too.
    daemon.docker_ok([
        "run",
        "--rm",
        "probe:latest",
        "sh",
        "-c",
        "test -e /usr/local/bin/probe",
    ]);
    let out = daemon.docker(["cp", "halted:/usr/local/bin/probe", "-"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Could not find the file /usr/local/bin/probe in container halted"),
        "{stderr}"
    );

    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("added");
    std::fs::write(&file, "while stopped").unwrap();
    daemon.docker_ok(["cp", file.to_str().unwrap(), "halted:/tmp/"]);
    let got = entries(&cp_out(&daemon, "halted:/tmp/added"));
    assert_eq!(got[0].2, b"while stopped");
    // The copies mounted nothing anyone can see (the overlay was detached)...
    assert!(overlays_of(id).is_empty(), "{:?}", overlays_of(id));
    // ...and the container sees the file at its next start.
    let out = daemon.docker_ok(["start", "-a", "halted"]);
    assert_eq!(out, "while stopped");
    daemon.docker_ok(["rm", "halted"]);
}

/// The overlay mounts of container `id` in berthd's (the host's) mount namespace.
fn overlays_of(id: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(id) && l.contains(" overlay "))
        .map(str::to_string)
        .collect()
}

#[test]
fn docker_cp_a_gives_the_files_to_the_containers_user() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok([
        "run",
        "-d",
        "--name",
        "owned",
        "--user",
        "1234:4321",
        "probe:latest",
        "sh",
        "-c",
        "sleep 1000",
    ]);
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("mine");
    std::fs::write(&file, "x").unwrap();
    daemon.docker_ok(["cp", "-a", file.to_str().unwrap(), "owned:/tmp/"]);
    daemon.docker_ok(["cp", file.to_str().unwrap(), "owned:/tmp/root-owned"]);
    assert_eq!(
        exec(
            &daemon,
            "owned",
            "stat -c '%u %g' /tmp/mine /tmp/root-owned"
        ),
        "1234 4321\n0 0\n"
    );
    daemon.docker_ok(["rm", "-f", "owned"]);
}

#[test]
fn docker_cp_into_a_container_never_started_is_there_at_its_first_start() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let id = daemon.docker_ok([
        "create",
        "--name",
        "fresh",
        "probe:latest",
        "sh",
        "-c",
        "cat /tmp/early /etc/early-conf",
    ]);
    let id = id.trim();
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("early");
    std::fs::write(&file, "before start\n").unwrap();
    daemon.docker_ok(["cp", file.to_str().unwrap(), "fresh:/tmp/"]);
    daemon.docker_ok(["cp", file.to_str().unwrap(), "fresh:/etc/early-conf"]);
    // Read back before the start, over the image's files; nothing stays mounted.
    let got = entries(&cp_out(&daemon, "fresh:/tmp/early"));
    assert_eq!(got[0].2, b"before start\n");
    assert!(!entries(&cp_out(&daemon, "fresh:/etc")).is_empty());
    assert!(overlays_of(id).is_empty(), "{:?}", overlays_of(id));
    let out = daemon.docker_ok(["start", "-a", "fresh"]);
    assert_eq!(out, "before start\nbefore start\n");
    daemon.docker_ok(["rm", "fresh"]);
    assert!(!sandbox.store.root().join("containers").join(id).exists());
}
