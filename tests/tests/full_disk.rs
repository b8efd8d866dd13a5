//! A full disk in the middle of an import: a clear error naming the path and nothing left
//! in the store. The store sits on a 4 MB tmpfs mounted in a private mount namespace of a
//! subprocess, so the mount ends with it.

use std::process::Command;

use berth_tests::berth_unpack_bin;
use berth_tests::store::TestStore;

#[test]
fn import_onto_a_full_disk_fails_cleanly() {
    let store = TestStore::new();
    let rootfs = store.work("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/usr/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    // 8 MB that does not compress: more than the 4 MB the store gets.
    let noise: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(rootfs.join("noise"), noise).unwrap();
    let tarball = store.work("big.tar");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(tar.success());
    let small_root = store.work("small");
    std::fs::create_dir_all(&small_root).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=4m tmpfs {root} && {bin} --root {root} import {tar} big:1; echo \"rc=$?\"; \
         find {root} -mindepth 1 \\( -path '{root}/locks' -prune \\) -o -print | sed 's|{root}/||' | sort",
        root = small_root.display(),
        bin = berth_unpack_bin().display(),
        tar = tarball.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("rc=125"),
        "the import fails: {stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("No space left on device"),
        "the error says why: {stderr}"
    );
    assert!(
        stderr.contains("big.tar") && stderr.contains("noise"),
        "and names the image and the entry being written: {stderr}"
    );
    let left: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with("rc=") && !l.starts_with('{'))
        .collect();
    let expected = [
        "images",
        "images/blobs",
        "images/blobs/sha256",
        "images/oci-layout",
        "layers",
        "tmp",
    ];
    assert_eq!(
        left, expected,
        "only the empty store skeleton is left:\n{stdout}"
    );
}
