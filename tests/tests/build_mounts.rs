//! `RUN --mount` as BuildKit does them, through berth-build: `type=bind,from=` a stage or
//! an image (read-only, or rw with the writes thrown away), `type=tmpfs`, `type=cache`
//! seeded `from=` a stage with its `uid`/`mode`, and `sharing=locked` keeping two stages
//! that build side by side out of one cache at once. Each is seen by its RUN and none is
//! left in the image.

use std::path::Path;
use std::process::Output;

use berth_tests::container::Sandbox;

fn build(sandbox: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = sandbox.stage_command("berth-build", args);
    cmd.env("BERTH_CGROUP_PARENT", &sandbox.cgroup_parent);
    cmd.output().expect("spawn berth-build")
}

fn build_ok(sandbox: &Sandbox, args: &[&str]) {
    let out = build(sandbox, args);
    assert!(
        out.status.success(),
        "berth-build failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::write(dir.join(name), content).unwrap();
}

/// Nothing of the build's (copies of bound files, private caches) left in the store's tmp/.
fn tmp_is_empty(sandbox: &Sandbox) {
    let tmp = sandbox.store.root().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", tmp.display());
}

#[test]
fn bind_from_a_stage_or_image_tmpfs_and_a_seeded_cache_are_seen_and_not_kept() {
    let sandbox = Sandbox::with_probe();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM probe:latest AS src\n\
         RUN busybox mkdir -p /out && echo from-stage > /out/made && busybox chown 1234:5678 /out/made\n\
         FROM probe:latest\n\
         RUN --mount=type=bind,from=src,source=/out,target=/m cat /m/made > /seen-bind && busybox stat -c %u:%g /m/made >> /seen-bind && (echo no > /m/x 2>/dev/null || echo read-only >> /seen-bind)\n\
         RUN --mount=type=bind,from=src,source=out,target=/w,rw echo scribble > /w/new && cat /w/new > /seen-rw\n\
         RUN --mount=type=bind,from=src,source=/out,target=/w2 busybox ls /w2 > /seen-rw-gone\n\
         RUN --mount=type=bind,from=probe:latest,source=/etc/passwd,target=/pw busybox head -n 1 /pw | busybox cut -d: -f1 > /seen-img\n\
         RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/x && busybox grep ' /scratch ' /proc/mounts | busybox cut -d' ' -f3 > /seen-tmpfs\n\
         RUN --mount=type=cache,target=/c,from=src,source=/out,uid=1000,mode=0750 cat /c/made > /seen-cache && busybox stat -c %u:%a /c >> /seen-cache\n",
    );
    build_ok(&sandbox, &["-t", "mounts", ctx.path().to_str().unwrap()]);
    let out = sandbox.ok([
        "--rm",
        "mounts",
        "sh",
        "-c",
        "cat /seen-bind /seen-rw /seen-rw-gone /seen-img /seen-tmpfs /seen-cache; \
         for p in /m /w /w2 /pw /scratch /c; do test -e $p && echo left $p; done; true",
    ]);
    assert_eq!(
        out,
        "from-stage\n1234:5678\nread-only\nscribble\nmade\nroot\ntmpfs\nfrom-stage\n1000:750\n"
    );
    // The binds were copies: the stage's own image is as it was.
    let out = build(
        &sandbox,
        &[
            "--target",
            "src",
            "-t",
            "src-only",
            ctx.path().to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    assert_eq!(
        sandbox.ok(["--rm", "src-only", "busybox", "ls", "/out"]),
        "made\n"
    );
    // A stage or image that is not there is an error naming it.
    write(
        ctx.path(),
        "Dockerfile",
        "FROM probe:latest\nRUN --mount=type=bind,from=nowhere:1,target=/x true\n",
    );
    let out = build(&sandbox, &["-t", "bad", ctx.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("nowhere"),
        "{stderr}"
    );
    tmp_is_empty(&sandbox);
    sandbox.assert_nothing_left();
}

#[test]
fn a_locked_cache_has_one_user_at_a_time() {
    let sandbox = Sandbox::with_probe();
    let ctx = tempfile::tempdir().unwrap();
    // Two stages that build side by side, each in the cache for a second: locked, one
    // waits for the other, so neither's lines fall between the other's.
    let stage = |me: &str| {
        format!(
            "FROM probe:latest AS {me}\n\
             RUN --mount=type=cache,id=one,target=/c,sharing=locked echo {me}-in >> /c/log; \
             busybox sleep 1; echo {me}-out >> /c/log; busybox cp /c/log /log-{me}\n"
        )
    };
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "{}{}FROM probe:latest\nCOPY --from=a /log-a /\nCOPY --from=b /log-b /\n",
            stage("a"),
            stage("b")
        ),
    );
    build_ok(&sandbox, &["-t", "locked", ctx.path().to_str().unwrap()]);
    let logs = sandbox.ok(["--rm", "locked", "cat", "/log-a", "/log-b"]);
    let lines: Vec<&str> = logs.lines().collect();
    // The later one saw the whole log: first's in and out, then its own.
    let whole: Vec<&str> = if lines[..2] == ["a-in", "a-out"] {
        lines[2..].to_vec()
    } else {
        lines[..4].to_vec()
    };
    let first = &whole[0][..1];
    let second = if first == "a" { "b" } else { "a" };
    assert_eq!(
        whole,
        [
            format!("{first}-in"),
            format!("{first}-out"),
            format!("{second}-in"),
            format!("{second}-out")
        ],
        "{logs}"
    );
    tmp_is_empty(&sandbox);
    sandbox.assert_nothing_left();
}
