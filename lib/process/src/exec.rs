//! The last step in the child: find the program along the container's PATH and execve it.
//! The exit code for a failure is decided from the errno, as docker does (127 not found,
//! 126 not executable), never from matching error strings.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// Replaces the process; returns only on failure.
pub fn exec(args: &[String], env: &[String]) -> ChildFailure {
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
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_ptrs: Vec<*const libc::c_char> = envp
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // SAFETY: file, argv and envp are NUL-terminated strings and NULL-terminated arrays
    // that outlive the call; execve returns only on failure.
    unsafe { libc::execve(file.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
    let errno = std::io::Error::last_os_error();
    let code = match errno.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENOTDIR) => 127,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::ENOEXEC) | Some(libc::EISDIR) => 126,
        _ => 125,
    };
    if code == 127 {
        let mut failure = not_found(program);
        failure.message = format!("exec: {}: no such file or directory", resolved.display());
        return failure;
    }
    ChildFailure {
        code,
        message: format!("exec: {}: {errno}", resolved.display()),
    }
}
