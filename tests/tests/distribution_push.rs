//! `berth-unpack push` to a real registry (docker-registry behind htpasswd), then pull back:
//! the same image ID, since the manifest and blobs go up as the store keeps them.

use std::path::Path;
use std::process::Output;

use berth_tests::formats::write_images;
use berth_tests::image::busybox_entries;
use berth_tests::registry::{docker_config, Auth, Registry, PASSWORD, USER};
use berth_tests::store::describe;
use berth_tests::{BuiltImage, Compression, Entry, Format, ImageSpec, Layer, TestStore};

fn image(motd: &str) -> BuiltImage {
    ImageSpec::new(vec![
        Layer::new(busybox_entries()).compressed(Compression::Gzip),
        Layer::new(vec![Entry::dir("etc"), Entry::file("etc/motd", motd)])
            .compressed(Compression::Zstd),
    ])
    .build()
}

fn run(store: &TestStore, args: &[&str], config: &Path) -> Output {
    store
        .command()
        .args(args)
        .env("DOCKER_CONFIG", config)
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "localhost,127.0.0.1")
        .output()
        .expect("spawn berth-unpack")
}

fn ok(store: &TestStore, args: &[&str], config: &Path) -> Output {
    let out = run(store, args, config);
    assert!(out.status.success(), "{args:?}: {}", describe(&out));
    out
}

/// Loads `built` (written as `format`) into a fresh store, pushes it as `name`, pulls it
/// into another store; returns the pushed digest line and the pulled ID.
fn round_trip(built: &BuiltImage, format: Format, name: &str, config: &Path) -> (String, String) {
    let source = TestStore::new();
    let archive = write_images(format, std::slice::from_ref(built), &source.work("image"));
    source.load(&archive);
    ok(&source, &["tag", &built.id(), name], config);
    let pushed = ok(&source, &["push", name], config);
    let stderr = String::from_utf8_lossy(&pushed.stderr);
    assert!(stderr.contains("Pushed"), "{stderr}");
    let again = ok(&source, &["push", name], config);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("Layer already exists") && !stderr.contains("Pushed"),
        "{stderr}"
    );
    let target = TestStore::new();
    let pulled = ok(&target, &["pull", "-q", name], config);
    (
        String::from_utf8_lossy(&pushed.stdout).trim().to_string(),
        String::from_utf8_lossy(&pulled.stdout).trim().to_string(),
    )
}

#[test]
fn push_then_pull_back_gives_the_same_image() {
    let registry = Registry::start(Auth::Htpasswd);
    let work = tempfile::tempdir().unwrap();
    let config = docker_config(
        &work.path().join("docker"),
        &registry.host(),
        USER,
        PASSWORD,
    );

    // An OCI layout: its manifest goes up byte for byte.
    let built = image("pushed\n");
    let name = format!("{}/team/pushed:1", registry.host());
    let (line, id) = round_trip(&built, Format::OciDir, &name, &config);
    assert_eq!(
        line,
        format!(
            "1: digest: {} size: {}",
            built.manifest_digest,
            built.manifest.len()
        )
    );
    assert_eq!(id, built.id());

    // A classic docker-archive (uncompressed layers, no manifest): berth's manifest over
    // the stored blobs, so the registry's config diff_ids are the local image's.
    let classic = ImageSpec::new(vec![Layer::new(busybox_entries())])
        .created("2024-02-02T00:00:00Z")
        .build();
    let name = format!("{}/team/classic:2", registry.host());
    let (line, id) = round_trip(&classic, Format::DockerClassic, &name, &config);
    assert!(line.starts_with("2: digest: sha256:"), "{line}");
    assert_eq!(id, classic.id());
}

#[test]
fn a_push_with_wrong_credentials_is_unauthorized() {
    let registry = Registry::start(Auth::Htpasswd);
    let work = tempfile::tempdir().unwrap();
    let wrong = docker_config(&work.path().join("docker"), &registry.host(), USER, "wrong");
    let store = TestStore::new();
    let built = image("x\n");
    store.load(&write_images(
        Format::OciDir,
        std::slice::from_ref(&built),
        &store.work("image"),
    ));
    let name = format!("{}/x:1", registry.host());
    ok(&store, &["tag", &built.id(), &name], &wrong);
    let out = run(&store, &["push", &name], &wrong);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unauthorized") && stderr.contains(&registry.host()),
        "{stderr}"
    );
}

fn login(
    store: &TestStore,
    config: &Path,
    host: &str,
    password: &str,
    path: Option<&str>,
) -> Output {
    use std::io::Write;
    let mut cmd = store.command();
    cmd.args(["login", "-u", USER, "--password-stdin", host])
        .env("DOCKER_CONFIG", config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn login_stores_what_the_registry_accepts_and_logout_forgets_it() {
    let registry = Registry::start(Auth::Htpasswd);
    let host = registry.host();
    let store = TestStore::new();
    let config = store.work("docker");
    let out = login(&store, &config, &host, "wrong", None);
    assert!(!out.status.success(), "a wrong password logged in");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unauthorized"),
        "{}",
        describe(&out)
    );
    assert!(
        !config.join("config.json").exists(),
        "nothing is stored for a refused login"
    );

    let out = login(&store, &config, &host, PASSWORD, None);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Login Succeeded"
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config.join("config.json")).unwrap()).unwrap();
    let auth = saved["auths"][&host]["auth"].as_str().unwrap();
    assert_eq!(
        auth,
        berth_tests::registry::base64(format!("{USER}:{PASSWORD}").as_bytes(), false)
    );

    let built = image("after login\n");
    store.load(&write_images(
        Format::OciDir,
        std::slice::from_ref(&built),
        &store.work("image"),
    ));
    let name = format!("{host}/logged/in:1");
    ok(&store, &["tag", &built.id(), &name], &config);
    ok(&store, &["push", &name], &config);

    let out = ok(&store, &["logout", &host], &config);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("Removing login credentials for {host}")
    );
    let out = run(&store, &["push", &name], &config);
    assert!(!out.status.success(), "pushed after logout");
}

#[test]
fn a_credential_helper_stores_and_gives_the_credentials() {
    let registry = Registry::start(Auth::Htpasswd);
    let host = registry.host();
    let store = TestStore::new();
    let config = store.work("docker");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), r#"{"credsStore":"berthtest"}"#).unwrap();
    // A helper speaking docker's protocol, keeping one secret in a file beside it.
    let bin = store.work("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let kept = store.work("helper-secret.json");
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  store) cat > {kept} ;;\n  get) read server; [ -f {kept} ] || {{ echo 'credentials not found in native keychain'; exit 1; }}; cat {kept} ;;\n  erase) rm -f {kept} ;;\nesac\n",
            kept = kept.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let out = login(&store, &config, &host, PASSWORD, Some(&path));
    assert!(out.status.success(), "{}", describe(&out));
    let secret: serde_json::Value = serde_json::from_slice(&std::fs::read(&kept).unwrap()).unwrap();
    assert_eq!(secret["Username"], USER);
    assert_eq!(secret["ServerURL"], host.as_str());
    let saved = std::fs::read_to_string(config.join("config.json")).unwrap();
    assert!(
        !saved.contains("auths"),
        "the helper keeps the secret, not config.json: {saved}"
    );

    let built = image("via a helper\n");
    registry.seed(&built, "helped:1", Some((USER, PASSWORD)));
    let other = TestStore::new();
    let out = other
        .command()
        .args(["pull", "-q", &format!("{host}/helped:1")])
        .env("DOCKER_CONFIG", &config)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), built.id());
}

#[test]
fn a_second_repository_mounts_the_blobs_of_the_first() {
    let registry = Registry::start(Auth::Htpasswd);
    let work = tempfile::tempdir().unwrap();
    let config = docker_config(
        &work.path().join("docker"),
        &registry.host(),
        USER,
        PASSWORD,
    );
    let store = TestStore::new();
    let built = image("mounted\n");
    store.load(&write_images(
        Format::OciDir,
        std::slice::from_ref(&built),
        &store.work("image"),
    ));
    let first = format!("{}/team/one:1", registry.host());
    let second = format!("{}/other/two:1", registry.host());
    ok(&store, &["tag", &built.id(), &first], &config);
    ok(&store, &["push", &first], &config);
    ok(&store, &["tag", &built.id(), &second], &config);
    let out = ok(&store, &["push", &second], &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mounted = stderr
        .lines()
        .filter(|l| l.ends_with("Mounted from team/one"))
        .count();
    assert_eq!(
        mounted,
        built.layers.len() + 1,
        "every layer and the config: {stderr}"
    );
    assert!(!stderr.contains("Pushed"), "{stderr}");
    let target = TestStore::new();
    let pulled = ok(&target, &["pull", "-q", &second], &config);
    assert_eq!(String::from_utf8_lossy(&pulled.stdout).trim(), built.id());
}
