//! berth-build's FROM of an image the store does not have: pulled through lib/distribution
//! from a loopback registry, kept in the store for the next build, pulled again with
//! `--pull`; a FROM whose image is for another platform than the stage's, and one the
//! registry does not have, fail naming what is wrong.

use std::path::Path;
use std::process::Output;

use berth_tests::container::Sandbox;
use berth_tests::image::busybox_entries;
use berth_tests::registry::{Auth, Registry};
use berth_tests::{BuiltImage, Entry, ImageSpec, Layer};

fn base(motd: &str) -> BuiltImage {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()),
        Layer::new(vec![Entry::dir("etc"), Entry::file("etc/motd", motd)]),
    ])
    .build()
}

fn build(sandbox: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = sandbox.stage_command("berth-build", args);
    cmd.env("BERTH_CGROUP_PARENT", &sandbox.cgroup_parent)
        .env("DOCKER_CONFIG", sandbox.store.work("no-docker-config"))
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "localhost,127.0.0.1");
    cmd.output().expect("spawn berth-build")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn build_ok(sandbox: &Sandbox, args: &[&str]) {
    let out = build(sandbox, args);
    assert!(
        out.status.success(),
        "berth-build {args:?}: {}",
        stderr(&out)
    );
}

fn write(dir: &Path, content: &str) {
    std::fs::write(dir.join("Dockerfile"), content).unwrap();
}

#[test]
fn a_from_image_not_in_the_store_is_pulled_and_its_platform_checked() {
    let registry = Registry::start(Auth::None);
    registry.seed(&base("one\n"), "base:1", None);
    let host = registry.host();
    let sandbox = Sandbox::new();
    let ctx = tempfile::tempdir().unwrap();
    let ctx_path = ctx.path().to_str().unwrap();
    write(
        ctx.path(),
        &format!("FROM {host}/base:1\nRUN cat /etc/motd > /seen\n"),
    );
    build_ok(&sandbox, &["-t", "pulled", ctx_path]);
    assert_eq!(sandbox.ok(["--rm", "pulled", "cat", "/seen"]), "one\n");

    // The registry's tag moves on: the store's copy serves until --pull.
    registry.seed(&base("two\n"), "base:1", None);
    build_ok(&sandbox, &["-t", "again", ctx_path]);
    assert_eq!(sandbox.ok(["--rm", "again", "cat", "/seen"]), "one\n");
    build_ok(&sandbox, &["--pull", "-t", "fresh", ctx_path]);
    assert_eq!(sandbox.ok(["--rm", "fresh", "cat", "/seen"]), "two\n");

    // A stage for another platform than its image's.
    write(
        ctx.path(),
        &format!("FROM --platform=linux/s390x {host}/base:1\nCMD [\"true\"]\n"),
    );
    let out = build(&sandbox, &["-t", "wrong", ctx_path]);
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("not the platform linux/s390x") && text.contains("line 1"),
        "{text}"
    );

    // An image the registry does not have.
    write(ctx.path(), &format!("FROM {host}/missing:1\n"));
    let out = build(&sandbox, &["-t", "none", ctx_path]);
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("pulling") && text.contains("missing"),
        "{text}"
    );
    sandbox.assert_nothing_left();
}
