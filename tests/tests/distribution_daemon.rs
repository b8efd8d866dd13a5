//! `docker pull` through berthd from a real registry (docker-registry behind htpasswd):
//! the CLI's credentials come as X-Registry-Auth, its progress bars from berthd's JSON
//! lines; the pulled image runs with `docker run --rm`.

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;
use berth_tests::image::busybox_entries;
use berth_tests::registry::{docker_config, Auth, Registry, PASSWORD, USER};
use berth_tests::{Compression, Entry, ImageSpec, Layer};

#[test]
fn docker_pull_then_run_through_berthd() {
    let registry = Registry::start(Auth::Htpasswd);
    let built = ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::Gzip),
        Layer::new(vec![
            Entry::dir("etc"),
            Entry::file("etc/motd", "via berthd\n"),
        ])
        .compressed(Compression::Gzip),
    ])
    .build();
    registry.seed(&built, "team/app:1", Some((USER, PASSWORD)));
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    let name = format!("{}/team/app:1", registry.host());

    // No credentials: unauthorized, naming the registry; nothing stored.
    let out = daemon.docker(["pull", &name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "pull without credentials succeeded");
    assert!(
        stderr.contains("unauthorized") && stderr.contains(&registry.host()),
        "{stderr}"
    );
    assert!(daemon.docker_ok(["images", "-q"]).trim().is_empty());

    // The CLI's own config.json: it sends the credentials as X-Registry-Auth.
    docker_config(
        &sandbox.store.base().join("docker-config"),
        &registry.host(),
        USER,
        PASSWORD,
    );
    let missing = format!("{}/team/app:2", registry.host());
    let out = daemon.docker(["pull", &missing]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("manifest for {missing} not found")),
        "{stderr}"
    );

    let pulled = daemon.docker_ok(["pull", &name]);
    assert!(pulled.contains("Pull complete"), "{pulled}");
    assert!(
        pulled.contains(&format!("Digest: {}", built.manifest_digest)),
        "{pulled}"
    );
    assert!(
        pulled.contains(&format!("Status: Downloaded newer image for {name}")),
        "{pulled}"
    );
    assert_eq!(pulled.lines().last(), Some(name.as_str()));
    let id = daemon.docker_ok(["image", "inspect", &name, "--format", "{{.Id}}"]);
    assert_eq!(id.trim(), built.id());
    // `--until 0s` is the start of this second: what just happened shows from the next.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let events = daemon.docker_ok([
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}",
    ]);
    let repo = format!("{}/team/app", registry.host());
    assert!(
        events.lines().any(|l| l == format!("pull {name} {repo}")),
        "{events}"
    );
    let again = daemon.docker_ok(["pull", &name]);
    assert!(again.contains("Image is up to date"), "{again}");

    let out = daemon.docker_ok([
        "run",
        "--rm",
        "--network",
        "none",
        &name,
        "cat",
        "/etc/motd",
    ]);
    assert_eq!(out, "via berthd\n");
    // The CLI may return before the daemon has removed the --rm container (seen once).
    berth_tests::wait_for("the --rm container to go", || {
        daemon.docker_ok(["ps", "-aq"]).trim().is_empty()
    });
    sandbox.assert_nothing_left();
}

#[test]
fn docker_push_through_berthd_then_pull_back() {
    let registry = Registry::start(Auth::Htpasswd);
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    let archive = sandbox.store.work("probe.tar");
    berth_tests::probe::write_probe_image(&archive, "probe:latest");
    daemon.docker_ok(["load", "-i", archive.to_str().unwrap()]);
    let id = daemon.docker_ok(["image", "inspect", "probe", "--format", "{{.Id}}"]);
    let name = format!("{}/team/probe:2", registry.host());
    daemon.docker_ok(["tag", "probe", &name]);

    let out = daemon.docker(["push", &name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a push without credentials succeeded"
    );
    assert!(
        stderr.contains("unauthorized") && stderr.contains(&registry.host()),
        "{stderr}"
    );

    // docker login: berthd's /auth checks, the CLI keeps what passed.
    let host = registry.host();
    let answer = daemon.http("POST", "/auth", &format!(r#"{{"serveraddress":"{host}"}}"#));
    assert!(answer.starts_with("HTTP/1.0 400"), "{answer}");
    assert!(
        answer.contains(&format!("login to {host}: no credentials given")),
        "{answer}"
    );
    let out = daemon.docker(["login", "-u", USER, "-p", "wrong", &host]);
    assert!(!out.status.success(), "a wrong password logged in");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unauthorized"), "{stderr}");
    let out = daemon.docker_ok(["login", "-u", USER, "-p", PASSWORD, &host]);
    assert!(out.contains("Login Succeeded"), "{out}");
    let config = sandbox.store.base().join("docker-config");
    let pushed = daemon.docker_ok(["push", &name]);
    assert!(pushed.contains("Pushed"), "{pushed}");
    assert!(pushed.contains("2: digest: sha256:"), "{pushed}");
    let again = daemon.docker_ok(["push", &name]);
    assert!(again.contains("Layer already exists"), "{again}");

    // Back through the toolkit: the same image ID.
    let other = berth_tests::TestStore::new();
    let out = other
        .command()
        .args(["pull", "-q", &name])
        .env("DOCKER_CONFIG", &config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        berth_tests::store::describe(&out)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id.trim());
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let events = daemon.docker_ok([
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.ID}}",
    ]);
    assert!(
        events.lines().any(|l| l == format!("push {name}")),
        "{events}"
    );
}

#[test]
fn docker_import_of_a_rootfs_tarball() {
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    let tarball = sandbox.store.work("rootfs.tar.gz");
    let tar = berth_tests::image::tar_bytes(&busybox_entries());
    std::fs::write(&tarball, Compression::Gzip.compress(&tar)).unwrap();
    let id = daemon.docker_ok([
        "import",
        "--change",
        r#"CMD ["echo", "imported"]"#,
        "--change",
        "ENV WHO=berth",
        "-m",
        "from a tarball",
        tarball.to_str().unwrap(),
        "imported:1",
    ]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let shown = daemon.docker_ok([
        "image",
        "inspect",
        "imported:1",
        "--format",
        "{{.Id}} {{json .Config.Cmd}} {{.Comment}}",
    ]);
    assert_eq!(
        shown.trim(),
        format!(r#"{id} ["echo","imported"] from a tarball"#)
    );
    let out = daemon.docker_ok([
        "run",
        "--rm",
        "--network",
        "none",
        "imported:1",
        "sh",
        "-c",
        "echo $WHO",
    ]);
    assert_eq!(out, "berth\n");
    // A tarball that is not one: refused, nothing stored.
    let junk = sandbox.store.work("junk.tar");
    std::fs::write(&junk, b"not a tarball at all").unwrap();
    let out = daemon.docker(["import", junk.to_str().unwrap(), "junk:1"]);
    assert!(!out.status.success(), "a junk import succeeded");
    let images = daemon.docker_ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.trim(), "imported:1");
    berth_tests::wait_for("the --rm container to go", || {
        daemon.docker_ok(["ps", "-aq"]).trim().is_empty()
    });
    sandbox.assert_nothing_left();
}

#[test]
fn an_identity_token_gets_bearer_tokens_through_berthd() {
    use berth_tests::registry::{TokenServer, IDENTITY_TOKEN};
    let tokens = TokenServer::start();
    let registry = Registry::start(Auth::Token(tokens.config()));
    let built = ImageSpec::new(vec![Layer::new(vec![
        Entry::dir("etc"),
        Entry::file("etc/motd", "by identity token\n"),
    ])
    .compressed(Compression::Gzip)])
    .build();
    registry.seed(&built, "t/app:1", Some((USER, PASSWORD)));
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    let name = format!("{}/t/app:1", registry.host());
    let config = sandbox
        .store
        .base()
        .join("docker-config")
        .join("config.json");
    let write = |token: &str| {
        let auths = serde_json::json!({"auths": {registry.host(): {"identitytoken": token}}});
        std::fs::write(&config, auths.to_string()).unwrap();
    };

    // A refresh token the token server does not know: unauthorized, nothing stored.
    write("not-the-token");
    let out = daemon.docker(["pull", &name]);
    assert!(!out.status.success(), "a wrong identity token pulled");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unauthorized"), "{stderr}");
    assert!(daemon.docker_ok(["images", "-q"]).trim().is_empty());

    // The CLI sends config.json's identitytoken as X-Registry-Auth's IdentityToken; berthd
    // trades it for a token with grant_type=refresh_token.
    write(IDENTITY_TOKEN);
    let pulled = daemon.docker_ok(["pull", &name]);
    assert!(pulled.contains("Pull complete"), "{pulled}");
    let id = daemon.docker_ok(["image", "inspect", &name, "--format", "{{.Id}}"]);
    assert_eq!(id.trim(), built.id());
}

#[test]
fn docker_import_of_a_url() {
    let tar = berth_tests::image::tar_bytes(&busybox_entries());
    let tarball = Compression::Gzip.compress(&tar);
    let server = berth_tests::registry::TinyServer::start(move |_method, path, _headers| {
        if path == "/rootfs.tar.gz" {
            (200, vec![], tarball.clone())
        } else {
            (404, vec![], b"no such file".to_vec())
        }
    });
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);
    let url = format!("http://{}/rootfs.tar.gz", server.host());
    // The daemon's proxy is a closed port: the fetch honours NO_PROXY for the loopback.
    let id = daemon.docker_ok([
        "import",
        "--change",
        "CMD [\"/bin/cat\", \"/etc/group\"]",
        &url,
        "fromurl:1",
    ]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let out = daemon.docker_ok(["run", "--rm", "--network", "none", "fromurl:1"]);
    assert_eq!(out, "root:x:0:\n");

    // A URL that answers 404, and one that is not http(s): refused, naming the URL.
    let missing = format!("http://{}/nothing.tar", server.host());
    let out = daemon.docker(["import", &missing, "nothing:1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot import from {missing}")) && stderr.contains("404"),
        "{stderr}"
    );
    let answer = daemon.http(
        "POST",
        "/images/create?fromSrc=file:///etc/passwd&repo=x",
        "",
    );
    assert!(answer.starts_with("HTTP/1.0 400"), "{answer}");
    assert!(answer.contains("only http:// and https://"), "{answer}");
    berth_tests::wait_for("the --rm container to go", || {
        daemon.docker_ok(["ps", "-aq"]).trim().is_empty()
    });
    sandbox.assert_nothing_left();
}
