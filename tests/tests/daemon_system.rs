//! berthd as the docker CLI sees it before any container: version negotiation, `/info`,
//! docker's error bodies, one daemon per root, a clean stop.

use berth_tests::container::Sandbox;
use berth_tests::daemon::Daemon;

#[test]
fn the_docker_cli_negotiates_and_reads_version_and_info() {
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);

    let version = daemon.docker_ok(["version", "--format", "{{json .Server}}"]);
    let version: serde_json::Value = serde_json::from_str(&version).expect("version JSON");
    assert_eq!(version["ApiVersion"], "1.43", "{version}");
    assert_eq!(version["MinAPIVersion"], "1.24", "{version}");
    assert_eq!(version["Os"], "linux");

    let info = daemon.docker_ok(["info", "--format", "{{json .}}"]);
    let info: serde_json::Value = serde_json::from_str(&info).expect("info JSON");
    assert_eq!(info["Containers"], 0, "{info}");
    assert_eq!(info["Images"], 0, "{info}");
    assert_eq!(info["OSType"], "linux");
    assert_eq!(
        info["DockerRootDir"],
        sandbox.store.root().display().to_string()
    );
    let cgroup_version = info["CgroupVersion"].as_str().unwrap();
    assert!(["1", "2"].contains(&cgroup_version), "{info}");
    assert!(info["NCPU"].as_i64().unwrap() >= 1);
    // The proxies the daemon runs with are what it reports.
    assert_eq!(info["HttpProxy"], "http://127.0.0.1:9");
}

#[test]
fn versions_out_of_range_and_unknown_paths_get_docker_errors() {
    let sandbox = Sandbox::new();
    let daemon = Daemon::start(&sandbox);

    let ping = daemon.http("HEAD", "/_ping", "");
    assert!(
        ping.starts_with("HTTP/1.0 200") || ping.starts_with("HTTP/1.1 200"),
        "{ping}"
    );
    let lower = ping.to_lowercase();
    assert!(lower.contains("api-version: 1.43"), "{ping}");
    assert!(lower.contains("ostype: linux"), "{ping}");

    let old = daemon.http("GET", "/v1.12/info", "");
    assert!(old.contains(" 400 "), "{old}");
    assert!(old.contains("client version 1.12 is too old"), "{old}");
    let new = daemon.http("GET", "/v1.99/info", "");
    assert!(new.contains(" 400 ") && new.contains("too new"), "{new}");
    let missing = daemon.http("GET", "/v1.43/no/such/endpoint", "");
    assert!(missing.contains(" 404 "), "{missing}");
    assert!(
        missing.contains(r#"{"message":"page not found"}"#),
        "{missing}"
    );
    // Versioned and unversioned paths are the same endpoint.
    let unversioned = daemon.http("GET", "/info", "");
    assert!(unversioned.contains(" 200 "), "{unversioned}");
}

#[test]
fn one_daemon_per_root_and_a_clean_stop() {
    let sandbox = Sandbox::new();
    let mut daemon = Daemon::start(&sandbox);

    let second_socket = sandbox.store.base().join("second.sock");
    let second = Daemon::command(&sandbox, &second_socket, &[])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!("another berthd (pid {})", daemon.pid())),
        "{err}"
    );
    assert!(
        !second_socket.exists(),
        "the refused daemon left its socket"
    );

    // A live socket is not stolen by a daemon of another root.
    let other = Sandbox::new();
    let stolen = Daemon::command(&other, &daemon.socket, &[])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!stolen.status.success());
    assert!(
        String::from_utf8_lossy(&stolen.stderr).contains("is in use"),
        "{}",
        String::from_utf8_lossy(&stolen.stderr)
    );
    daemon.docker_ok(["version"]);

    let status = daemon.stop().expect("berthd ran");
    assert!(
        status.success(),
        "berthd exit: {status}: {}",
        daemon.log_text()
    );
    assert!(!daemon.socket.exists(), "socket left after SIGTERM");
}

#[test]
fn a_tcp_listener_without_tls_off_loopback_is_refused() {
    let sandbox = Sandbox::new();
    let socket = sandbox.store.base().join("d.sock");
    let out = Daemon::command(&sandbox, &socket, &["-H", "tcp://0.0.0.0:23750"])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs TLS"), "{err}");
    assert!(!socket.exists(), "refused at start, yet a socket was made");
}

#[test]
fn socket_activation_serves_the_sockets_systemd_passes() {
    let sandbox = Sandbox::new();
    let socket = sandbox.store.base().join("activated.sock");
    // -H fd:// replaces the Unix socket the helper would make: only systemd's socket serves.
    let berthd = Daemon::command(&sandbox, &sandbox.store.base().join("unused.sock"), &[]);
    let mut args: Vec<std::ffi::OsString> = berthd.get_args().map(|a| a.to_owned()).collect();
    let host = args.iter().position(|a| a == "-H").unwrap();
    args[host + 1] = "fd://".into();
    let mut activator = std::process::Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&socket)
        .arg(berthd.get_program())
        .args(&args)
        .envs(sandbox.net.env())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn systemd-socket-activate");
    berth_tests::wait_for("the activation socket", || socket.exists());
    let docker = |args: &[&str]| {
        std::process::Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", sandbox.store.base())
            .output()
            .unwrap()
    };
    let version = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), "1.43");
    assert!(!sandbox.store.base().join("unused.sock").exists());
    // SIGTERM reaches berthd, which systemd-socket-activate exec'd into.
    let pid = rustix::process::Pid::from_raw(activator.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = activator.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn sighup_reloads_the_log_level_and_names_what_needs_a_restart() {
    let sandbox = Sandbox::new();
    let config = Daemon::config_file(&sandbox);
    std::fs::write(&config, r#"{"log-level": "warn"}"#).unwrap();
    let daemon = Daemon::start(&sandbox);
    daemon.docker_ok(["version"]);
    assert!(!daemon.log_text().contains("INFO"), "{}", daemon.log_text());

    std::fs::write(
        &config,
        r#"{"log-level": "info", "insecure-registries": ["127.0.0.1:5000"]}"#,
    )
    .unwrap();
    daemon.signal(rustix::process::Signal::HUP);
    berth_tests::wait_for("the reload in the log", || {
        daemon.log_text().contains("configuration reloaded")
    });
    let log = daemon.log_text();
    assert!(
        log.contains("insecure-registries changed; it takes effect when berthd restarts"),
        "{log}"
    );

    std::fs::write(&config, r#"{"log-level": "loud"}"#).unwrap();
    daemon.signal(rustix::process::Signal::HUP);
    berth_tests::wait_for("the refused reload", || {
        daemon.log_text().contains("configuration not reloaded")
    });
    // A bad file changes nothing and berthd keeps serving.
    daemon.docker_ok(["version"]);
}
