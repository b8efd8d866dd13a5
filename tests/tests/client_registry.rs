//! `berth pull`, `login`, `push` in-process against a real registry (docker-registry behind
//! htpasswd): the client sends the credentials `berth login` stored as X-Registry-Auth, as
//! the docker CLI does, and the pulled image runs.

use berth_tests::client::{berth_local, ok, output};
use berth_tests::container::Sandbox;
use berth_tests::image::busybox_entries;
use berth_tests::registry::{Auth, Registry, PASSWORD, USER};
use berth_tests::{Compression, Entry, ImageSpec, Layer};

#[test]
fn login_pull_run_push_and_pull_back_in_process() {
    let registry = Registry::start(Auth::Htpasswd);
    let built = ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::Gzip),
        Layer::new(vec![
            Entry::dir("etc"),
            Entry::file("etc/motd", "pulled by berth\n"),
        ])
        .compressed(Compression::Gzip),
    ])
    .build();
    registry.seed(&built, "team/app:1", Some((USER, PASSWORD)));
    let host = registry.host();
    let name = format!("{host}/team/app:1");
    let sandbox = Sandbox::new();

    // Nothing stored yet: the registry refuses, the error names it, nothing is kept.
    let out = output(berth_local(&sandbox, ["pull", &name]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "pull without credentials succeeded");
    assert!(
        stderr.contains("unauthorized") && stderr.contains(&host),
        "{stderr}"
    );
    assert!(ok(berth_local(&sandbox, ["images", "-q"]))
        .trim()
        .is_empty());

    let login = ok(berth_local(
        &sandbox,
        ["login", "-u", USER, "-p", PASSWORD, host.as_str()],
    ));
    assert!(login.contains("Login Succeeded"), "{login}");

    ok(berth_local(&sandbox, ["pull", "-q", &name]));
    let motd = ok(berth_local(
        &sandbox,
        [
            "run",
            "--rm",
            "--network",
            "none",
            &name,
            "cat",
            "/etc/motd",
        ],
    ));
    assert_eq!(motd, "pulled by berth\n");
    let id = ok(berth_local(
        &sandbox,
        ["images", "--no-trunc", "-q", name.as_str()],
    ));

    // Push under another name, drop both, pull it back: the same image ID.
    let copy = format!("{host}/team/copy:2");
    ok(berth_local(&sandbox, ["tag", &name, &copy]));
    let pushed = ok(berth_local(&sandbox, ["push", &copy]));
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    ok(berth_local(&sandbox, ["rmi", &name, &copy]));
    assert!(ok(berth_local(&sandbox, ["images", "-q"]))
        .trim()
        .is_empty());
    ok(berth_local(&sandbox, ["pull", "-q", &copy]));
    let back = ok(berth_local(
        &sandbox,
        ["images", "--no-trunc", "-q", copy.as_str()],
    ));
    assert_eq!(back, id);

    // Logged out, the registry refuses again.
    ok(berth_local(&sandbox, ["logout", host.as_str()]));
    ok(berth_local(&sandbox, ["rmi", &copy]));
    let out = output(berth_local(&sandbox, ["pull", &copy]));
    assert!(!out.status.success(), "pull after logout succeeded");
}
