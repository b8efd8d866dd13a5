//! CVE-2019-5736: the container must never get hold of berth's binary through
//! /proc/self/exe.
//!
//! The attack: the container's child of berth is a fork of berth-run (or berth-enter, or a
//! detached container's monitor), so its /proc/self/exe is the host's berth binary. If it
//! execs a program of the container's that is a script starting with `#!/proc/self/exe`
//! (planted as /bin/sh, say, for the next `berth-run exec CTR /bin/sh`), the kernel resolves
//! the interpreter through the exec'ing process and runs the *host's berth binary* inside the
//! container (`exec CTR /proc/self/exe` does the same without a script), dumpable again after
//! the exec. (berth is linked against glibc, so that takes an image with the dynamic loader
//! and libc, as most have; a static berth would run in any.) A container process opens
//! /proc/PID/exe of it (O_PATH), waits for it to exit, reopens /proc/self/fd/N for writing
//! (container root has CAP_DAC_OVERRIDE, the binary's mount is writable) and overwrites
//! berth on the host.
//! `PR_SET_DUMPABLE 0` (kept in `child.rs`: it still hides berth's memory and
//! /proc/PID/exe while the child sets up) does not help: every exec makes a process
//! dumpable again.
//!
//! The defence, as runc's "runc-dmz": the child never execs the command itself. It execs
//! `berth-dmz` (`dmz/main.rs`, a ~9 KB static no_std program) from a sealed memfd, and the
//! dmz execs the command. From then on /proc/self/exe of the process is the memfd
//! (`/memfd:berth-dmz (deleted)`), never a file of the host; a `#!/proc/self/exe` script
//! gets the dmz as its interpreter, which refuses to run as one (its argv[0] is then not
//! the one berth gives, see `dmz/report.rs`) and exits 127, as it does when run as
//! /proc/self/exe.
//!
//! The memfd is sealed (`F_SEAL_SEAL|SHRINK|GROW|WRITE`: no write, truncate or writable
//! mapping), mode 0555 and immutable (`FS_IMMUTABLE_FL`, Linux 6.0+). Seals alone do not
//! stop container root (CAP_DAC_OVERRIDE, CAP_FOWNER) from *reopening* it for writing
//! through /proc/PID/exe once the dmz has exec'd, nor from chmod'ing it; the immutable flag
//! does (EPERM), unless the container was given CAP_LINUX_IMMUTABLE. So, in addition, every
//! start gets a memfd of its own, made before the clone and closed once the command runs,
//! never exec'd again: one shared by all the starts of a process (a daemon) could be held
//! open for writing by one container (every later exec of it would fail with ETXTBSY) or
//! made setuid (the next container's non-root user would run the dmz, and its command, as
//! root). Making one costs ~20 µs.
//!
//! Why not runc 1.2's way (the runtime re-executes itself from a read-only overlayfs mount
//! or a sealed memfd copy of itself): berth's child is a fork of the running berth, not a
//! re-exec. Re-executing the ~50 MB berth binary (or copying it into a memfd) would cost
//! about a millisecond per start, and berth's start must stay at or below crun's. The extra
//! exec of a 9 KB static program costs ~50 µs (docs/benchmarks.md, "The dmz").
//!
//! The start pipe (`sync.rs`) must stay open across the first exec and close on the second:
//! the child clears its close-on-exec flag just before `execveat`, passes its number to the
//! dmz, and the dmz sets the flag again before its `execve`. If that execve fails the dmz
//! reports the failure on the pipe as berth's child would (`{"code":126,"message":…}`), so
//! exit statuses and messages reach the parent as before.
//!
//! The container's seccomp filter is in force for both execs: Docker's profile allows
//! `execveat`; for a profile that allows only `execve` the child falls back to
//! `execve("/proc/self/fd/N")` of the memfd. Capabilities, no_new_privs, the user and the
//! environment come out of two execs as out of one (the dmz is neither setuid nor has file
//! capabilities; root gets the bounding set on every exec).

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::fs::{IFlags, MemfdFlags, Mode, SealFlags};
use rustix::io::{Errno, FdFlags};

/// The dmz's protocol, compiled here for ARGV0 and for the tests of the rest.
#[path = "../dmz/report.rs"]
#[cfg_attr(not(test), allow(dead_code))]
mod report;

/// berth-dmz, built static by `build.rs` from `dmz/main.rs`.
const DMZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-dmz"));

/// A sealed, executable memfd holding berth-dmz: one per container start.
pub struct SealedDmz(OwnedFd);

impl SealedDmz {
    /// The sealed memfd; where the host forbids executable memfds (`vm.memfd_noexec=2`), an
    /// unlinked immutable file beside the running berth binary instead.
    pub fn create() -> std::io::Result<SealedDmz> {
        match SealedDmz::memfd() {
            Err(forbidden) if forbidden.raw_os_error() == Some(libc::EACCES) => {
                let dir = std::env::current_exe()?
                    .parent()
                    .map(std::path::Path::to_path_buf)
                    .unwrap_or_else(|| "/".into());
                SealedDmz::unlinked_file(&dir).map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!(
                            "executable memfds are forbidden here (vm.memfd_noexec=2: \
                             {forbidden}), and an unlinked immutable copy in {} failed: {e}",
                            dir.display()
                        ),
                    )
                })
            }
            other => other,
        }
    }

    /// Creates the memfd (close-on-exec), writes the dmz, makes it 0555, seals it and
    /// (where the kernel can) makes it immutable.
    fn memfd() -> std::io::Result<SealedDmz> {
        let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
        // MFD_EXEC (Linux 6.3) keeps the memfd executable where vm.memfd_noexec=1 would
        // make it noexec; older kernels reject the flag.
        let fd = match rustix::fs::memfd_create(c"berth-dmz", flags | MemfdFlags::EXEC) {
            Err(Errno::INVAL) => rustix::fs::memfd_create(c"berth-dmz", flags)?,
            other => other?,
        };
        let mut file = File::from(fd);
        std::io::Write::write_all(&mut file, DMZ)?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(0o555))?;
        rustix::fs::fcntl_add_seals(
            &file,
            SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
        )?;
        // Seals refuse writes, not a reopen for writing or a chmod; immutable refuses
        // those too, even to CAP_DAC_OVERRIDE/CAP_FOWNER. Best effort: tmpfs takes the flag
        // since Linux 6.0, and a memfd of its own per start is safe without it.
        if let Ok(flags) = rustix::fs::ioctl_getflags(&file) {
            let _ = rustix::fs::ioctl_setflags(&file, flags | IFlags::IMMUTABLE);
        }
        Ok(SealedDmz(file.into()))
    }

    /// The dmz in an unlinked file (`O_TMPFILE`) in `dir`, which must allow exec (the
    /// directory of the running berth binary does), for hosts where memfds cannot be
    /// executed. No seals on a regular file: the immutable flag is what keeps container
    /// root from reopening it for writing through /proc/PID/exe, so a filesystem that
    /// refuses the flag fails this. The fd kept is read-only: a writer left open would make
    /// the exec fail with ETXTBSY.
    fn unlinked_file(dir: &std::path::Path) -> std::io::Result<SealedDmz> {
        use rustix::fs::OFlags;
        let fd = rustix::fs::open(
            dir,
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o500),
        )?;
        let mut file = File::from(fd);
        std::io::Write::write_all(&mut file, DMZ)?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(0o555))?;
        let read_only = rustix::fs::open(
            format!("/proc/self/fd/{}", file.as_raw_fd()),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        drop(file);
        let flags = rustix::fs::ioctl_getflags(&read_only)?;
        rustix::fs::ioctl_setflags(&read_only, flags | IFlags::IMMUTABLE)?;
        Ok(SealedDmz(read_only))
    }

    /// In the child, last: execs the dmz, which execs `path` with `argv` and `envp` and
    /// reports a failure of that on `to_parent` (kept open across the dmz's exec only).
    /// Returns only if the dmz itself could not be exec'd.
    pub(crate) fn exec(
        &self,
        to_parent: &File,
        path: &CStr,
        argv: &[CString],
        envp: &[CString],
    ) -> std::io::Error {
        let fd = CString::new(to_parent.as_raw_fd().to_string()).expect("digits");
        let argv0 = CString::new(report::ARGV0).expect("no NUL");
        let dmz_argv: Vec<&CStr> = [argv0.as_c_str(), &fd, path]
            .into_iter()
            .chain(argv.iter().map(CString::as_c_str))
            .collect();
        let envp: Vec<&CStr> = envp.iter().map(CString::as_c_str).collect();
        if let Err(e) = rustix::io::fcntl_setfd(to_parent, FdFlags::empty()) {
            return e.into();
        }
        let mut error = execveat_empty_path(self.0.as_fd(), &dmz_argv, &envp);
        // A seccomp profile may allow execve but not execveat: the same file by its path.
        if matches!(error.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) {
            let path = CString::new(format!("/proc/self/fd/{}", self.0.as_raw_fd()))
                .expect("no NUL in a path of digits");
            error = execve(&path, &dmz_argv, &envp);
        }
        let _ = rustix::io::fcntl_setfd(to_parent, FdFlags::CLOEXEC);
        error
    }
}

impl AsFd for SealedDmz {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// NULL-terminated pointer arrays of `strings`.
fn pointers(strings: &[&CStr]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`; returns only on failure.
fn execveat_empty_path(
    fd: std::os::fd::BorrowedFd<'_>,
    argv: &[&CStr],
    envp: &[&CStr],
) -> std::io::Error {
    let (argv, envp) = (pointers(argv), pointers(envp));
    // SAFETY: "" is a NUL-terminated string; argv and envp are NULL-terminated arrays of
    // pointers to NUL-terminated strings, all of which outlive the call; the fd is open.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    std::io::Error::last_os_error()
}

/// `execve(path, argv, envp)`; returns only on failure.
fn execve(path: &CStr, argv: &[&CStr], envp: &[&CStr]) -> std::io::Error {
    let (argv, envp) = (pointers(argv), pointers(envp));
    // SAFETY: as for execveat above, with a NUL-terminated path.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    std::io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Command, Stdio};

    use super::*;
    use crate::sync::ChildFailure;

    fn json(path: &[u8], errno: i32) -> String {
        let mut out = Vec::new();
        report::failure_json(path, errno, &mut |piece| out.extend_from_slice(piece));
        String::from_utf8(out).expect("always UTF-8")
    }

    #[test]
    fn failures_are_reported_as_the_child_reports_them() {
        let f: ChildFailure = serde_json::from_str(&json(b"/etc/passwd", libc::EACCES)).unwrap();
        assert_eq!(f.code, 126);
        assert_eq!(f.message, "exec: /etc/passwd: permission denied");
        let f: ChildFailure = serde_json::from_str(&json(b"/bin/x", libc::ENOEXEC)).unwrap();
        assert_eq!(
            (f.code, f.message.as_str()),
            (126, "exec: /bin/x: exec format error")
        );
        let f: ChildFailure = serde_json::from_str(&json(b"/no/such", libc::ENOENT)).unwrap();
        assert_eq!(
            (f.code, f.message.as_str()),
            (127, "exec: /no/such: no such file or directory")
        );
        let f: ChildFailure = serde_json::from_str(&json(b"/x", libc::ENOTDIR)).unwrap();
        assert_eq!(f.code, 127);
        for errno in [libc::EPERM, libc::EISDIR] {
            assert_eq!(report::exit_code(errno), 126);
        }
        let f: ChildFailure = serde_json::from_str(&json(b"/x", libc::EHWPOISON)).unwrap();
        assert_eq!(
            (f.code, f.message),
            (125, format!("exec: /x: errno {}", libc::EHWPOISON))
        );
    }

    #[test]
    fn odd_paths_still_make_valid_json() {
        let f: ChildFailure =
            serde_json::from_str(&json(b"/a\"b\\c\x01\n\xff\xfe/caf\xc3\xa9", 2)).unwrap();
        assert_eq!(
            f.message,
            "exec: /a\"b\\c\u{1}\n\u{fffd}\u{fffd}/café: no such file or directory"
        );
    }

    #[test]
    fn numbers() {
        let mut buf = [0u8; 12];
        for n in [0, 7, 125, -3, i32::MAX, i32::MIN] {
            assert_eq!(report::decimal(n, &mut buf), n.to_string().as_bytes());
        }
        assert_eq!(report::parse_fd(b"17"), Some(17));
        for bad in [&b""[..], b"-1", b"1x", b"1234567890"] {
            assert_eq!(report::parse_fd(bad), None);
        }
    }

    #[test]
    fn the_dmz_is_small_and_static() {
        assert!(DMZ.starts_with(b"\x7fELF"));
        assert!(DMZ.len() < 32 * 1024, "{} bytes", DMZ.len());
    }

    #[test]
    fn the_memfd_is_sealed_and_cannot_be_written() {
        let dmz = SealedDmz::create().unwrap();
        let seals = rustix::fs::fcntl_get_seals(&dmz.0).unwrap();
        assert!(seals.contains(SealFlags::SEAL | SealFlags::WRITE | SealFlags::SHRINK));
        let stat = rustix::fs::fstat(&dmz.0).unwrap();
        assert_eq!(stat.st_mode & 0o7777, 0o555);
        assert_eq!(stat.st_size as usize, DMZ.len());
        let path = format!("/proc/self/fd/{}", dmz.as_fd().as_raw_fd());
        let immutable =
            rustix::fs::ioctl_getflags(&dmz.0).is_ok_and(|flags| flags.contains(IFlags::IMMUTABLE));
        let reopened = std::fs::OpenOptions::new().write(true).open(&path);
        if immutable {
            // Not even root reopens it for writing, or chmods it.
            assert_eq!(reopened.unwrap_err().raw_os_error(), Some(libc::EPERM));
            let chmod = std::fs::set_permissions(
                &path,
                std::os::unix::fs::PermissionsExt::from_mode(0o4755),
            );
            assert_eq!(chmod.unwrap_err().raw_os_error(), Some(libc::EPERM));
        } else {
            // (Linux < 6.0) The seals still refuse every write.
            let reopened = reopened.unwrap();
            let write = std::io::Write::write(&mut &reopened, b"x").unwrap_err();
            assert_eq!(write.raw_os_error(), Some(libc::EPERM));
            assert!(reopened.set_len(0).is_err());
        }
        assert_eq!(std::fs::read(&path).unwrap(), DMZ);
    }

    #[test]
    fn the_unlinked_fallback_is_immutable_read_only_and_runs() {
        let dir = tempfile::tempdir().unwrap();
        let dmz = SealedDmz::unlinked_file(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "unlinked"
        );
        let flags = rustix::fs::ioctl_getflags(&dmz.0).unwrap();
        assert!(flags.contains(IFlags::IMMUTABLE));
        let path = format!("/proc/self/fd/{}", dmz.as_fd().as_raw_fd());
        let reopened = std::fs::OpenOptions::new().write(true).open(&path);
        assert_eq!(reopened.unwrap_err().raw_os_error(), Some(libc::EPERM));
        let out = Command::new(&path).arg0("berth dmz").output().unwrap();
        // run without berth's arguments, it refuses, as it does as an interpreter
        assert_eq!(out.status.code(), Some(127), "{out:?}");
        // the immutable flag must come off before the temporary directory goes
        let _ = rustix::fs::ioctl_setflags(&dmz.0, flags - IFlags::IMMUTABLE);
    }

    /// Runs the dmz as berth does, with `argv` (PATH ARGV0 ARGS…, `{fd}` in them replaced
    /// by the pipe's number) or, with `argv0`, as something else; returns (exit status,
    /// what it wrote on the pipe, stdout).
    fn run_dmz(argv0: Option<&str>, argv: &[&str]) -> (i32, String, String) {
        let dmz = SealedDmz::create().unwrap();
        let pipe = crate::sync::pipe().unwrap();
        let write_fd = pipe.write.as_raw_fd();
        let mut cmd = Command::new(format!("/proc/self/fd/{}", dmz.as_fd().as_raw_fd()));
        cmd.arg0(argv0.unwrap_or("berth dmz"))
            .arg(write_fd.to_string())
            .args(
                argv.iter()
                    .map(|a| a.replace("{fd}", &write_fd.to_string())),
            )
            .env_clear()
            .env("MARK", "dmz")
            .stdout(Stdio::piped());
        // SAFETY: fcntl is async-signal-safe; it only clears the flag on our pipe's fd.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(write_fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        let child = cmd.spawn().unwrap();
        drop(pipe.write);
        let mut report = String::new();
        { pipe.read }.read_to_string(&mut report).unwrap();
        let out = child.wait_with_output().unwrap();
        let code = out
            .status
            .code()
            .unwrap_or(128 + out.status.signal().unwrap_or(0));
        (
            code,
            report,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    #[test]
    fn the_dmz_execs_the_command_with_its_argv_and_env_and_closes_the_pipe() {
        let script = "tr '\\0' ' ' </proc/$$/cmdline; echo \"$0 $1 $MARK\"; exit 3";
        let (code, report, stdout) = run_dmz(None, &["/bin/sh", "zero", "-c", script, "a", "b"]);
        assert_eq!((code, report.as_str()), (3, ""));
        assert_eq!(stdout, format!("zero -c {script} a b a b dmz\n"));
        // The pipe is closed on the command's exec ({fd}: its number).
        let check = "[ -e /proc/self/fd/{fd} ] && echo open || echo closed";
        let (code, _, stdout) = run_dmz(None, &["/bin/sh", "sh", "-c", check]);
        assert_eq!((code, stdout.as_str()), (0, "closed\n"));
    }

    #[test]
    fn the_dmz_reports_exec_failures_on_the_pipe() {
        let (code, report, _) = run_dmz(None, &["/etc/passwd", "passwd"]);
        let f: ChildFailure = serde_json::from_str(&report).unwrap();
        assert_eq!((code, f.code), (126, 126));
        assert_eq!(f.message, "exec: /etc/passwd: permission denied");
        let (code, report, _) = run_dmz(None, &["/no/such/program", "x"]);
        let f: ChildFailure = serde_json::from_str(&report).unwrap();
        assert_eq!((code, f.code), (127, 127));
        assert_eq!(
            f.message,
            "exec: /no/such/program: no such file or directory"
        );
    }

    #[test]
    fn the_dmz_refuses_to_be_an_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("evil");
        std::fs::write(&script, "#!/proc/self/exe\necho ran\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let script = script.to_str().unwrap();
        // The script's interpreter is the dmz itself: it runs, refuses, execs nothing.
        let (code, report, stdout) = run_dmz(None, &[script, "evil"]);
        assert_eq!((code, report.as_str(), stdout.as_str()), (127, "", ""));
        // Any argv[0] but berth's is refused.
        let (code, report, stdout) = run_dmz(Some("berth-dmz"), &["/bin/echo", "echo", "x"]);
        assert_eq!((code, report.as_str(), stdout.as_str()), (127, "", ""));
    }
}
