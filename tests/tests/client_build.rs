//! `berth build` with no host: the in-process engine runs the build and its RUN steps in
//! helpers spawned of the `berth` binary itself (`berth_engine::helper_main`), as berthd
//! does; the image it tags runs, and a failing step is the build's error, tagging nothing.

use berth_tests::client::{berth_local, ok, output};
use berth_tests::container::Sandbox;
use berth_tests::formats::{write_images, Format, ImageSpec};

#[test]
fn build_in_process_runs_its_steps_and_the_image_runs() {
    let sandbox = Sandbox::new();
    let archive = sandbox.store.work("busybox.tar");
    let image = ImageSpec::busybox().name("bb:1").cmd(&["sh"]).build();
    write_images(Format::Docker25, std::slice::from_ref(&image), &archive);
    ok(berth_local(&sandbox, ["load", "-q", "-i"]).arg(&archive));

    let context = sandbox.store.work("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("greeting"), "from the context\n").unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM bb:1\nCOPY greeting /greeting\nRUN echo \"built $(cat /greeting)\" > /hello\nCMD [\"cat\", \"/hello\"]\n",
    )
    .unwrap();
    let built = ok(berth_local(&sandbox, ["build", "-t", "hello:1"]).arg(&context));
    assert!(built.contains("Successfully tagged hello:1"), "{built}");
    let said = ok(berth_local(
        &sandbox,
        ["run", "--rm", "--network", "none", "hello:1"],
    ));
    assert_eq!(said, "built from the context\n");

    std::fs::write(context.join("Dockerfile"), "FROM bb:1\nRUN exit 3\n").unwrap();
    let out = output(berth_local(&sandbox, ["build", "-t", "broken:1"]).arg(&context));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failing RUN built");
    assert!(
        stderr.contains("exit 3") || stderr.contains("code: 3"),
        "{stderr}"
    );
    let images = ok(berth_local(
        &sandbox,
        ["images", "--format", "{{.Repository}}"],
    ));
    assert!(!images.contains("broken"), "{images}");
}
