//! The binaries' edge, the same for every stage: one log setup, and one way to turn an
//! error into the message a user reads (stderr) and, for a stage in a pipe, the
//! `{"error": …}` the next stage reads (stdout), with exit status 125 as docker uses it for
//! its own failures.

use std::error::Error;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit status for berth's own failures.
pub const EXIT_FAILURE: u8 = 125;

/// The error and its causes in one line, skipping causes the message already quotes.
pub fn error_line(err: &(dyn Error + 'static)) -> String {
    let mut message = String::new();
    let mut cause: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(current) = cause {
        let text = current.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
        cause = current.source();
    }
    message
}

/// Reports a stage's failure on stderr and, for the next stage, on stdout (not when stdout
/// is a terminal: no stage reads it there, and the message would show twice); returns the
/// exit status.
pub fn fail_stage(binary: &str, err: &(dyn Error + 'static)) -> ExitCode {
    let message = error_line(err);
    eprintln!("{binary}: {message}");
    if !std::io::stdout().is_terminal() {
        println!("{}", serde_json::json!({ "error": message }));
    }
    ExitCode::from(EXIT_FAILURE)
}

/// Reports a management command's failure (`ls`, `rm`, `create`…: no stage reads its
/// output) on stderr only, as docker does; returns the exit status.
pub fn fail_command(binary: &str, err: &(dyn Error + 'static)) -> ExitCode {
    eprintln!("{binary}: {}", error_line(err));
    ExitCode::from(EXIT_FAILURE)
}

/// Logs to stderr: warnings by default, more with `-v`/`-vv`, `BERTH_LOG` overrides.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Outer(#[source] Inner);
    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn causes_already_quoted_are_not_repeated() {
        assert_eq!(super::error_line(&Outer(Inner)), "outer: inner");
    }
}
