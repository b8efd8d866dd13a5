//! Builds `monitor/main.rs` (and its modules beside it: `attach.rs`, `protocol.rs`, which the
//! library shares), the program a detached container's monitor becomes, as a small static
//! binary that the library embeds (`monitor.rs` writes it once under the run dir).

fn main() {
    println!("cargo:rerun-if-changed=monitor");
    berth_build_support::static_binary("monitor/main.rs", "berth-monitor");
}
