//! Errors as runc reports them: on stderr, and as a line of the `--log` file in its
//! format (text: `time="…" level=error msg="…"`; json: one object per line).

use std::io::Write;
use std::path::PathBuf;

use crate::cli::{Cli, LogFormat};

pub struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
}

impl Logger {
    pub fn new(cli: &Cli) -> Logger {
        let level = if cli.debug { "debug" } else { "warn" };
        let filter = tracing_subscriber::EnvFilter::new(level);
        let builder = tracing_subscriber::fmt().with_env_filter(filter);
        let opened = cli.log.as_ref().and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        });
        match (opened, cli.log_format) {
            (Some(file), LogFormat::Text) => builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init(),
            // A json log holds only the JSON lines `error` writes (its reader decodes
            // every line); the rest goes to stderr.
            _ => builder.with_writer(std::io::stderr).init(),
        }
        Logger {
            file: cli.log.clone(),
            format: cli.log_format,
        }
    }

    pub fn error(&self, message: &str) {
        let time = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        eprintln!("berth-oci: {message}");
        let Some(path) = &self.file else { return };
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": "error", "msg": message, "time": time}).to_string()
            }
            LogFormat::Text => format!("time={:?} level=error msg={:?}", time, message),
        };
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }
}
