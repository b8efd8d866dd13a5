//! The helper processes the engine spawns of its own binary (`<current_exe> __…`): a
//! container start, a network's DNS server, a build and its RUN steps. The engine is
//! multi-threaded and the runtime forks, so that work runs in a fresh single-threaded
//! process. Every binary that serves the engine (berthd, berth in-process) calls
//! [`helper_main`] first in `main`, so the set of helpers is defined once.

/// When the first argument names one of the engine's helpers, runs it and gives its exit
/// code; `None` for an ordinary invocation. Call it before any thread is started.
pub fn helper_main() -> Option<i32> {
    if let Some(code) = berth_builder::helper_main() {
        return Some(code);
    }
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some(crate::containers::START_HELPER) => Some(crate::containers::helper_main()),
        Some(crate::networks::DNS_HELPER) => {
            let config = args.next().unwrap_or_default();
            Some(crate::networks::dns_helper_main(&config))
        }
        _ => None,
    }
}
