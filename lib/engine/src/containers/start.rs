//! Starting a container from berthd. The runtime forks the container's monitor and wants a
//! single-threaded caller, which berthd (tokio) is not; so berthd spawns itself as a helper
//! (`berthd __start`, fork+exec), hands it the container on stdin, and reads one JSON
//! answer on stdout. The helper prepares the container and starts it under a monitor, the
//! same path as `berth-run -d`, then exits; the monitor stays.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use berth_common::{ContainerId, ErrorKind, Paths};
use serde::{Deserialize, Serialize};

use super::config::Created;
use super::error::ContainerError;

/// berthd's first argument that makes it the start helper.
pub const START_HELPER: &str = "__start";

#[derive(Serialize, Deserialize)]
struct HelperRequest {
    root: std::path::PathBuf,
    run_dir: std::path::PathBuf,
    id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "lowercase")]
enum HelperAnswer {
    Started { pid: i32 },
    Failed { kind: ErrorKind, message: String },
}

/// Starts registered container `id` through the helper; returns once it runs.
pub fn start(paths: &Paths, id: &ContainerId) -> Result<i32, ContainerError> {
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let request = HelperRequest {
        root: paths.root().to_path_buf(),
        run_dir: paths.run_dir().to_path_buf(),
        id: id.to_string(),
    };
    let helper_error = |source| ContainerError::Helper {
        exe: exe.clone(),
        source,
    };
    let mut child = Command::new(&exe)
        .arg(START_HELPER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(helper_error)?;
    let text = serde_json::to_vec(&request).expect("the request serialises");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&text).map_err(helper_error)?;
    }
    let mut answer = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut answer).map_err(helper_error)?;
    }
    let status = child.wait().map_err(helper_error)?;
    match serde_json::from_str::<HelperAnswer>(answer.trim()) {
        Ok(HelperAnswer::Started { pid }) => Ok(pid),
        Ok(HelperAnswer::Failed { kind, message }) => Err(ContainerError::Start { message, kind }),
        Err(_) => Err(helper_error(std::io::Error::other(format!(
            "ended ({status}) without an answer: {answer:?}"
        )))),
    }
}

/// The helper's life (`berthd __start`): one start, one answer, exit code 0 when it ran.
pub fn helper_main() -> i32 {
    berth_common::edge::init_logging(0);
    let mut text = String::new();
    let _ = std::io::stdin().read_to_string(&mut text);
    let answer = match serde_json::from_str::<HelperRequest>(&text) {
        Ok(request) => match start_here(&request) {
            Ok(pid) => HelperAnswer::Started { pid },
            Err(e) => HelperAnswer::Failed {
                kind: e.kind(),
                message: docker_words(&e),
            },
        },
        Err(e) => HelperAnswer::Failed {
            kind: ErrorKind::Internal,
            message: format!("bad helper request: {e}"),
        },
    };
    let ok = matches!(answer, HelperAnswer::Started { .. });
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(
        serde_json::to_string(&answer)
            .expect("answers serialise")
            .as_bytes(),
    );
    let _ = out.flush();
    if ok {
        0
    } else {
        1
    }
}

fn start_here(request: &HelperRequest) -> Result<i32, ContainerError> {
    let paths = Paths::new(&request.root, &request.run_dir);
    let id = ContainerId::parse(&request.id)
        .map_err(|_| ContainerError::NotFound(request.id.clone()))?;
    let part = berth_common::registry::identity(&paths, &id)?
        .ok_or_else(|| ContainerError::NotFound(request.id.clone()))?;
    let created =
        Created::read(&paths, &id)?.ok_or_else(|| ContainerError::NoConfig(id.to_string()))?;
    let mut run = created.request;
    // A container started again keeps the mounts its first start made (the rootfs
    // state has them).
    if berth_rootfs::state::read_state(&paths, &id)
        .ok()
        .flatten()
        .is_some()
    {
        run.mount.volumes.clear();
        run.mount.tmpfs.clear();
    }
    let mut trace = berth_runtime::Trace::default();
    let prepared = berth_runtime::prepare_as(&paths, &run, Some(part), &mut trace)?;
    let state = berth_runtime::start_detached(&paths, prepared, &run)?;
    Ok(state.pid)
}

/// The error as the docker CLI reads it: it exits 127 when the text says the executable
/// was not found, 126 on "permission denied".
fn docker_words(error: &ContainerError) -> String {
    let text = error.to_string();
    let code = match error {
        ContainerError::Run(e) => e.exit_code(),
        _ => 125,
    };
    match code {
        127 if !text.contains("executable file not found") => {
            format!("{text}: exec: executable file not found in $PATH")
        }
        126 if !text.contains("permission denied") => format!("{text}: permission denied"),
        _ => text,
    }
}
