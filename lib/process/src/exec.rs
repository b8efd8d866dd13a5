//! The last step in the child: find the program along the container's PATH and exec it
//! through berth-dmz (`exe_seal`, CVE-2019-5736). The exit code for a failure is decided
//! from the errno, as docker does (127 not found, 126 not executable), never from matching
//! error strings: here for the lookup, in the dmz (`dmz/report.rs`) for the execve.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::exe_seal::SealedDmz;
use crate::sync::ChildFailure;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn not_found(program: &str) -> ChildFailure {
    ChildFailure {
        code: 127,
        message: format!("exec: {program:?}: executable file not found in $PATH"),
    }
}

/// Looks `program` up in `path` unless it names a path itself.
pub fn lookup(program: &str, path: &str) -> Result<PathBuf, ChildFailure> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(not_found(program))
}

fn cstrings(items: &[String], what: &str) -> Result<Vec<CString>, ChildFailure> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_bytes()).map_err(|_| ChildFailure {
                code: 125,
                message: format!("{what} {s:?} contains a NUL byte"),
            })
        })
        .collect()
}

/// Replaces the process: through the sealed `dmz` (`exe_seal`), which reports a failure of
/// the command's own execve on `to_parent`; returns only if the lookup or the exec of the
/// dmz failed.
pub fn exec(args: &[String], env: &[String], dmz: &SealedDmz, to_parent: &File) -> ChildFailure {
    let Some(program) = args.first() else {
        return ChildFailure {
            code: 125,
            message: "no command specified".into(),
        };
    };
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let resolved = match lookup(program, path_var) {
        Ok(p) => p,
        Err(f) => return f,
    };
    let (argv, envp) = match (
        cstrings(args, "argument"),
        cstrings(env, "environment variable"),
    ) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(f), _) | (_, Err(f)) => return f,
    };
    let Ok(file) = CString::new(resolved.as_os_str().as_encoded_bytes()) else {
        return ChildFailure {
            code: 125,
            message: format!("program path {resolved:?} contains a NUL byte"),
        };
    };
    let error = dmz.exec(to_parent, &file, &argv, &envp);
    ChildFailure {
        code: 125,
        message: format!("exec: {}: {error} (exec of berth-dmz)", resolved.display()),
    }
}
