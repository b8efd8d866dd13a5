//! A throw-away berth store and helpers to run `berth-unpack` against it.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::{berth_unpack_bin, hex_part, sha256_hex, BuiltImage};

/// A temp dir holding `root/` (the store, `--root`), `run/` (`--run-dir`) and `work/`
/// (the test's inputs and outside files, never touched by the binary).
pub struct TestStore {
    tmp: tempfile::TempDir,
}

impl Default for TestStore {
    fn default() -> Self {
        TestStore::new()
    }
}

impl TestStore {
    pub fn new() -> TestStore {
        let tmp = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(tmp.path().join("work")).unwrap();
        TestStore { tmp }
    }
    pub fn base(&self) -> &Path {
        self.tmp.path()
    }
    pub fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }
    pub fn run_dir(&self) -> PathBuf {
        self.tmp.path().join("run")
    }
    /// Scratch space for the test's inputs: `work/<rel>`.
    pub fn work(&self, rel: &str) -> PathBuf {
        self.tmp.path().join("work").join(rel)
    }

    /// `berth-unpack --root <root> --run-dir <run>`, stdin closed.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(berth_unpack_bin());
        cmd.arg("--root")
            .arg(self.root())
            .arg("--run-dir")
            .arg(self.run_dir());
        cmd.env_remove("BERTH_ROOT")
            .env_remove("BERTH_RUN_DIR")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command()
            .args(args)
            .output()
            .expect("cannot run berth-unpack")
    }

    /// Runs with `input` on stdin.
    pub fn run_with_stdin<I, S>(&self, args: I, input: &[u8]) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command();
        cmd.args(args);
        output_with_input(cmd, input)
    }

    /// Runs and panics unless it succeeded.
    pub fn ok<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "berth-unpack {args:?} failed:\n{}",
            describe(&out)
        );
        out
    }

    /// Runs, expects success and one line of JSON on stdout (a container record).
    pub fn record<I, S>(&self, args: I) -> Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        parse_record(&self.ok(args))
    }

    /// `load PATH`, returning the record.
    pub fn load(&self, path: &Path) -> Value {
        self.record([OsStr::new("load"), path.as_os_str()])
    }

    /// `inspect IMAGE` → the first element, or None if inspect failed.
    pub fn inspect(&self, image: &str) -> Option<Value> {
        let out = self.run(["inspect", image]);
        if !out.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("inspect output is not JSON ({e}):\n{}", describe(&out)));
        let first = v.as_array().and_then(|a| a.first()).cloned();
        Some(
            first
                .unwrap_or_else(|| panic!("inspect printed no array element:\n{}", describe(&out))),
        )
    }

    /// Layer directories in the record, resolved against the root if relative.
    pub fn record_layers(&self, record: &Value) -> Vec<PathBuf> {
        let layers = record["image"]["layers"]
            .as_array()
            .expect("record has image.layers");
        layers
            .iter()
            .map(|l| {
                let p = PathBuf::from(l.as_str().expect("layer is a string"));
                if p.is_absolute() {
                    p
                } else {
                    self.root().join(p)
                }
            })
            .collect()
    }

    /// Entries of `layers/` (chain ID directories).
    pub fn layer_entries(&self) -> BTreeSet<String> {
        dir_names(&self.root().join("layers"))
    }

    /// Entries of `images/blobs/sha256`.
    pub fn blobs(&self) -> BTreeSet<String> {
        dir_names(&self.root().join("images/blobs/sha256"))
    }

    /// Entries of `tmp/`.
    pub fn tmp_entries(&self) -> BTreeSet<String> {
        dir_names(&self.root().join("tmp"))
    }

    /// The store's `images/index.json`.
    pub fn index(&self) -> Value {
        let text = std::fs::read(self.root().join("images/index.json")).expect("store index.json");
        serde_json::from_slice(&text).expect("store index.json is JSON")
    }

    /// Checks what a successful load of `image` must have left: the record's ID, its layer
    /// directories (one per chain ID, lowest first) and the manifest and config blobs.
    pub fn assert_loaded(&self, record: &Value, image: &BuiltImage) {
        assert_eq!(record["version"], 1, "record version: {record}");
        assert_eq!(
            record["image"]["id"],
            image.id().as_str(),
            "image id: {record}"
        );
        let layers = self.record_layers(record);
        assert_eq!(layers.len(), image.layers.len(), "layer count: {record}");
        for (dir, chain) in layers.iter().zip(image.chain_ids()) {
            assert!(dir.is_dir(), "layer dir {} missing", dir.display());
            assert!(
                dir.starts_with(self.root().join("layers")),
                "{} not under layers/",
                dir.display()
            );
            assert_eq!(dir.file_name().unwrap(), "diff", "{}", dir.display());
            let parent = dir
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert!(
                parent.contains(hex_part(&chain)),
                "layer dir {} is not chain id {chain}",
                dir.display()
            );
        }
        let blobs = self.blobs();
        assert!(
            blobs.contains(hex_part(&image.config_digest)),
            "config blob missing: {blobs:?}"
        );
        let manifest = record["image"]["manifest"]
            .as_str()
            .expect("record has image.manifest");
        assert!(
            blobs.contains(hex_part(manifest)),
            "manifest blob {manifest} missing: {blobs:?}"
        );
        let stored = std::fs::read(
            self.root()
                .join("images/blobs/sha256")
                .join(hex_part(manifest)),
        )
        .unwrap();
        assert_eq!(
            sha256_hex(&stored),
            hex_part(manifest),
            "manifest blob content does not match its name"
        );
    }

    /// Everything under the root except `locks/`: path → type, mode, owner, size,
    /// content hash or link target (not times).
    pub fn snapshot(&self) -> Snapshot {
        let mut map = BTreeMap::new();
        let root = self.root();
        if root.exists() {
            walk(&root, &root, &mut map);
        }
        Snapshot(map)
    }
}

fn dir_names(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn walk(root: &Path, dir: &Path, map: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == "locks" {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let ft = meta.file_type();
        let what = if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_file() {
            format!(
                "file {} {}",
                meta.len(),
                sha256_hex(&std::fs::read(&path).unwrap())
            )
        } else if ft.is_symlink() {
            format!("symlink {}", std::fs::read_link(&path).unwrap().display())
        } else {
            format!("special rdev={:x}", meta.rdev())
        };
        map.insert(
            rel,
            format!(
                "{what} mode={:o} {}:{}",
                meta.mode(),
                meta.uid(),
                meta.gid()
            ),
        );
        if ft.is_dir() {
            walk(root, &path, map);
        }
    }
}

/// A listing of a store, to compare before and after a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<String, String>);

impl Snapshot {
    /// Human-readable differences (`+ path`, `- path`, `~ path`).
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            match after.0.get(k) {
                None => out.push(format!("- {k} ({v})")),
                Some(w) if w != v => out.push(format!("~ {k} ({v} -> {w})")),
                _ => {}
            }
        }
        for (k, w) in &after.0 {
            if !self.0.contains_key(k) {
                out.push(format!("+ {k} ({w})"));
            }
        }
        out
    }

    pub fn assert_same(&self, after: &Snapshot, what: &str) {
        let diff = self.diff(after);
        assert!(
            diff.is_empty(),
            "{what}: the store changed:\n{}",
            diff.join("\n")
        );
    }
}

/// stdout/stderr/status of a run, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Parses stdout as exactly one line of JSON.
pub fn parse_record(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line of JSON on stdout:\n{}",
        describe(out)
    );
    serde_json::from_str(lines[0])
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", describe(out)))
}

/// A failed run as the contract describes it.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    /// `error` from the stdout JSON.
    pub message: String,
    pub stderr: String,
}

impl Failure {
    /// Checks exit code 125, `{"error": …}` on stdout and `berth-unpack: …` on stderr.
    pub fn expect(out: &Output) -> Failure {
        let code = out.status.code().unwrap_or(-1);
        assert_eq!(code, 125, "expected exit code 125:\n{}", describe(out));
        let value = parse_record(out);
        let message = value["error"]
            .as_str()
            .unwrap_or_else(|| panic!("stdout has no \"error\" string:\n{}", describe(out)))
            .to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.lines().any(|l| l.starts_with("berth-unpack: ")),
            "stderr lacks a `berth-unpack: ` line:\n{}",
            describe(out)
        );
        Failure {
            code,
            message,
            stderr,
        }
    }

    /// Checks a management command's failure (ls, inspect, rm…): exit 125, nothing on
    /// stdout, the message on stderr after `berth-unpack: `.
    pub fn expect_command(out: &Output) -> Failure {
        let code = out.status.code().unwrap_or(-1);
        assert_eq!(code, 125, "expected exit code 125:\n{}", describe(out));
        assert!(
            out.stdout.is_empty(),
            "stdout not empty:\n{}",
            describe(out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let message = stderr
            .lines()
            .find_map(|l| l.strip_prefix("berth-unpack: "))
            .unwrap_or_else(|| panic!("stderr lacks a `berth-unpack: ` line:\n{}", describe(out)))
            .to_string();
        Failure {
            code,
            message,
            stderr,
        }
    }

    /// Asserts that the message mentions `needle`.
    pub fn assert_mentions(&self, needle: &str) {
        assert!(
            self.message.contains(needle),
            "error message does not name {needle:?}: {}",
            self.message
        );
    }

    /// Asserts that the message mentions at least one of `needles`.
    pub fn assert_mentions_any(&self, needles: &[&str]) {
        assert!(
            needles.iter().any(|n| self.message.contains(n)),
            "error message names none of {needles:?}: {}",
            self.message
        );
    }
}

/// Runs `cmd` with `input` on its stdin (written from a thread, so a large input cannot
/// deadlock against a full stdout pipe) and collects its output.
pub fn output_with_input(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}
