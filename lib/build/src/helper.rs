//! A whole build in a helper process (`<current exe> __build`), for a multi-threaded
//! caller (berthd): the helper reads its options on stdin, writes docker's JSON stream on
//! stdout, and exits 0 when the image is built. Its RUN steps go through their own
//! helpers (`__build-run`), as in `berth-build`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use berth_common::Paths;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::builder::{build, BuildOptions};
use crate::error::{BuildError, Result};
use crate::progress::{Progress, ProgressMode};

/// The first argument that makes a berth binary the build helper.
pub const BUILD_HELPER: &str = "__build";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HelperBuild {
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub options: BuildOptions,
    /// `docker build -q`: only the image ID (and errors) in the stream.
    #[serde(default)]
    pub quiet: bool,
}

/// `<current exe> ARG` (fork+exec'd: no Rust code runs in a forked child), `request` as
/// JSON on its stdin, which is then closed; its stdout and stderr as given. The child and
/// the exe, which errors name.
pub(crate) fn spawn_helper(
    arg: &str,
    request: &impl Serialize,
    stdout: Stdio,
    stderr: Stdio,
) -> Result<(Child, PathBuf)> {
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let helper_err = |reason: String| BuildError::Helper {
        exe: exe.clone(),
        reason,
    };
    let mut child = Command::new(&exe)
        .arg(arg)
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|e| helper_err(e.to_string()))?;
    let text = serde_json::to_vec(request).expect("the request serialises");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&text)
            .map_err(|e| helper_err(format!("sending the request: {e}")))?;
    }
    Ok((child, exe))
}

/// Runs the build in the helper; `out` gets each line of the JSON stream (and says
/// whether the client still reads). `Ok(true)`: the image is built; `Ok(false)`: the build
/// failed and the stream said so (an `errorDetail` line) or the client went away. A
/// helper that ends badly without having said why (killed, crashed) is an error: the
/// caller puts it in the stream, so a dead build never reads as a finished one.
pub fn build_in_helper(request: &HelperBuild, out: &mut dyn FnMut(&[u8]) -> bool) -> Result<bool> {
    let (mut child, exe) = spawn_helper(BUILD_HELPER, request, Stdio::piped(), Stdio::inherit())?;
    let helper_err = |reason: String| BuildError::Helper {
        exe: exe.clone(),
        reason,
    };
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let mut reported = false;
    let mut gone = false;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                reported |= serde_json::from_slice::<serde_json::Value>(&line)
                    .is_ok_and(|v| v.get("errorDetail").is_some());
                if !out(&line) {
                    gone = true;
                    // The client went away: the build stops (its steps clean up after
                    // themselves as on any failure).
                    let _ = rustix::process::kill_process(
                        rustix::process::Pid::from_child(&child),
                        rustix::process::Signal::TERM,
                    );
                    break;
                }
            }
            Err(e) => return Err(helper_err(format!("reading its output: {e}"))),
        }
    }
    let pid = child.id();
    let status = child.wait().map_err(|e| helper_err(e.to_string()))?;
    if status.success() || reported || gone {
        return Ok(status.success() && !gone);
    }
    Err(helper_err(format!(
        "pid {pid} ended ({status}) before the build finished"
    )))
}

/// The helper's life: one build.
pub fn helper_main() -> i32 {
    berth_common::edge::init_logging(0);
    let mut text = String::new();
    let _ = std::io::stdin().read_to_string(&mut text);
    let mut stdout = std::io::stdout();
    let request: HelperBuild = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            let message = format!("bad build helper request: {e}");
            let _ = writeln!(
                stdout,
                "{}",
                json!({"errorDetail": {"message": message}, "error": message})
            );
            return 2;
        }
    };
    let paths = Paths::new(&request.root, &request.run_dir);
    let mode = if request.quiet {
        ProgressMode::JsonQuiet
    } else {
        ProgressMode::Json
    };
    let mut progress = Progress::new(mode, Box::new(std::io::stdout()));
    match build(&paths, &request.options, &mut progress) {
        Ok(_) => 0,
        Err(e) => {
            // A failed step has told the stream already.
            if !matches!(e, BuildError::Step { .. }) {
                progress.error(0, &e.to_string());
            }
            1
        }
    }
}
