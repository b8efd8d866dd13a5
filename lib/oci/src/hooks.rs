//! The spec's hooks, run by berth-oci in its own namespaces with the container's state on
//! stdin: `prestart` and `createRuntime` at the end of `create` (the init waiting at its
//! fifo, so a failure still undoes the whole create), `poststart` after `start`, `poststop`
//! at `delete`. A hook that fails or outlives its `timeout` (seconds) fails the step;
//! poststop failures are only logged, as in runc. `createContainer` and `startContainer`
//! (inside the container's mount namespace) are refused by `config` for now.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::state::OciState;
use crate::OciError;

pub fn run_all(stage: &'static str, hooks: &[Hook], state: &OciState) -> Result<(), OciError> {
    let input = serde_json::to_vec(state).expect("the state serialises");
    for (i, hook) in hooks.iter().enumerate() {
        run(hook, &input).map_err(|reason| OciError::Hook {
            stage,
            index: i,
            path: hook.path().clone(),
            reason,
        })?;
    }
    Ok(())
}

fn run(hook: &Hook, input: &[u8]) -> Result<(), String> {
    let mut cmd = Command::new(hook.path());
    let args = hook.args().clone().unwrap_or_default();
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear()
        .envs(
            hook.env()
                .iter()
                .flatten()
                .filter_map(|e| e.split_once('=')),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run it: {e}"))?;
    // A hook that does not read its stdin must not block us: a failed write is its business.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let limit = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if limit.is_some_and(|l| started.elapsed() > l) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "timed out after {}s",
                limit.unwrap_or_default().as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    Err(format!("{status}: {}", stderr.trim()))
}
