//! Exit codes as docker's CLI gives them: 125 when the client or the daemon failed a run,
//! 126/127 when the command could not be invoked or found (from the daemon's message, as
//! docker decides them), 1 for other commands' errors, else the container's own code.

use std::process::ExitCode;

use berth_client::ClientError;

/// A command's failure and the code it exits with.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: Option<String>,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: Some(message.into()),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        let code = match e {
            ClientError::Template(_) | ClientError::Usage(_) => 125,
            _ => 1,
        };
        Failure::new(code, e.to_string())
    }
}

/// A run's failure: 125, or 126/127 for a command the daemon could not invoke.
pub fn run_failure(e: ClientError) -> Failure {
    let message = e.to_string();
    let lower = message.to_lowercase();
    let code = if e.status().is_none() {
        125
    } else if lower.contains("executable file not found")
        || lower.contains("no such file or directory")
        || lower.contains("not found in $path")
    {
        127
    } else if lower.contains("permission denied") || lower.contains("cannot execute") {
        126
    } else {
        125
    };
    Failure::new(code, message)
}

/// A flag error: docker prints it with a hint and exits 125; help and version exit 0.
pub fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(125)
        }
        _ => {
            let _ = e.print();
            ExitCode::from(125)
        }
    }
}

pub type Outcome = Result<u8, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(message: &str) -> ClientError {
        ClientError::Daemon {
            status: 400,
            message: message.into(),
        }
    }

    #[test]
    fn run_failures_exit_as_docker_s() {
        let code = |e| run_failure(e).code;
        assert_eq!(
            code(daemon("exec: \"nope\": executable file not found in $PATH")),
            127
        );
        assert_eq!(code(daemon("open /x: no such file or directory")), 127);
        assert_eq!(code(daemon("exec /etc/passwd: permission denied")), 126);
        assert_eq!(code(daemon("No such image: x")), 125);
        let refused = ClientError::Connect {
            host: "unix:///x".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        // The client's own failure is 125 whatever its words.
        assert_eq!(code(refused), 125);
        assert_eq!(Failure::from(ClientError::Template("x".into())).code, 125);
        assert_eq!(Failure::from(daemon("No such container: x")).code, 1);
    }
}
