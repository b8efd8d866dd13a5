//! Builds the static probe binary (`probe/main.rs`, std only) that integration tests put in
//! container images; `berth_tests::probe::probe_binary()` returns its path.

fn main() {
    berth_build_support::static_binary("probe/main.rs", "berth-probe");
}
