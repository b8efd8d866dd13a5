//! `berth-build`: a multi-stage Dockerfile with COPY --from, the config as inspect shows
//! it, build args, stages the target does not need skipped, --target, the cache (a rebuild
//! with no change gives the same ID; a changed file rebuilds from its step), .dockerignore,
//! heredoc RUN with a cache mount reused across builds, a failing RUN that names its step
//! and line and leaves nothing, COPY out of the context refused, a symlink copied as a link.

use std::path::Path;
use std::process::{Command, Output};

use berth_tests::container::Sandbox;
use serde_json::Value;

fn build_command(sandbox: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = sandbox.stage_command("berth-build", args);
    cmd.env("BERTH_CGROUP_PARENT", &sandbox.cgroup_parent);
    cmd
}

fn build(sandbox: &Sandbox, args: &[&str]) -> Output {
    build_command(sandbox, args)
        .output()
        .expect("spawn berth-build")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn build_ok(sandbox: &Sandbox, args: &[&str]) -> String {
    let out = build(sandbox, args);
    assert!(out.status.success(), "berth-build failed: {}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn inspect(sandbox: &Sandbox, image: &str) -> Value {
    let out = sandbox
        .stage_command("berth-unpack", ["inspect", image])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    match value {
        Value::Array(mut items) => items.remove(0),
        other => other,
    }
}

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

const MULTI_STAGE: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=probe:latest
FROM ${BASE} AS build
ARG GREETING=hello
RUN echo "$GREETING" > /greeting && busybox mkdir -p /out && echo built > /out/artifact

FROM probe:latest AS unused
RUN exit 7

FROM probe:latest
COPY --from=build /out/artifact /app/artifact
COPY --from=build /greeting /app/
COPY --chown=1000:1000 --chmod=640 data.txt /app/
COPY dir/ /app/dir/
ENV APP_ENV=prod \
    OTHER="two words"
WORKDIR /app
USER 1000:1000
LABEL org.example.role=test
EXPOSE 8080 53/udp
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/artifact /app/greeting"]
"#;

#[test]
fn multi_stage_build_config_cache_and_target() {
    let sandbox = Sandbox::with_probe();
    let ctx = tempfile::tempdir().unwrap();
    write(ctx.path(), "Dockerfile", MULTI_STAGE);
    write(ctx.path(), "data.txt", "data one\n");
    write(ctx.path(), "dir/inner.txt", "inner\n");
    let ctx_path = ctx.path().to_str().unwrap();

    let log = build_ok(
        &sandbox,
        &[
            "-t",
            "app:1",
            "--build-arg",
            "GREETING=hi",
            "--progress",
            "plain",
            ctx_path,
        ],
    );
    // The unused stage (whose RUN fails) was skipped.
    assert!(!log.contains("exit 7"), "{log}");
    assert!(!log.contains("CACHED"), "{log}");

    // The image runs: its entrypoint and cmd, the files from the first stage.
    assert_eq!(sandbox.ok(["--rm", "app:1"]), "built\nhi\n");
    let out = sandbox.ok([
        "--rm",
        "app:1",
        "busybox stat -c '%u:%g %a' /app/data.txt; cat /app/dir/inner.txt; pwd; busybox id -u; echo $APP_ENV/$OTHER",
    ]);
    assert_eq!(out, "1000:1000 640\ninner\n/app\n1000\nprod/two words\n");

    let image = inspect(&sandbox, "app:1");
    let config = &image["Config"];
    assert_eq!(config["WorkingDir"], "/app", "{image:#}");
    assert_eq!(config["User"], "1000:1000");
    assert_eq!(config["Labels"]["org.example.role"], "test");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["cat /app/artifact /app/greeting"])
    );
    let ports: Vec<&String> = config["ExposedPorts"].as_object().unwrap().keys().collect();
    assert_eq!(ports, ["53/udp", "8080/tcp"]);
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        env.contains(&"APP_ENV=prod") && env.contains(&"OTHER=two words"),
        "{env:?}"
    );
    let id = image["Id"].as_str().unwrap().to_string();

    // No change: every step from the cache, the same image.
    let log = build_ok(
        &sandbox,
        &[
            "-t",
            "app:2",
            "--build-arg",
            "GREETING=hi",
            "--progress",
            "plain",
            ctx_path,
        ],
    );
    assert_eq!(inspect(&sandbox, "app:2")["Id"], id.as_str(), "{log}");
    assert_eq!(log.matches("CACHED").count(), 12, "{log}");

    // One copied file changed (its time too, which alone would not count): the steps
    // before it come from the cache, it and those after are made again.
    write(ctx.path(), "data.txt", "data two\n");
    let log = build_ok(
        &sandbox,
        &[
            "-t",
            "app:3",
            "--build-arg",
            "GREETING=hi",
            "--progress",
            "plain",
            ctx_path,
        ],
    );
    let cached = log.matches("CACHED").count();
    // The build stage's RUN, the final stage's two COPY --from.
    assert_eq!(cached, 3, "{log}");
    assert_ne!(inspect(&sandbox, "app:3")["Id"], id.as_str());
    let out = sandbox.ok(["--rm", "app:3", "cat /app/data.txt"]);
    assert_eq!(out, "data two\n");

    // A build arg the RUN sees changes its key.
    build_ok(
        &sandbox,
        &["-t", "app:4", "--build-arg", "GREETING=other", ctx_path],
    );
    assert_eq!(sandbox.ok(["--rm", "app:4"]), "built\nother\n");

    // --target: the first stage only.
    build_ok(&sandbox, &["-t", "first", "--target", "build", ctx_path]);
    let out = sandbox.ok([
        "--rm",
        "first",
        "sh",
        "-c",
        "cat /greeting; test -e /app || echo no-app",
    ]);
    assert_eq!(out, "hello\nno-app\n");
    sandbox.assert_nothing_left();
}

#[test]
fn dockerignore_heredoc_and_cache_mounts() {
    let sandbox = Sandbox::with_probe();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM probe:latest\nCOPY . /ctx/\nRUN --mount=type=cache,target=/cache <<EOF\necho run >> /cache/log\nbusybox wc -l < /cache/log > /count\nbusybox ls -a /ctx > /listing\nEOF\nCOPY <<NOTE /note.txt\nbuilt with $HOSTNAME_UNSET heredocs\nNOTE\n",
    );
    write(
        ctx.path(),
        ".dockerignore",
        "secret.txt\nlogs\n!logs/keep.log\n*.tmp\n",
    );
    write(ctx.path(), "secret.txt", "no\n");
    write(ctx.path(), "logs/a.log", "no\n");
    write(ctx.path(), "logs/keep.log", "yes\n");
    write(ctx.path(), "x.tmp", "no\n");
    write(ctx.path(), "kept.txt", "yes\n");
    let ctx_path = ctx.path().to_str().unwrap();
    build_ok(&sandbox, &["-t", "ign", ctx_path]);
    let out = sandbox.ok([
        "--rm",
        "ign",
        "sh",
        "-c",
        "cat /listing; busybox ls /ctx/logs; cat /count /note.txt",
    ]);
    assert_eq!(
        out,
        ".\n..\n.dockerignore\nDockerfile\nkept.txt\nlogs\nkeep.log\n1\nbuilt with  heredocs\n"
    );
    // The cache mount's contents outlive the build and come back in the next one.
    build_ok(&sandbox, &["-t", "ign", "--no-cache", ctx_path]);
    let out = sandbox.ok(["--rm", "ign", "cat", "/count"]);
    assert_eq!(out, "2\n");
    // ... and are no part of the image.
    let out = sandbox.ok([
        "--rm",
        "ign",
        "sh",
        "-c",
        "test -e /cache/log && echo leaked || echo clean",
    ]);
    assert_eq!(out, "clean\n");
    // berth-unpack prune --build-cache forgets the steps and the cache mounts; the image
    // built stays.
    let out = sandbox
        .stage_command("berth-unpack", ["prune", "--build-cache"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let log = build_ok(&sandbox, &["-t", "ign", "--progress", "plain", ctx_path]);
    assert!(!log.contains("CACHED"), "{log}");
    assert_eq!(sandbox.ok(["--rm", "ign", "cat", "/count"]), "1\n");
    sandbox.assert_nothing_left();
}

#[test]
fn a_failing_run_names_its_step_and_line_and_leaves_nothing() {
    let sandbox = Sandbox::with_probe();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM probe:latest\nRUN echo first > /first\n\nRUN echo about to fail; exit 3\nCMD [\"sh\"]\n",
    );
    let out = build(
        &sandbox,
        &[
            "-t",
            "broken",
            "--progress",
            "plain",
            ctx.path().to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("about to fail"), "{stderr}");
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(stderr.contains("exit code: 3"), "{stderr}");
    assert!(
        stderr.contains("RUN echo about to fail; exit 3"),
        "{stderr}"
    );
    // Nothing named, no container, mount or cgroup, no temp layer.
    let ls = sandbox
        .stage_command("berth-unpack", ["ls"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&ls.stdout).contains("broken"));
    sandbox.assert_nothing_left();
    let tmp: Vec<_> = std::fs::read_dir(sandbox.store.root().join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(tmp.is_empty(), "temp left: {tmp:?}");
}

#[test]
fn copy_out_of_the_context_is_refused_and_symlinks_stay_links() {
    let sandbox = Sandbox::with_probe();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "host-secret", "secret\n");
    let ctx_parent = tempfile::tempdir().unwrap();
    let ctx = ctx_parent.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    let ctx_path = ctx.to_str().unwrap();
    write(
        &ctx,
        "Dockerfile",
        "FROM probe:latest\nCOPY ../outside.txt /x\n",
    );
    write(ctx_parent.path(), "outside.txt", "no\n");
    let out = build(&sandbox, &["-t", "escape", ctx_path]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside the build context"),
        "{}",
        text(&out)
    );
    let secret = outside.path().join("host-secret");
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM probe:latest\nCOPY {} /x\n", secret.display()),
    );
    let out = build(&sandbox, &["-t", "escape", ctx_path]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{}",
        text(&out)
    );

    std::os::unix::fs::symlink(&secret, ctx.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.path(), ctx.join("dirlink")).unwrap();
    write(
        &ctx,
        "Dockerfile",
        "FROM probe:latest\nCOPY link /l\nCOPY dirlink/host-secret /s\n",
    );
    let out = build(&sandbox, &["-t", "links", ctx_path]);
    // Through a symlinked directory the source is looked up inside the context: absent.
    assert!(!out.status.success(), "{}", text(&out));
    write(&ctx, "Dockerfile", "FROM probe:latest\nCOPY link /l\n");
    build_ok(&sandbox, &["-t", "links", ctx_path]);
    let out = sandbox.ok([
        "--rm",
        "links",
        "sh",
        "-c",
        "busybox readlink /l; cat /l 2>/dev/null || echo dangling",
    ]);
    assert_eq!(out, format!("{}\ndangling\n", secret.display()));
    sandbox.assert_nothing_left();
}

#[test]
fn config_instructions_onbuild_add_archives_and_copy_from_an_image() {
    let sandbox = Sandbox::with_probe();
    let ctx = tempfile::tempdir().unwrap();
    // A gzip tar in the context: ADD unpacks it, COPY copies it as it is.
    let tar_path = ctx.path().join("files.tar.gz");
    {
        let file = std::fs::File::create(&tar_path).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_size(6);
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_000_000);
        tar.append_data(&mut header, "tool/run.sh", &b"echo x"[..])
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    write(
        ctx.path(),
        "Dockerfile",
        "FROM probe:latest AS base\nONBUILD RUN echo triggered > /onbuild\n\n\
         FROM base\nSHELL [\"/bin/sh\", \"-c\"]\nWORKDIR /new/place\nRUN pwd > /pwd\n\
         ADD files.tar.gz /opt/\nCOPY files.tar.gz /packed/\nCOPY --from=probe:latest /etc/passwd /copied-passwd\n\
         VOLUME /data\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=5s --retries=2 CMD cat /pwd\n\
         RUN <<SCRIPT\n#!/bin/sh\necho \"$0 ran\" > /shebang\nSCRIPT\n",
    );
    let ctx_path = ctx.path().to_str().unwrap();
    let archive = ctx.path().join("out.tar");
    let dest = format!("type=oci,dest={}", archive.display());
    build_ok(&sandbox, &["-t", "cfg", "-o", &dest, ctx_path]);
    // -o wrote the image as an OCI archive too.
    let members: Vec<String> = tar::Archive::new(std::fs::File::open(&archive).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(members.iter().any(|m| m == "index.json"), "{members:?}");
    let out = build(
        &sandbox,
        &["-t", "cfg", "--platform", "linux/s390x", ctx_path],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let out = sandbox.ok([
        "--rm",
        "cfg",
        "sh",
        "-c",
        "cat /pwd /onbuild; busybox ls /opt/tool; busybox ls /packed; busybox head -c 4 /copied-passwd; echo; \
         cat /shebang; test -e /.berth-heredoc-SCRIPT || echo no-script-left",
    ]);
    assert_eq!(
        out,
        "/new/place\ntriggered\nrun.sh\nfiles.tar.gz\nroot\n/.berth-heredoc-SCRIPT ran\nno-script-left\n"
    );
    let config = &inspect(&sandbox, "cfg")["Config"];
    assert_eq!(config["StopSignal"], "SIGINT", "{config:#}");
    assert_eq!(config["WorkingDir"], "/new/place");
    assert!(config["Volumes"]["/data"].is_object(), "{config:#}");
    assert_eq!(
        config["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "cat /pwd"])
    );
    assert_eq!(config["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(config["Healthcheck"]["Retries"], 2);
    // The trigger ran in the child and is not inherited further.
    assert!(
        config
            .get("OnBuild")
            .is_none_or(|o| o.is_null() || o.as_array().is_some_and(|a| a.is_empty())),
        "{config:#}"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn independent_stages_build_side_by_side() {
    let sandbox = Sandbox::with_probe();
    let ctx = tempfile::tempdir().unwrap();
    // Each stage's RUN waits (10 s at most) for the other's to have started: built one
    // after the other, the first would give up and fail.
    let wait_for = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,id=rendezvous,target=/sync echo > /sync/{me}; i=0; \
             while [ ! -e /sync/{other} ] && [ $i -lt 100 ]; do busybox sleep 0.1; i=$((i+1)); done; \
             test -e /sync/{other} && echo {me} > /{me}"
        )
    };
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM probe:latest AS a\n{}\nFROM probe:latest AS b\n{}\nFROM probe:latest\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
            wait_for("a", "b"),
            wait_for("b", "a")
        ),
    );
    build_ok(&sandbox, &["-t", "par", ctx.path().to_str().unwrap()]);
    assert_eq!(sandbox.ok(["--rm", "par", "cat", "/a", "/b"]), "a\nb\n");
    sandbox.assert_nothing_left();
}

#[test]
fn run_steps_have_no_network_unless_asked() {
    let sandbox = Sandbox::with_probe();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM probe:latest\nRUN busybox ip -o -4 addr | busybox grep -v ' lo ' | busybox wc -l > /links\n",
    );
    let ctx_path = ctx.path().to_str().unwrap();
    build_ok(&sandbox, &["-t", "nonet", ctx_path]);
    assert_eq!(
        sandbox.ok(["--rm", "--network", "none", "nonet", "cat", "/links"]),
        "0\n"
    );
    build_ok(
        &sandbox,
        &["-t", "withnet", "--network", "default", ctx_path],
    );
    assert_eq!(
        sandbox.ok(["--rm", "--network", "none", "withnet", "cat", "/links"]),
        "1\n"
    );
    sandbox.assert_nothing_left();
}

#[test]
fn secrets_are_there_for_the_step_only() {
    let sandbox = Sandbox::with_probe();
    let ctx = tempfile::tempdir().unwrap();
    let secret = ctx.path().join("token.txt");
    std::fs::write(&secret, "s3cret\n").unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM probe:latest\nRUN --mount=type=secret,id=token,required \
         busybox wc -c < /run/secrets/token > /token-size\n",
    );
    write(ctx.path(), ".dockerignore", "token.txt\n");
    let ctx_path = ctx.path().to_str().unwrap();
    let out = build(&sandbox, &["-t", "sec", ctx_path]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret token is required"));
    let given = format!("id=token,src={}", secret.display());
    build_ok(&sandbox, &["-t", "sec", "--secret", &given, ctx_path]);
    let out = sandbox.ok([
        "--rm",
        "sec",
        "sh",
        "-c",
        "cat /token-size; test -e /run/secrets/token && echo leaked || echo gone",
    ]);
    assert_eq!(out, "7\ngone\n");
    // The secret's content is not in the step's key: another value reuses the step.
    let first = inspect(&sandbox, "sec")["Id"].clone();
    std::fs::write(&secret, "a different, longer secret\n").unwrap();
    build_ok(&sandbox, &["-t", "sec2", "--secret", &given, ctx_path]);
    assert_eq!(inspect(&sandbox, "sec2")["Id"], first);
    assert_eq!(sandbox.ok(["--rm", "sec2", "cat", "/token-size"]), "7\n");
    sandbox.assert_nothing_left();
}
