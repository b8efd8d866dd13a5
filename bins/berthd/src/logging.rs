//! berthd's log, on stderr, with a level SIGHUP can change (`log-level` of the config).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Changes the level of the running log.
pub struct LevelHandle(reload::Handle<EnvFilter, Registry>);

/// Starts logging at `level`; `BERTH_LOG`, when set, wins over it (then and on reload).
pub fn init(level: &str) -> LevelHandle {
    let (filter, handle) = reload::Layer::new(filter(level));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    LevelHandle(handle)
}

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| EnvFilter::new(level))
}

impl LevelHandle {
    pub fn set(&self, level: &str) {
        if let Err(e) = self.0.reload(filter(level)) {
            tracing::warn!("cannot change the log level: {e}");
        }
    }
}
