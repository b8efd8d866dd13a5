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
