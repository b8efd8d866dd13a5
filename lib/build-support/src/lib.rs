//! For build scripts: compiles a small Rust program (a main.rs, and modules beside it in its
//! own directory) into a static binary in `$OUT_DIR` with plain rustc (non-PIE). berth uses
//! it for programs that must run where no shared library can be relied on (the test probe,
//! inside containers) or that must stay small (the container monitor; `berth-dmz`, the
//! few-KB program every container command is exec'd through).
//!
//! - [`static_binary`]: a std program, glibc linked statically.
//! - [`freestanding_binary`]: a `#![no_std]`, `#![no_main]` program that brings its own
//!   `_start` and makes its system calls itself: no C library, no start files.

use std::path::PathBuf;
use std::process::Command;

/// Builds the std-only program `source` (relative to the calling crate) as `$OUT_DIR/name`;
/// panics with rustc's message on failure, as a build script should.
pub fn static_binary(source: &str, name: &str) -> PathBuf {
    build(source, name, &["-C", "opt-level=2"])
}

/// Builds the `#![no_std]`, `#![no_main]` program `source` as `$OUT_DIR/name`, linked with
/// nothing but itself (and `core`): it must define `_start` and a panic handler. A few KB.
pub fn freestanding_binary(source: &str, name: &str) -> PathBuf {
    build(
        source,
        name,
        &[
            "-C",
            "opt-level=s",
            "-C",
            "link-arg=-nostartfiles",
            "-C",
            "link-arg=-nostdlib",
            "-C",
            "link-arg=-static",
            // Fewer segments to map on every exec: no RELRO (nothing is relocated at run
            // time), code not kept apart from read-only data (GNU ld's default on x86).
            "-C",
            "link-arg=-Wl,-z,norelro",
            "-C",
            "link-arg=-Wl,-z,noseparate-code",
            "-C",
            "link-arg=-Wl,--build-id=none",
        ],
    )
}

/// rustc on `source` with the flags both kinds share (static, non-PIE, stripped, panic =
/// abort) plus `extra`.
fn build(source: &str, name: &str, extra: &[&str]) -> PathBuf {
    // The program's directory: its modules (`mod x;` beside main.rs) count too.
    match std::path::Path::new(source).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            println!("cargo:rerun-if-changed={}", dir.display())
        }
        _ => println!("cargo:rerun-if-changed={source}"),
    }
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
            "target-feature=+crt-static",
            "-C",
            "relocation-model=static",
        ])
        .args(["-C", "strip=symbols", "-C", "panic=abort"])
        .args(extra)
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
