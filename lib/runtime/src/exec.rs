//! `exec`: a new process in a running container. The work is berth-process's
//! (`container_exec`, which berth-enter's `--join` calls too); here its errors become the
//! runtime's, so a caller of berth-runtime matches one error type.

use berth_common::Paths;
pub use berth_process::container_exec::{ExecError, ExecRequest};

use crate::{Outcome, RunError};

pub fn exec(paths: &Paths, reference: &str, request: &ExecRequest) -> Result<Outcome, RunError> {
    let code = berth_process::container_exec::exec(paths, reference, request)?;
    Ok(Outcome {
        code,
        oom_killed: false,
    })
}

impl From<ExecError> for RunError {
    fn from(error: ExecError) -> RunError {
        match error {
            ExecError::State(e) => RunError::State(e),
            ExecError::NotRunning { container } => RunError::NotRunning { container },
            ExecError::NoCommand => RunError::InvalidInput {
                flag: "COMMAND",
                reason: "give a command to run in the container".into(),
            },
            ExecError::Caps(e) => RunError::Caps(e),
            ExecError::Seccomp(e) => RunError::Seccomp(e),
            ExecError::SeccompFilter(e) => RunError::SeccompFilter(e),
            ExecError::Terminal(e) => RunError::Terminal(e),
            ExecError::Start(e) => RunError::Start(e),
        }
    }
}
