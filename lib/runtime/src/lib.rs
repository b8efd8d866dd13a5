//! One container run, start to end: the image (loaded from a file or found in the
//! store), the root filesystem, the cgroup, the process; then teardown of everything
//! that was set up, also when a step fails. `berth-run` is a thin shell over this, and the
//! daemon will call the same code.

pub mod attach;
pub mod control;
pub mod detach_keys;
pub mod exec;
mod flags;
pub mod logs;
mod monitor;
mod ps_view;
pub mod state;
mod trace;

use std::path::Path;

use berth_common::{ContainerRecord, Paths};
use berth_image::import::{load, ImportOptions};
use berth_image::Store;

pub use flags::RunFlags;
pub use monitor::start_detached;
pub use trace::Trace;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("image: {0}")]
    Image(#[from] berth_image::ImageError),
    #[error("rootfs: {0}")]
    Rootfs(#[from] berth_rootfs::RootfsError),
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::CgroupError),
    #[error("network: {0}")]
    Net(#[from] berth_net::NetError),
    #[error("{0}")]
    Spec(#[from] berth_process::options::SpecError),
    #[error("{0}")]
    Seccomp(#[from] berth_process::seccomp::SeccompSetupError),
    #[error("{0}")]
    Start(#[from] berth_process::SpawnError),
    #[error("monitor: {0}")]
    Monitor(String),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("{0}")]
    Control(String),
    #[error("invalid {flag}: {reason}")]
    Flag { flag: &'static str, reason: String },
    #[error(transparent)]
    Attach(#[from] attach::AttachError),
}

impl RunError {
    /// Docker's convention: 125 for berth's own failures, 126/127 for a command that
    /// cannot be run.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Start(e) => e.exit_code(),
            // As docker attach: 1 for a container that cannot be attached to.
            RunError::Attach(_) => 1,
            _ => 125,
        }
    }
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The exit status the docker way: the code, or 128+N for a signal.
    pub code: i32,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
}

/// A container set up and ready to start: its record (with rootfs and cgroup parts), its
/// process spec, and the teardown that undoes the setup if it is dropped.
pub struct Prepared {
    pub record: ContainerRecord,
    pub spec: berth_process::ContainerSpec,
    pub teardown: Teardown,
}

impl Prepared {
    pub fn id(&self) -> &str {
        &self
            .record
            .container
            .as_ref()
            .expect("prepared containers have an id")
            .id
    }
}

/// Image, rootfs, cgroup and process spec for a run; nothing started yet.
pub fn prepare(
    paths: &Paths,
    image: &str,
    command: &[String],
    flags: &RunFlags,
    trace: &mut Trace,
) -> Result<Prepared, RunError> {
    // Bad flags are found before anything is made.
    let limits = flags.limits()?;
    flags.net.check()?;
    let setup = flags.rootfs_options()?;
    let mut record = trace.stage("image", || image_record(paths, image))?;
    // The id comes first so that the cgroups can be made beside the mount: both are mostly
    // the kernel's work (mkdir in every hierarchy; the overlay), and on two cores they overlap.
    let id = record
        .container
        .get_or_insert_with(|| berth_common::ContainerPart::new(setup.name.clone()))
        .id
        .clone();
    let host = flags.cgroup_host();
    let (mounted, (cgroup, cgroup_took)) = std::thread::scope(|scope| {
        let cgroup = scope.spawn(|| {
            let begin = std::time::Instant::now();
            (berth_cgroups::create(&host, &id, &limits), begin.elapsed())
        });
        let mounted = trace.stage("mount", || berth_rootfs::setup(paths, &mut record, &setup));
        (
            mounted,
            cgroup.join().expect("the cgroup thread does not panic"),
        )
    });
    trace.record("cgroup", cgroup_took);
    // From here on whatever exists is undone if a later step fails.
    let mut teardown = Teardown {
        paths: paths.clone(),
        record: record.clone(),
        remove: flags.rm,
        cgroup: cgroup.as_ref().ok().cloned(),
        network: false,
        armed: true,
    };
    mounted?;
    let cgroup = cgroup?;
    teardown.record = record.clone();
    let net = berth_net::Context {
        paths,
        settings: &flags.net_host,
        dns: berth_net::DnsLauncher::current_exe(),
    };
    let part = trace.stage("net", || berth_net::setup(&net, &record, &flags.net))?;
    teardown.network = true;
    record.network = Some(part);
    record.cgroup = Some(cgroup);
    let mut spec = trace.stage("spec", || flags.process.spec(&mut record, command))?;
    spec.seccomp = trace.stage("seccomp", || {
        berth_process::seccomp::filter_for(
            &flags.process,
            &spec,
            Some(&paths.run_dir().join("seccomp")),
        )
    })?;
    teardown.record = record.clone();
    Ok(Prepared {
        record,
        spec,
        teardown,
    })
}

/// Runs `image` (a stored image, or an archive path to load first) to completion, in the
/// foreground: its stdio is berth-run's.
pub fn run(
    paths: &Paths,
    image: &str,
    command: &[String],
    flags: &RunFlags,
    trace: &mut Trace,
) -> Result<Outcome, RunError> {
    let mut prepared = prepare(paths, image, command, flags, trace)?;
    let raw_mode = prepared
        .spec
        .tty
        .as_ref()
        .map(|_| berth_process::tty::RawMode::enter());
    let started = trace.stage("start", || berth_process::start(&prepared.spec))?;
    // Foreground containers have a state too, so `ps` lists them and `rm -f` can clean up
    // after a berth-run that was killed.
    let mut run_state = state::RunState::running(
        &prepared.record,
        &prepared.spec,
        image,
        started.pid,
        flags.rm,
        snapshot(&prepared.spec, &flags.process),
    );
    if let Err(e) = run_state.write(paths) {
        tracing::warn!(error = %e, "cannot write the container state");
    }
    // With a terminal: berth keeps only the master; the output ends when the container does.
    let output = match prepared.spec.tty.take() {
        Some(pty) => {
            drop(pty.slave);
            let pump = berth_process::tty::pump(&pty.master, flags.process.interactive)
                .map_err(|e| RunError::Monitor(format!("terminal: {e}")))?;
            Some((pump, pty.master))
        }
        None => None,
    };
    let code = started.wait();
    if let Some((pump, master)) = output {
        let _ = pump.join();
        drop(master);
    }
    drop(raw_mode);
    trace.mark("run");
    let oom_killed = oom_killed(&prepared.record);
    run_state.exited(code, oom_killed);
    if !flags.rm {
        let _ = run_state.write(paths);
    }
    for error in prepared.teardown.run_after_exit(trace) {
        tracing::error!(%error, "teardown");
    }
    Ok(Outcome { code, oom_killed })
}

/// Whether the kernel's OOM killer struck in the container's cgroup.
pub(crate) fn oom_killed(record: &ContainerRecord) -> bool {
    record
        .cgroup
        .as_ref()
        .and_then(|c| berth_cgroups::oom_killed(c).ok())
        .is_some_and(|r| r.oom_killed)
}

/// What an `exec` into this container inherits.
pub(crate) fn snapshot(
    spec: &berth_process::ContainerSpec,
    options: &berth_process::options::ProcessOptions,
) -> state::ProcessSnapshot {
    use berth_process::options::SeccompChoice;
    state::ProcessSnapshot {
        caps: berth_process::caps::names(&spec.caps),
        seccomp: match options.seccomp() {
            SeccompChoice::Default => "default".into(),
            SeccompChoice::Unconfined => "unconfined".into(),
            SeccompChoice::Profile(p) => p.display().to_string(),
        },
        no_new_privs: spec.no_new_privs,
        env: spec.env.clone(),
        user: spec.user.clone(),
        workdir: spec.cwd.clone(),
        privileged: spec.privileged,
    }
}

fn image_record(paths: &Paths, image: &str) -> Result<ContainerRecord, RunError> {
    let store = Store::open(paths.clone())?;
    let path = Path::new(image);
    if path.exists() {
        let loaded = load(&store, path, &ImportOptions::default())?;
        let first = loaded
            .into_iter()
            .next()
            .ok_or_else(|| berth_image::ImageError::NotFound(image.to_string()))?;
        return Ok(store.record(&first, None)?);
    }
    Ok(store.record(&store.resolve(image)?, Some(image))?)
}

/// Undoes the mount and the cgroup however the run ends; collects errors rather than
/// stopping at the first, and reports them on stderr.
pub struct Teardown {
    paths: Paths,
    record: ContainerRecord,
    remove: bool,
    cgroup: Option<berth_common::CgroupPart>,
    /// berth-net set the container's networking up (its namespace, links, addresses).
    network: bool,
    armed: bool,
}

impl Teardown {
    /// The teardown of a container known by its record (another process set it up).
    pub fn for_record(paths: &Paths, record: &ContainerRecord, remove: bool) -> Teardown {
        Teardown {
            paths: paths.clone(),
            record: record.clone(),
            remove,
            cgroup: record.cgroup.clone(),
            network: record.network.is_some(),
            armed: true,
        }
    }

    /// Leaves everything in place (another process took the container over).
    pub fn disarm(mut self) {
        self.armed = false;
    }

    /// Tears down now; returns the errors met.
    pub fn run(mut self) -> Vec<String> {
        self.armed = false;
        self.teardown()
    }

    /// Tears down once the container's pid 1 has been reaped, timing each part. Its pid
    /// namespace is empty then (the kernel kills the other processes and waits for them
    /// before pid 1 can be reaped), so nothing holds the rootfs any more, and the cgroups
    /// are removed on a thread of their own beside the network and rootfs teardown.
    pub fn run_after_exit(mut self, trace: &mut Trace) -> Vec<String> {
        self.armed = false;
        let this = &self;
        let (mut errors, cgroup) = std::thread::scope(|scope| {
            let cgroup = this.cgroup.as_ref().map(|part| {
                scope.spawn(move || {
                    let begin = std::time::Instant::now();
                    (cgroup_down(part), begin.elapsed())
                })
            });
            let errors = this.network_and_rootfs(&mut Some(trace));
            let cgroup = cgroup.map(|h| h.join().expect("the cgroup thread does not panic"));
            (errors, cgroup)
        });
        if let Some((result, took)) = cgroup {
            trace.record("cgroup-down", took);
            errors.extend(result.err());
        }
        errors
    }

    /// The cgroups first (killing what is left), then the network and the rootfs.
    fn teardown(&self) -> Vec<String> {
        let mut errors: Vec<String> = self
            .cgroup
            .as_ref()
            .and_then(|p| cgroup_down(p).err())
            .into_iter()
            .collect();
        errors.extend(self.network_and_rootfs(&mut None));
        errors
    }

    fn network_and_rootfs(&self, trace: &mut Option<&mut Trace>) -> Vec<String> {
        let mut errors = Vec::new();
        let mut timed = |name: &'static str, work: &mut dyn FnMut() -> Result<(), String>| {
            let result = match trace.as_deref_mut() {
                Some(trace) => trace.stage(name, &mut *work),
                None => work(),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        };
        if let (true, Some(container)) = (self.network, &self.record.container) {
            timed("net-down", &mut || {
                berth_net::down(&self.paths, &container.id).map_err(|e| format!("network: {e}"))
            });
        }
        if let Some(container) = &self.record.container {
            timed("rootfs-down", &mut || {
                berth_rootfs::down(
                    &self.paths,
                    &container.id,
                    self.record.rootfs.as_ref(),
                    self.remove,
                )
                .map(drop)
                .map_err(|e| format!("rootfs: {e}"))
            });
        }
        errors
    }
}

fn cgroup_down(part: &berth_common::CgroupPart) -> Result<(), String> {
    berth_cgroups::down(part, berth_cgroups::DEFAULT_TIMEOUT).map_err(|e| format!("cgroup: {e}"))
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if self.armed {
            // Errors are logged (warn and above reach stderr by default); the run's own
            // result is what the caller reports.
            for error in self.teardown() {
                tracing::error!(%error, "teardown");
            }
        }
    }
}
