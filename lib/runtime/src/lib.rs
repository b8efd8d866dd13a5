//! One container run, start to end: the image (loaded from a file or found in the
//! store), the root filesystem, the cgroup, the process; then teardown of everything
//! that was set up, also when a step fails. `berth-run` is a thin shell over this, and the
//! daemon will call the same code.

pub mod attach;
pub mod control;
#[cfg(test)]
mod control_tests;
pub mod detach_keys;
mod error;
mod events;
pub mod exec;
pub mod logs;
mod monitor;
mod ps_view;
mod request;
/// The run state lives in berth-common, beside the registry; this path keeps callers unchanged.
pub use berth_common::run_state as state;
mod trace;

use std::path::Path;

use berth_common::{ContainerRecord, ErrorList, Paths};
use berth_image::import::{load, ImportOptions};
use berth_image::Store;

pub use error::{ErrorKind, RunError};
pub use monitor::{start_detached, MonitorError};
pub use request::RunRequest;
pub use trace::Trace;

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
    request: &RunRequest,
    trace: &mut Trace,
) -> Result<Prepared, RunError> {
    prepare_as(paths, request, None, trace)
}

/// [`prepare`] for a container that is already registered (`container`: a daemon's
/// create, or a stopped container started again), or a new one (None).
pub fn prepare_as(
    paths: &Paths,
    request: &RunRequest,
    container: Option<berth_common::ContainerPart>,
    trace: &mut Trace,
) -> Result<Prepared, RunError> {
    prepare_with(paths, request, container, trace, |trace| {
        trace.stage("image", || image_record(paths, &request.image))
    })
}

/// [`prepare`] of a new container over an image record made by the caller (a build's
/// step, whose image is in no index): `request.image` only names it in events and state.
pub fn prepare_image(
    paths: &Paths,
    request: &RunRequest,
    image: ContainerRecord,
    trace: &mut Trace,
) -> Result<Prepared, RunError> {
    prepare_with(paths, request, None, trace, |_| Ok(image))
}

fn prepare_with(
    paths: &Paths,
    request: &RunRequest,
    container: Option<berth_common::ContainerPart>,
    trace: &mut Trace,
    image: impl FnOnce(&mut Trace) -> Result<ContainerRecord, RunError>,
) -> Result<Prepared, RunError> {
    // Bad input is found before anything is made.
    let (limits, setup) = request.checked()?;
    // A termination signal waits until the setup is whole, and then undoes it (below):
    // never a process killed with half a container in place.
    let setup_first = berth_common::TerminationBlocked::new();
    let mut record = image(trace)?;
    // A container registered before (by a daemon's create) had its create recorded then.
    let new = container.is_none();
    if container.is_some() {
        record.container = container;
    }
    // The id comes first so that the cgroups can be made beside the mount: both are mostly
    // the kernel's work (mkdir in every hierarchy; the overlay), and on two cores they overlap.
    let part = record
        .container
        .get_or_insert_with(|| berth_common::ContainerPart::new(setup.name.clone()));
    // Kept with the identity the setup registers: a removal after a crash looks there.
    part.cgroup_parent = Some(request.cgroup_parent.clone());
    let id = part.id.clone();
    let host = request.cgroup_host();
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
        remove: request.rm,
        remove_volumes: request.rm,
        cgroup: cgroup.as_ref().ok().cloned(),
        network: false,
        armed: true,
    };
    mounted?;
    let cgroup = cgroup?;
    teardown.record = record.clone();
    let net = berth_net::Context {
        paths,
        settings: &request.net_host,
        dns: berth_net::DnsLauncher::current_exe(),
    };
    let part = trace.stage("net", || berth_net::setup(&net, &record, &request.net))?;
    teardown.network = true;
    record.network = Some(part);
    record.cgroup = Some(cgroup);
    let mut spec = trace.stage("spec", || {
        request.process.spec(&mut record, &request.command)
    })?;
    spec.seccomp = trace.stage("seccomp", || {
        berth_process::seccomp::filter_for(
            &request.process,
            &spec,
            Some(&paths.run_dir().join("seccomp")),
        )
    })?;
    teardown.record = record.clone();
    berth_common::fault::point("run:prepared");
    if let Some(signal) = setup_first.take_pending() {
        // `teardown` is dropped armed: everything made is undone, still under the block,
        // and the container, which never ran, is removed whatever `--rm` says.
        teardown.remove = true;
        return Err(RunError::Interrupted { signal });
    }
    drop(setup_first);
    if new {
        let part = record
            .container
            .as_ref()
            .expect("prepared containers have an id");
        let name = part.name.as_ref().map_or("", |n| n.as_str());
        berth_common::events::emit(
            paths,
            &berth_common::events::Event::container(paths, "create", &id, name, &request.image),
        );
    }
    Ok(Prepared {
        record,
        spec,
        teardown,
    })
}

/// Runs the request's image (a stored image, or an archive path to load first) to
/// completion, in the foreground: its stdio is berth-run's.
pub fn run(paths: &Paths, request: &RunRequest, trace: &mut Trace) -> Result<Outcome, RunError> {
    let prepared = prepare(paths, request, trace)?;
    run_prepared(paths, request, prepared, trace)
}

/// [`run`] of a container already prepared (by [`prepare_image`]: a build's step).
pub fn run_prepared(
    paths: &Paths,
    request: &RunRequest,
    mut prepared: Prepared,
    trace: &mut Trace,
) -> Result<Outcome, RunError> {
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
        &prepared.spec.args,
        &request.image,
        started.pid,
        request.rm,
        snapshot(&prepared.spec, &request.process),
    );
    if let Err(e) = run_state.write(paths) {
        tracing::warn!(error = %e, "cannot write the container state");
    }
    events::emit(paths, "start", &run_state);
    berth_common::fault::point("run:started");
    // With a terminal: berth keeps only the master; the output ends when the container does.
    let output = match prepared.spec.tty.take() {
        Some(pty) => {
            drop(pty.slave);
            let pump = berth_process::tty::pump(&pty.master, request.process.interactive)
                .map_err(RunError::Terminal)?;
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
    run_state.refresh_identity(paths);
    if !request.rm {
        let _ = run_state.write(paths);
    }
    events::exited(paths, &run_state);
    let errors = prepared.teardown.run_after_exit(trace);
    if request.rm && errors.is_empty() {
        events::emit(paths, "destroy", &run_state);
    }
    for error in errors {
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
    /// With `remove`: the anonymous volumes go too (`rm -v`, `--rm`).
    remove_volumes: bool,
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
            remove_volumes: remove,
            cgroup: record.cgroup.clone(),
            network: record.network.is_some(),
            armed: true,
        }
    }

    /// Whether a removal takes the container's anonymous volumes too (by default it does):
    /// `docker rm` keeps them without `-v`.
    pub fn removing_volumes(mut self, volumes: bool) -> Teardown {
        self.remove_volumes = volumes;
        self
    }

    /// Only the removal (the rootfs's directories, the volumes with `removing_volumes`):
    /// the cgroups and the network were taken down already by the run's own teardown.
    pub fn removal_only(mut self) -> Teardown {
        self.cgroup = None;
        self.network = false;
        self
    }

    /// Leaves everything in place (another process took the container over).
    pub fn disarm(mut self) {
        self.armed = false;
    }

    /// Tears down now; returns every error met (empty: all done).
    pub fn run(mut self) -> ErrorList<RunError> {
        self.armed = false;
        self.teardown()
    }

    /// Tears down once the container's pid 1 has been reaped, timing each part. Its pid
    /// namespace is empty then (the kernel kills the other processes and waits for them
    /// before pid 1 can be reaped), so nothing holds the rootfs any more, and the cgroups
    /// are removed on a thread of their own beside the network and rootfs teardown.
    pub fn run_after_exit(mut self, trace: &mut Trace) -> ErrorList<RunError> {
        self.armed = false;
        let _finish_first = berth_common::TerminationBlocked::new();
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
            errors.check(result);
        }
        errors
    }

    /// The cgroups first (killing what is left), then the network and the rootfs; every
    /// part runs whatever the others did, with the termination signals held.
    fn teardown(&self) -> ErrorList<RunError> {
        let _finish_first = berth_common::TerminationBlocked::new();
        let mut errors = ErrorList::new();
        if let Some(part) = &self.cgroup {
            errors.check(cgroup_down(part));
        }
        errors.extend(self.network_and_rootfs(&mut None));
        errors
    }

    fn network_and_rootfs(&self, trace: &mut Option<&mut Trace>) -> ErrorList<RunError> {
        let mut errors = ErrorList::new();
        let mut timed = |name: &'static str, work: &mut dyn FnMut() -> Result<(), RunError>| {
            let result = match trace.as_deref_mut() {
                Some(trace) => trace.stage(name, &mut *work),
                None => work(),
            };
            errors.check(result);
        };
        if let (true, Some(container)) = (self.network, &self.record.container) {
            timed("net-down", &mut || {
                berth_net::down(&self.paths, &container.id).map_err(RunError::from)
            });
        }
        if let Some(container) = &self.record.container {
            timed("rootfs-down", &mut || {
                berth_rootfs::down_with(
                    &self.paths,
                    &container.id,
                    self.record.rootfs.as_ref(),
                    self.remove,
                    self.remove && self.remove_volumes,
                )
                .map(drop)
                .map_err(RunError::from)
            });
        }
        errors
    }
}

fn cgroup_down(part: &berth_common::CgroupPart) -> Result<(), RunError> {
    berth_cgroups::down(part, berth_cgroups::DEFAULT_TIMEOUT).map_err(RunError::from)
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
