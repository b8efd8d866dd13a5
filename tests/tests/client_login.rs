//! `berth login`/`logout` keep credentials as docker does, in-process against a real
//! registry (docker-registry behind htpasswd): config.json written whole and 0600 with its
//! other keys kept, a corrupt one named and never overwritten, and `credsStore`/
//! `credHelpers` honoured (the helper gets the credentials, config.json none).

use std::os::unix::fs::PermissionsExt;

use berth_tests::client::{berth_local, client_config, ok, output};
use berth_tests::container::Sandbox;
use berth_tests::registry::{Auth, Registry, PASSWORD, USER};
use serde_json::Value;

fn config(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn login_keeps_config_json_whole_and_private_and_refuses_a_corrupt_one() {
    let registry = Registry::start(Auth::Htpasswd);
    let host = registry.host();
    let sandbox = Sandbox::new();
    let path = client_config(&sandbox).join("config.json");

    std::fs::write(&path, "{\"auths\": {\"other:1\": ").unwrap();
    let out = output(berth_local(
        &sandbox,
        ["login", "-u", USER, "-p", PASSWORD, host.as_str()],
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&path.display().to_string()) && stderr.contains("parsing"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"auths\": {\"other:1\": ",
        "a corrupt config.json is left as it was"
    );
    let out = output(berth_local(&sandbox, ["logout", host.as_str()]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");

    std::fs::write(
        &path,
        r#"{"currentContext": "default", "auths": {"other:1": {"auth": "eDp5"}}}"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let login = ok(berth_local(
        &sandbox,
        ["login", "-u", USER, "-p", PASSWORD, host.as_str()],
    ));
    assert!(login.contains("Login Succeeded"), "{login}");
    let stored = config(&path);
    assert_eq!(stored["currentContext"], "default");
    assert_eq!(stored["auths"]["other:1"]["auth"], "eDp5");
    assert!(stored["auths"][&host]["auth"].is_string(), "{stored}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "config.json holds secrets");

    // Wrong credentials: refused by the registry, nothing stored.
    ok(berth_local(&sandbox, ["logout", host.as_str()]));
    let out = output(berth_local(
        &sandbox,
        ["login", "-u", USER, "-p", "wrong", host.as_str()],
    ));
    assert!(!out.status.success());
    assert!(config(&path)["auths"].get(&host).is_none());
    let out = ok(berth_local(&sandbox, ["logout", host.as_str()]));
    assert!(out.contains("Not logged in"), "{out}");
}

#[test]
fn login_and_logout_go_through_the_credential_helper_config_json_names() {
    let registry = Registry::start(Auth::Htpasswd);
    let host = registry.host();
    let sandbox = Sandbox::new();
    let path = client_config(&sandbox).join("config.json");
    let bin = sandbox.store.base().join("helper-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = sandbox.store.base().join("helper-calls");
    for name in ["berthtest", "berthother"] {
        let helper = bin.join(format!("docker-credential-{name}"));
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\n{{ echo \"{name} $1\"; cat; echo; }} >> {}\n",
                calls.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let with_helpers = |args: &[&str]| {
        let mut cmd = berth_local(&sandbox, args);
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", bin.display()));
        cmd
    };
    let login = ["login", "-u", USER, "-p", PASSWORD, host.as_str()];

    // credsStore for every registry.
    std::fs::write(&path, r#"{"credsStore": "berthtest"}"#).unwrap();
    ok(with_helpers(&login));
    let said = std::fs::read_to_string(&calls).unwrap();
    assert!(said.starts_with("berthtest store\n"), "{said}");
    let sent: Value = serde_json::from_str(said.lines().nth(1).unwrap()).unwrap();
    assert_eq!(sent["ServerURL"], host.as_str());
    assert_eq!(sent["Username"], USER);
    assert_eq!(sent["Secret"], PASSWORD);
    assert!(
        config(&path).get("auths").is_none(),
        "nothing in config.json"
    );
    ok(with_helpers(&["logout", host.as_str()]));
    let said = std::fs::read_to_string(&calls).unwrap();
    assert!(said.contains(&format!("berthtest erase\n{host}")), "{said}");

    // credHelpers names the registry's own helper, before credsStore.
    std::fs::remove_file(&calls).unwrap();
    std::fs::write(
        &path,
        format!(r#"{{"credsStore": "berthtest", "credHelpers": {{"{host}": "berthother"}}}}"#),
    )
    .unwrap();
    ok(with_helpers(&login));
    let said = std::fs::read_to_string(&calls).unwrap();
    assert!(said.starts_with("berthother store\n"), "{said}");
}
