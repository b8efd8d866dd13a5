//! An OCI hook: a program run with its own args and env only, the container's state on its
//! stdin, and a timeout. berth-oci runs the runtime-side ones (prestart, createRuntime,
//! poststart, poststop) in its own namespaces; the gate runs createContainer and
//! startContainer in the container's (`gate`), with this same runner.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub path: PathBuf,
    /// `args[0]` is the program's argv[0], as the spec says.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<Duration>,
}

/// Which hook of which stage failed, and how.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{stage} hook {index} ({}): {reason}", path.display())]
pub struct HookError {
    pub stage: &'static str,
    pub index: usize,
    pub path: PathBuf,
    pub reason: String,
}

/// Runs `hooks` in order, each with `input` on its stdin; stops at the first that fails.
pub fn run_all(stage: &'static str, hooks: &[Hook], input: &[u8]) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run(hook, input).map_err(|reason| HookError {
            stage,
            index,
            path: hook.path.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn run(hook: &Hook, input: &[u8]) -> Result<(), String> {
    let mut cmd = Command::new(&hook.path);
    if let Some((arg0, rest)) = hook.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear()
        .envs(hook.env.iter().filter_map(|e| e.split_once('=')))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run it: {e}"))?;
    // A hook that does not read its stdin must not block us: a failed write is its business.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if let Some(limit) = hook.timeout.filter(|l| started.elapsed() > *l) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {}s", limit.as_secs()));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Option<u64>) -> Hook {
        Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["GIVEN=yes".into()],
            timeout: timeout.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_hook_reads_the_input_and_sees_only_its_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "read line; echo \"$line $GIVEN ${{HOME:-none}}\" > {}",
            out.display()
        );
        run_all("prestart", &[sh(&script, Some(5))], b"{\"id\":\"x\"}\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"x\"} yes none\n"
        );
    }

    #[test]
    fn a_failing_or_slow_hook_is_named_with_its_stage_and_index() {
        let hooks = [sh("true", None), sh("echo bad >&2; exit 3", None)];
        let err = run_all("createContainer", &hooks, b"").unwrap_err();
        assert_eq!((err.stage, err.index), ("createContainer", 1));
        assert!(
            err.to_string()
                .starts_with("createContainer hook 1 (/bin/sh): "),
            "{err}"
        );
        assert!(err.reason.contains("bad"), "{err}");
        let err = run_all("startContainer", &[sh("sleep 5", Some(1))], b"").unwrap_err();
        assert!(err.reason.contains("timed out after 1s"), "{err}");
        let missing = Hook {
            path: "/nonexistent/hook".into(),
            ..sh("", None)
        };
        assert!(run_all("poststop", &[missing], b"")
            .unwrap_err()
            .reason
            .contains("cannot run it"));
    }
}
