//! `control` and `exec` over container states written by hand: the state machine (running,
//! exited, a monitor that died) and the errors a caller matches, without a kernel object.

use std::time::Duration;

use berth_common::{ErrorKind, Paths};

use crate::state::{self, RunState, Status};
use crate::{control, exec, RunError};

/// An id that no process's cgroup ends with, so a "running" state with a live pid is seen
/// through (as after a monitor killed with SIGKILL and its pid reused).
const ID_TEXT: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn id() -> berth_common::ContainerId {
    berth_common::ContainerId::parse(ID_TEXT).unwrap()
}

fn paths() -> (tempfile::TempDir, Paths) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join("root"), dir.path().join("run"));
    (dir, paths)
}

fn write_state(paths: &Paths, status: Status, exit_code: Option<i32>) -> RunState {
    let state: RunState = serde_json::from_value(serde_json::json!({
        "id": ID_TEXT,
        "name": "web",
        "image": "busybox",
        "command": ["sh"],
        "created": "2026-12-07T10:00:00.000000000Z",
        "status": status,
        "pid": std::process::id(),
        "monitor_pid": std::process::id(),
        "exit_code": exit_code,
        "stop_signal": 15,
        "record": {
            "version": 1,
            "root": paths.root(),
            "image": {"id": "sha256:0", "manifest": "sha256:1", "config": {}, "layers": []},
            "container": {"id": ID_TEXT, "name": "web", "created": "2026-12-07T10:00:00Z"}
        }
    }))
    .unwrap();
    let lock = berth_common::registry::lock(paths).unwrap();
    let container = state.record.container.as_ref().unwrap();
    berth_common::registry::create(
        paths,
        &lock,
        container,
        berth_common::json_file::Durability::Durable,
    )
    .unwrap();
    state.write(paths).unwrap();
    state
}

#[test]
fn an_unknown_container_is_not_found() {
    let (_dir, paths) = paths();
    let error = control::kill(&paths, "nope", libc::SIGTERM).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert_eq!(error.to_string(), "No such container: nope");
    let error = exec::exec(&paths, "nope", &exec::ExecRequest::default()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
}

#[test]
fn a_running_state_whose_process_is_gone_is_not_running() {
    let (_dir, paths) = paths();
    write_state(&paths, Status::Running, None);
    let found = state::find(&paths, "web").unwrap();
    assert_eq!(found.status, Status::Running);
    assert!(!found.is_running());
    for error in [
        control::kill(&paths, "web", libc::SIGTERM).unwrap_err(),
        exec::exec(
            &paths,
            &ID_TEXT[..12],
            &exec::ExecRequest {
                command: vec!["true".into()],
                ..Default::default()
            },
        )
        .unwrap_err(),
    ] {
        assert!(
            matches!(&error, RunError::NotRunning { container } if container == &ID_TEXT[..12])
        );
        assert_eq!(error.kind(), ErrorKind::Conflict);
        assert_eq!(error.exit_code(), 125);
    }
    // Nothing to stop: the state comes back as it is.
    let stopped = control::stop(&paths, "web", Duration::ZERO).unwrap();
    assert_eq!(stopped.id, id());
}

#[test]
fn the_monitors_exit_file_makes_the_state_exited() {
    let (_dir, paths) = paths();
    write_state(&paths, Status::Running, None);
    std::fs::write(
        state::dir(&paths, &id()).join(state::EXIT_FILE),
        r#"{"exit_code":3,"finished":"2026-12-07T10:00:05Z"}"#,
    )
    .unwrap();
    let found = state::find(&paths, ID_TEXT).unwrap();
    assert_eq!(found.status, Status::Exited);
    assert_eq!(found.exit_code, Some(3));
    let rows = control::ps(&paths, false);
    assert!(
        rows.is_empty(),
        "an exited container is not listed without -a"
    );
    let rows = control::ps(&paths, true);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].names, "web");
    assert!(
        rows[0].status.starts_with("Exited (3)"),
        "{}",
        rows[0].status
    );
}

#[test]
fn an_exited_state_records_code_and_time() {
    let (_dir, paths) = paths();
    let mut state = write_state(&paths, Status::Running, None);
    state.exited(137, true);
    state.write(&paths).unwrap();
    let read = RunState::read(&paths, &id()).unwrap().unwrap();
    assert_eq!(read.status, Status::Exited);
    assert_eq!(read.exit_code, Some(137));
    assert!(read.oom_killed && read.finished.is_some());
}

fn request(follow: bool) -> crate::logs::LogsRequest {
    crate::logs::LogsRequest {
        follow,
        ..Default::default()
    }
}

#[test]
fn logs_go_to_the_writers_given_by_stream() {
    let (_dir, paths) = paths();
    write_state(&paths, Status::Exited, Some(0));
    let lines = [
        r#"{"log":"out 1\n","stream":"stdout","time":"2026-12-07T10:00:01Z"}"#,
        r#"{"log":"err 1\n","stream":"stderr","time":"2026-12-07T10:00:02Z"}"#,
        r#"{"log":"out 2\n","stream":"stdout","time":"2026-12-07T10:00:03Z"}"#,
    ];
    std::fs::write(state::log_path(&paths, &id()), lines.join("\n") + "\n").unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    control::logs(&paths, "web", &request(false), &mut out, &mut err).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "out 1\nout 2\n");
    assert_eq!(String::from_utf8(err).unwrap(), "err 1\n");
    // Following an exited container ends at the end of its log.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    control::logs(&paths, "web", &request(true), &mut out, &mut err).unwrap();
    assert_eq!(out.len(), "out 1\nout 2\n".len());
}

#[test]
fn a_failing_writer_is_an_error_not_a_panic() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (_dir, paths) = paths();
    write_state(&paths, Status::Exited, Some(0));
    std::fs::write(
        state::log_path(&paths, &id()),
        r#"{"log":"x\n","stream":"stdout","time":"2026-12-07T10:00:01Z"}"#.to_string() + "\n",
    )
    .unwrap();
    let error =
        control::logs(&paths, "web", &request(false), &mut Full, &mut Vec::new()).unwrap_err();
    assert!(matches!(error, RunError::Output(_)), "{error}");
    assert_eq!(error.kind(), ErrorKind::Internal);
}

#[test]
fn a_removal_after_a_finished_teardown_does_not_run_it_again() {
    let (dir, paths) = paths();
    // A "cgroup" a second teardown would try and fail on (a plain, non-empty directory).
    let cgroup = dir.path().join("cg");
    std::fs::create_dir_all(&cgroup).unwrap();
    std::fs::write(cgroup.join("kept"), "").unwrap();
    let with_cgroup = |state: &mut RunState| {
        state.record.cgroup = Some(berth_common::CgroupPart {
            mode: "v1".into(),
            paths: [("memory".to_string(), cgroup.clone())].into(),
            limits: Default::default(),
        });
    };
    let config = berth_cgroups::HostConfig::default();
    let mut state = write_state(&paths, Status::Exited, Some(0));
    with_cgroup(&mut state);
    state.torn_down = true;
    state.write(&paths).unwrap();
    control::remove_with(&paths, ID_TEXT, false, true, &config).unwrap();
    assert!(cgroup.join("kept").exists(), "the cgroups were not touched");
    assert!(RunState::read(&paths, &id()).unwrap().is_none(), "removed");
    // Without the mark the teardown runs again, and meets the fake cgroup.
    let mut state = write_state(&paths, Status::Exited, Some(0));
    with_cgroup(&mut state);
    state.write(&paths).unwrap();
    assert!(control::remove_with(&paths, ID_TEXT, false, true, &config).is_err());
}
