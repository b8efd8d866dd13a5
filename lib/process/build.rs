//! Builds `dmz/main.rs`, berth-dmz, the few-KB program every container command is exec'd
//! through (CVE-2019-5736, `src/exe_seal.rs`), as a static no_std binary that the library
//! embeds and runs from a sealed memfd.

fn main() {
    berth_build_support::freestanding_binary("dmz/main.rs", "berth-dmz");
}
