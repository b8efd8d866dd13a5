//! Builds the static probe binary (`probe/main.rs`, std only) that integration tests put in
//! container images: plain rustc, glibc static (`+crt-static`, non-PIE), into
//! `$OUT_DIR/berth-probe`. `berth_tests::probe::probe_binary()` returns its path.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=probe/main.rs");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("dir"));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = out_dir.join("berth-probe");
    let mut cmd = Command::new(&rustc);
    cmd.arg(manifest_dir.join("probe/main.rs"))
        .args([
            "--edition",
            "2021",
            "--crate-name",
            "berth_probe",
            "--crate-type",
            "bin",
        ])
        .args(["-C", "opt-level=2"])
        .args(["-C", "target-feature=+crt-static"])
        .args(["-C", "relocation-model=static"])
        .args(["-C", "strip=debuginfo"])
        .arg("-o")
        .arg(&output);
    // The probe runs in x86_64 containers whatever the tests are built for.
    if let Ok(target) = std::env::var("TARGET") {
        if target.starts_with("x86_64-") && target.contains("linux-gnu") {
            cmd.args(["--target", &target]);
        }
    }
    let result = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {rustc:?} to build the probe: {e}"));
    if !result.status.success() {
        panic!(
            "building the probe (tests/probe/main.rs) failed: {:?}\n{}",
            cmd,
            String::from_utf8_lossy(&result.stderr)
        );
    }
    for line in String::from_utf8_lossy(&result.stderr).lines() {
        if line.contains("warning") {
            println!("cargo:warning=probe: {line}");
        }
    }
}
