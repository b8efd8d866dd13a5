//! `ProcessOptions` from plain values: environment, command, user, workdir, capabilities,
//! security options, ulimits and the spec they make, on a record in a temporary root.

use super::*;
use berth_common::{ErrorKind, ImageConfig, ImagePart, RootfsPart};
use caps::Capability;

fn record(root: &std::path::Path, config: ImageConfig) -> ContainerRecord {
    let image = ImagePart {
        id: "sha256:0".into(),
        name: Some("busybox:latest".into()),
        manifest: "sha256:1".into(),
        config,
        layers: Vec::new(),
    };
    ContainerRecord::new(root.to_path_buf(), root.join("run"), image)
}

fn image_config() -> ImageConfig {
    ImageConfig {
        env: vec!["PATH=/image/bin".into(), "LANG=C".into()],
        cmd: Some(vec!["sh".into()]),
        entrypoint: Some(vec!["/entry".into()]),
        working_dir: "/app".into(),
        user: "daemon".into(),
        ..Default::default()
    }
}

fn rootfs(root: &std::path::Path) -> RootfsPart {
    RootfsPart {
        path: root.join("merged"),
        upper: root.join("upper"),
        work: root.join("work"),
        readonly: false,
        mounts: Vec::new(),
        userns: None,
    }
}

fn spec_error(options: ProcessOptions, record: &mut ContainerRecord) -> SpecError {
    match options.spec(record, &[]) {
        Ok(_) => panic!("the spec was made from bad options: {options:?}"),
        Err(e) => e,
    }
}

fn invalid_flag(error: OptionsError) -> &'static str {
    match error {
        OptionsError::Invalid { flag, .. } => flag,
        other => panic!("not an invalid flag: {other}"),
    }
}

#[test]
fn the_environment_is_image_then_env_files_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env");
    std::fs::write(&env_file, "# comment\n\nLANG=de_DE\nFROM_FILE=1\n").unwrap();
    let options = ProcessOptions {
        env_file: vec![env_file],
        env: vec![
            "FROM_FILE=2".into(),
            "CARGO_PKG_NAME".into(),
            "BERTH_TEST_UNSET_VARIABLE".into(),
        ],
        ..Default::default()
    };
    let env = options
        .environment(&record(dir.path(), image_config()), "box")
        .unwrap();
    let mut want: Vec<String> = [
        "HOSTNAME=box",
        "PATH=/image/bin",
        "LANG=de_DE",
        "FROM_FILE=2",
    ]
    .map(String::from)
    .into();
    // A bare KEY takes berth's value, and is left out when berth has none.
    want.extend(std::env::var("CARGO_PKG_NAME").map(|v| format!("CARGO_PKG_NAME={v}")));
    assert_eq!(env, want);
}

#[test]
fn a_missing_env_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.env");
    let options = ProcessOptions {
        env_file: vec![missing.clone()],
        ..Default::default()
    };
    let error = options
        .environment(&record(dir.path(), ImageConfig::default()), "box")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains(&missing.display().to_string()));
}

#[test]
fn without_image_env_path_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let env = ProcessOptions::default()
        .environment(&record(dir.path(), ImageConfig::default()), "box")
        .unwrap();
    assert_eq!(
        env,
        [
            format!("PATH={}", crate::exec::DEFAULT_PATH),
            "HOSTNAME=box".into()
        ]
    );
}

#[test]
fn the_command_combines_entrypoint_and_cmd_as_docker() {
    let dir = tempfile::tempdir().unwrap();
    let record = record(dir.path(), image_config());
    let command = |entrypoint: Option<&str>, args: &[&str]| {
        let options = ProcessOptions {
            entrypoint: entrypoint.map(String::from),
            ..Default::default()
        };
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        options.command(&record, &args)
    };
    assert_eq!(command(None, &[]).unwrap(), ["/entry", "sh"]);
    assert_eq!(command(None, &["ls"]).unwrap(), ["/entry", "ls"]);
    assert_eq!(command(Some("/bin/env"), &[]).unwrap(), ["/bin/env"]);
    assert_eq!(command(Some(""), &["id", "-u"]).unwrap(), ["id", "-u"]);
    let error = command(Some(""), &[]).unwrap_err();
    assert!(matches!(error, OptionsError::NoCommand), "{error}");
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
}

#[test]
fn security_options_choose_seccomp_and_no_new_privileges() {
    let with = |opts: &[&str], privileged: bool| ProcessOptions {
        security_opt: opts.iter().map(|o| o.to_string()).collect(),
        privileged,
        ..Default::default()
    };
    assert_eq!(with(&[], false).seccomp(), SeccompChoice::Default);
    assert_eq!(
        with(&["seccomp=unconfined"], false).seccomp(),
        SeccompChoice::Unconfined
    );
    assert_eq!(
        with(&["seccomp:/p.json"], false).seccomp(),
        SeccompChoice::Profile("/p.json".into())
    );
    assert_eq!(
        with(&["seccomp=/p.json"], true).seccomp(),
        SeccompChoice::Unconfined
    );
    assert!(!with(&[], false).no_new_privileges());
    assert!(with(&["no-new-privileges"], false).no_new_privileges());
    assert!(with(&["no-new-privileges:true"], false).no_new_privileges());
    assert!(!with(&["no-new-privileges=false"], false).no_new_privileges());
}

#[test]
fn ulimits_parse_and_bad_ones_name_the_flag() {
    use rustix::process::Resource;
    let with = |specs: &[&str]| ProcessOptions {
        ulimit: specs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let limits = with(&["nofile=1024:2048", "core=-1", "nproc=7"])
        .rlimits()
        .unwrap();
    assert_eq!(limits[0], (Resource::Nofile, 1024, 2048));
    assert_eq!(limits[1], (Resource::Core, u64::MAX, u64::MAX));
    assert_eq!(limits[2], (Resource::Nproc, 7, 7));
    for bad in ["nofile", "nofiles=1", "nofile=x", "nofile=10:5"] {
        let error = with(&[bad]).rlimits().unwrap_err();
        assert!(error.to_string().contains(bad), "{error}");
        assert_eq!(invalid_flag(error), "--ulimit");
    }
}

#[test]
fn without_a_network_part_the_flag_decides() {
    let dir = tempfile::tempdir().unwrap();
    let record = record(dir.path(), ImageConfig::default());
    let mode = |network: &str| {
        ProcessOptions {
            network: network.into(),
            ..Default::default()
        }
        .network_mode(&record)
    };
    assert_eq!(mode("").unwrap(), NetworkMode::None);
    assert_eq!(mode("none").unwrap(), NetworkMode::None);
    assert_eq!(mode("host").unwrap(), NetworkMode::Host);
    assert_eq!(
        mode("/run/netns/x").unwrap(),
        NetworkMode::Join("/run/netns/x".into())
    );
    assert_eq!(invalid_flag(mode("bridge").unwrap_err()), "--network");
}

#[test]
fn the_spec_takes_user_workdir_caps_and_sizes_from_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let mut record = record(dir.path(), image_config());
    record.rootfs = Some(rootfs(dir.path()));
    let options = ProcessOptions {
        user: Some("1000:1000".into()),
        workdir: Some("/srv".into()),
        hostname: Some("box".into()),
        cap_add: vec!["NET_ADMIN".into()],
        cap_drop: vec!["CAP_CHOWN".into()],
        shm_size: "1m".into(),
        security_opt: vec!["no-new-privileges".into()],
        init: true,
        ..Default::default()
    };
    let spec = options.spec(&mut record, &[]).unwrap();
    assert_eq!(spec.user, "1000:1000");
    assert_eq!(spec.cwd, "/srv");
    assert_eq!(spec.hostname, "box");
    assert_eq!(spec.args, ["/entry", "sh"]);
    assert_eq!(spec.shm_size, 1 << 20);
    assert!(spec.no_new_privs && spec.init && !spec.stdin && spec.tty.is_none());
    assert_eq!(spec.network, NetworkMode::None);
    assert!(!spec.caps.contains(&Capability::CAP_CHOWN));
    // Added only if berth itself holds it (the tests run as root).
    let held = caps::read(None, caps::CapSet::Permitted).unwrap();
    assert_eq!(
        spec.caps.contains(&Capability::CAP_NET_ADMIN),
        held.contains(&Capability::CAP_NET_ADMIN)
    );
    assert!(spec.env.contains(&"HOSTNAME=box".to_string()));
}

#[test]
fn the_spec_defaults_to_the_image_and_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut record = record(dir.path(), image_config());
    record.rootfs = Some(rootfs(dir.path()));
    let spec = ProcessOptions::default().spec(&mut record, &[]).unwrap();
    let id = record.container.as_ref().expect("given an id").id.clone();
    assert_eq!(spec.hostname, id[..12]);
    assert_eq!(spec.user, "daemon");
    assert_eq!(spec.cwd, "/app");
    assert_eq!(spec.shm_size, 64 << 20);
    assert!(!spec.caps.contains(&Capability::CAP_SYS_ADMIN));
}

#[test]
fn bad_options_fail_the_spec_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let mut bare = record(dir.path(), image_config());
    let error = spec_error(ProcessOptions::default(), &mut bare);
    assert!(matches!(error, SpecError::NoRootfs), "{error}");
    assert_eq!(error.kind(), ErrorKind::InvalidInput);

    let mut record = record(dir.path(), image_config());
    record.rootfs = Some(rootfs(dir.path()));
    let unknown_cap = ProcessOptions {
        cap_add: vec!["CAP_NOPE".into()],
        ..Default::default()
    };
    let error = spec_error(unknown_cap, &mut record);
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("CAP_NOPE"), "{error}");
    let bad_shm = ProcessOptions {
        shm_size: "lots".into(),
        ..Default::default()
    };
    let error = spec_error(bad_shm, &mut record);
    assert!(error.to_string().contains("--shm-size"), "{error}");
}

#[test]
fn options_read_from_partial_json_with_dockers_defaults() {
    let options: ProcessOptions = serde_json::from_str(r#"{"env":["A=1"],"tty":true}"#).unwrap();
    assert_eq!(options.env, ["A=1"]);
    assert!(options.tty);
    assert_eq!(options.shm_size, DEFAULT_SHM_SIZE);
    assert_eq!(
        options,
        ProcessOptions {
            env: vec!["A=1".into()],
            tty: true,
            ..Default::default()
        }
    );
}
