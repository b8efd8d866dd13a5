//! `docker build` through berthd with the real docker CLI and its classic builder
//! (`DOCKER_BUILDKIT=0`, as the CLI does without buildx): the JSON stream it prints, the
//! image it runs, the cache on a rebuild, a failing step's error, build args, labels,
//! `-f`, and `docker builder prune`.

use std::path::Path;
use std::process::Output;

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;

fn docker_build(daemon: &Daemon, args: &[&str]) -> Output {
    let mut cmd = daemon.docker_command(["build"].iter().chain(args));
    cmd.env("DOCKER_BUILDKIT", "0");
    cmd.output().expect("spawn docker build")
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).unwrap();
}

#[test]
fn docker_build_then_run_and_rebuild_from_the_cache() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM probe:latest\nARG WHO=world\nCOPY hello.txt /hello.txt\nRUN echo \"hi $WHO\" > /x\nCMD [\"cat\", \"/hello.txt\", \"/x\"]\n",
    );
    write(ctx.path(), "hello.txt", "hello\n");
    let ctx_path = ctx.path().to_str().unwrap();

    let out = docker_build(
        &daemon,
        &[
            "-t",
            "built:1",
            "--build-arg",
            "WHO=docker",
            "--label",
            "made.by=test",
            ctx_path,
        ],
    );
    let (stdout, stderr) = texts(&out);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {stderr}\nlog: {}",
        daemon.log_text()
    );
    assert!(stdout.contains("Step 1/5 : FROM probe:latest"), "{stdout}");
    assert!(stdout.contains("Successfully tagged built:1"), "{stdout}");

    assert_eq!(
        daemon.docker_ok(["run", "--rm", "built:1"]),
        "hello\nhi docker\n"
    );
    let label = daemon.docker_ok([
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"made.by\"}}",
        "built:1",
    ]);
    assert_eq!(label.trim(), "test");
    let id = daemon.docker_ok(["image", "inspect", "--format", "{{.Id}}", "built:1"]);

    // Again with no change: the cache, the same image.
    let out = docker_build(
        &daemon,
        &[
            "-t",
            "built:2",
            "--build-arg",
            "WHO=docker",
            "--label",
            "made.by=test",
            ctx_path,
        ],
    );
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Using cache"), "{stdout}");
    let again = daemon.docker_ok(["image", "inspect", "--format", "{{.Id}}", "built:2"]);
    assert_eq!(again, id);

    // -q: the ID alone.
    let out = docker_build(
        &daemon,
        &[
            "-q",
            "-t",
            "built:q",
            "--build-arg",
            "WHO=docker",
            "--label",
            "made.by=test",
            ctx_path,
        ],
    );
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), id.trim(), "{stderr}");

    // -f names a Dockerfile elsewhere in the context.
    std::fs::create_dir(ctx.path().join("sub")).unwrap();
    write(
        &ctx.path().join("sub"),
        "Other",
        "FROM built:1\nCMD [\"cat\", \"/x\"]\n",
    );
    let other = ctx.path().join("sub/Other");
    let out = docker_build(
        &daemon,
        &["-t", "other", "-f", other.to_str().unwrap(), ctx_path],
    );
    assert!(out.status.success(), "{:?}", texts(&out));
    assert_eq!(daemon.docker_ok(["run", "--rm", "other"]), "hi docker\n");

    // docker builder prune: the cache goes, the named images stay.
    let pruned = daemon.docker_ok(["builder", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    assert_eq!(
        daemon.docker_ok(["run", "--rm", "built:2"]),
        "hello\nhi docker\n"
    );
    let out = docker_build(
        &daemon,
        &["-t", "built:3", "--build-arg", "WHO=docker", ctx_path],
    );
    let (stdout, _) = texts(&out);
    assert!(
        out.status.success() && !stdout.contains("Using cache"),
        "{stdout}"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn a_failing_docker_build_reports_the_step_and_tags_nothing() {
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM probe:latest\nRUN echo going down; exit 4\n",
    );
    let out = docker_build(&daemon, &["-t", "broken", ctx.path().to_str().unwrap()]);
    let (stdout, stderr) = texts(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("going down"), "{stdout}");
    assert!(
        stderr.contains("exit code: 4") && stderr.contains("line 2"),
        "{stderr}"
    );
    let images = daemon.docker_ok(["images", "--format", "{{.Repository}}"]);
    assert!(!images.contains("broken"), "{images}");
    let out = docker_build(
        &daemon,
        &[
            "-t",
            "nofile",
            "-f",
            "Missing",
            ctx.path().to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    sandbox.assert_nothing_left();
}

/// The children of `parent` whose first argument is `arg` (a berth helper's name).
fn helpers_of(parent: u32, arg: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The ppid is the second field after the parenthesised command name.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let second = cmdline.split(|b| *b == 0).nth(1).unwrap_or_default();
        if ppid == Some(parent) && second == arg.as_bytes() {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_build_helper_killed_mid_run_is_an_error_and_tags_nothing() {
    use std::io::BufRead;
    let sandbox = Sandbox::with_probe();
    let daemon = Daemon::start(&sandbox);
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM probe:latest\nRUN echo step-started; busybox sleep 3\nCMD [\"true\"]\n",
    );
    let mut cmd = daemon.docker_command(["build", "-t", "killed", ctx.path().to_str().unwrap()]);
    cmd.env("DOCKER_BUILDKIT", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn docker build");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while !seen.contains("step-started") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the build ended before its RUN: {seen}"
        );
        seen.push_str(&line);
    }
    let helpers = helpers_of(daemon.pid(), "__build");
    assert_eq!(helpers.len(), 1, "one build helper: {helpers:?}");
    let steps = helpers_of(helpers[0], "__build-run");
    let pid = rustix::process::Pid::from_raw(helpers[0] as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{seen}{rest}\n{stderr}");
    assert!(
        stderr.contains(&format!("pid {} ended", helpers[0]))
            && stderr.contains("before the build finished"),
        "{stderr}"
    );
    let images = daemon.docker_ok(["images", "--format", "{{.Repository}}"]);
    assert!(!images.contains("killed"), "{images}");
    // The step's own helper (orphaned, not ours to kill) finishes its RUN and removes its
    // container.
    for step in steps {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        // Gone, or a zombie for whoever reaps orphans here.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{step}/stat")).is_ok_and(|s| {
                s.rsplit_once(") ")
                    .is_some_and(|(_, r)| !r.starts_with('Z'))
            })
        };
        while alive() {
            assert!(
                std::time::Instant::now() < deadline,
                "step helper {step} lingers"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    sandbox.assert_nothing_left();
}
