//! For build scripts: compiles a one-file, std-only Rust program into a static binary in
//! `$OUT_DIR` with plain rustc (glibc static, non-PIE). berth uses it for programs that must
//! run where no shared library can be relied on (the test probe, inside containers) or that
//! must stay small (the container monitor).

use std::path::PathBuf;
use std::process::Command;

/// Builds `source` (relative to the calling crate) as `$OUT_DIR/name`; panics with rustc's
/// message on failure, as a build script should.
pub fn static_binary(source: &str, name: &str) -> PathBuf {
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = out_dir.join(name);
    let mut cmd = Command::new(&rustc);
    cmd.arg(manifest_dir.join(source))
        .args([
            "--edition",
            "2021",
            "--crate-name",
            &name.replace('-', "_"),
            "--crate-type",
            "bin",
        ])
        .args([
            "-C",
            "opt-level=2",
            "-C",
            "target-feature=+crt-static",
            "-C",
            "relocation-model=static",
        ])
        .args(["-C", "strip=symbols", "-C", "panic=abort"])
        .arg("-o")
        .arg(&output);
    if let Ok(target) = std::env::var("TARGET") {
        if target.starts_with("x86_64-") && target.contains("linux-gnu") {
            cmd.args(["--target", &target]);
        }
    }
    let result = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {rustc:?} to build {name}: {e}"));
    if !result.status.success() {
        panic!(
            "building {name} ({source}) failed: {cmd:?}\n{}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
    for line in String::from_utf8_lossy(&result.stderr)
        .lines()
        .filter(|l| l.contains("warning"))
    {
        println!("cargo:warning={name}: {line}");
    }
    output
}
