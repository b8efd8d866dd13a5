//! Builds `monitor/main.rs`, the program a detached container's monitor becomes, as a
//! small static binary that the library embeds (`monitor.rs` runs it from a sealed memfd).

fn main() {
    berth_build_support::static_binary("monitor/main.rs", "berth-monitor");
}
