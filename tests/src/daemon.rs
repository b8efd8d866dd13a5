//! A `berthd` of a test's own: on the [`Sandbox`]'s root, run dir, cgroup parent and network
//! names, listening on a socket in the sandbox's directory, with the proxies pointed at a
//! closed loopback port so that a stray pull fails at once. The real `docker` CLI talks to
//! it through [`Daemon::docker`]. Dropping it stops the daemon with SIGTERM (SIGKILL after
//! 15 s); the sandbox then cleans up what containers left.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::container::Sandbox;

pub struct Daemon {
    child: Option<Child>,
    pub socket: PathBuf,
    /// The daemon's stderr, for failure messages.
    pub log: PathBuf,
    /// DOCKER_CONFIG of the test's CLI: nothing from the host's ~/.docker.
    docker_config: PathBuf,
}

impl Daemon {
    /// Starts berthd on the sandbox and waits until it answers `/_ping`.
    pub fn start(sandbox: &Sandbox) -> Daemon {
        Self::start_with(sandbox, &[])
    }

    pub fn start_with(sandbox: &Sandbox, extra: &[&str]) -> Daemon {
        let base = sandbox.store.base();
        let socket = base.join("berthd.sock");
        let log = base.join("berthd.log");
        let docker_config = base.join("docker-config");
        std::fs::create_dir_all(&docker_config).unwrap();
        let child = Self::command(sandbox, &socket, extra)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn berthd");
        let daemon = Daemon {
            child: Some(child),
            socket,
            log,
            docker_config,
        };
        daemon.wait_ready();
        daemon
    }

    /// The berthd command line for the sandbox, not started.
    pub fn command(sandbox: &Sandbox, socket: &std::path::Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(crate::berth_bin("berthd"));
        cmd.arg("--root")
            .arg(sandbox.store.root())
            .arg("--run-dir")
            .arg(sandbox.store.run_dir())
            .arg("--cgroup-parent")
            .arg(&sandbox.cgroup_parent)
            .arg("--config-file")
            .arg(Self::config_file(sandbox))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(extra)
            .envs(sandbox.net.env())
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NO_PROXY", "localhost,127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // A named config file must exist: an empty one is no settings at all. A test may
        // have written its own settings there first.
        let config = Self::config_file(sandbox);
        if !config.exists() {
            let _ = std::fs::write(config, "");
        }
        cmd
    }

    /// The daemon.json of the sandbox's berthd.
    pub fn config_file(sandbox: &Sandbox) -> PathBuf {
        sandbox.store.base().join("daemon.json")
    }

    /// Sends `signal` to berthd.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("signal berthd");
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "berthd did not listen on {} within 15 s; its log:\n{}",
                self.socket.display(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `docker -H unix://SOCKET ARGS` with a config dir of the test's own.
    pub fn docker_command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new("docker");
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        cmd
    }

    pub fn docker<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.docker_command(args).output().expect("spawn docker")
    }

    /// Runs docker and returns its stdout; fails the test (with berthd's log) unless it
    /// exits 0.
    pub fn docker_ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.docker_command(args);
        let shown = format!("{cmd:?}");
        let out = cmd.output().expect("spawn docker");
        assert!(
            out.status.success(),
            "{shown} failed ({}):\nstdout: {}\nstderr: {}\nberthd log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One raw HTTP/1.0 request on the socket; the whole answer (status line, headers, body).
    pub fn http(&self, method: &str, path: &str, body: &str) -> String {
        self.http_body(method, path, "application/json", body.as_bytes())
    }

    /// [`Daemon::http`] with a body of any type (a tar, for /build or /archive).
    pub fn http_body(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> String {
        use std::io::{Read, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(&self.socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: berth\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// SIGTERM, then waits for the exit (SIGKILL after 15 s); the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if start.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash; containers are left to the daemon that comes next.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A bollard (the Rust Docker SDK) client of `daemon`'s socket, at bollard's own default
/// version (tests negotiate when they mean to).
pub fn bollard_client(daemon: &Daemon) -> bollard::Docker {
    bollard::Docker::connect_with_unix(
        daemon.socket.to_str().expect("a UTF-8 socket path"),
        60,
        bollard::API_DEFAULT_VERSION,
    )
    .expect("bollard client")
}

/// A single-threaded tokio runtime for a test's bollard calls.
pub fn bollard_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The HTTP status of a bollard error that is the daemon's answer.
pub fn bollard_status(error: &bollard::errors::Error) -> u16 {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => *status_code,
        other => panic!("not a server error: {other:?}"),
    }
}
