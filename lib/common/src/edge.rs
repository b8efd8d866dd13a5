//! The binaries' edge, the same for every stage: one log setup, and one way to turn an
//! error into the message a user reads (stderr) and, for a stage in a pipe, the
//! `{"error": …}` the next stage reads (stdout), with exit status 125 as docker uses it for
//! its own failures.

use std::error::Error;
use std::io::IsTerminal;
use std::io::Write;
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

/// What a binary says when the image a user named is not in the store: berth pulls from no
/// registry, so the message says how to bring one in (docker's first words, then berth's way).
pub fn missing_image(reference: &str) -> String {
    format!(
        "Unable to find image '{reference}' locally: load one with \
         'docker save {reference} | berth-unpack load' (or berth-unpack load FILE)"
    )
}

/// Where a binary reports its failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// A stage: a line on stderr and the `{"error": …}` on stdout for the next stage.
    Stage,
    /// A binary whose stdout is the container's (berth-enter, berth-run): stderr only.
    StderrOnly,
}

/// Makes a panic in `binary` end like its other failures: one line on stderr (and for a
/// stage the `{"error": …}` on stdout), exit status 125, never Rust's 101. The location and
/// a backtrace are added only when `RUST_BACKTRACE` asks for them. The process exits from
/// the hook, on whichever thread panicked: what a panic leaves behind is for the teardown,
/// which cleans up after a crash at any step.
pub fn install_panic_hook(binary: &'static str, report: Report) {
    std::panic::set_hook(Box::new(move |info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        let message = format!("internal error (a bug in {binary}): {what}");
        // Never println!: a closed stdout or stderr would panic again, inside the hook.
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{binary}: {message}");
        let wants_trace = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        if wants_trace {
            if let Some(at) = info.location() {
                let _ = writeln!(stderr, "{binary}: panicked at {at}");
            }
            let _ = writeln!(stderr, "{}", std::backtrace::Backtrace::force_capture());
        }
        if report == Report::Stage {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", serde_json::json!({ "error": message }));
            let _ = stdout.flush();
        }
        std::process::exit(i32::from(EXIT_FAILURE));
    }));
}

/// Logs to stderr: warnings by default, more with `-v`/`-vv`, `BERTH_LOG` overrides.
pub fn init_logging(verbose: u8) {
    init_logging_at(match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    });
}

/// Logs to stderr at `default` (a filter directive: `info`, `berth_api=debug`…);
/// `BERTH_LOG` overrides it.
pub fn init_logging_at(default: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
