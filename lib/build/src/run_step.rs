//! A `RUN` step as a berth container, through the same library as `berth-run`: an overlay
//! over the step's image with a fresh upper dir; when the command succeeds, the upper dir
//! becomes the step's layer; the container goes whatever happens.
//!
//! The runtime forks; a builder may run stages on several threads, and a daemon is
//! multi-threaded: so each step runs in a helper process (`<current exe> __build-run`,
//! fork+exec'd), which reads its request on stdin, gives the container its stdout and
//! stderr (the builder's pipe), and writes its answer to a file the request names.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Stdio;

use berth_common::{ErrorKind, Paths};
use berth_image::commit::{
    image_by_manifest, lock_shared, write_layer, LayerTarOptions, CONTAINER_MADE,
};
use berth_image::store::LayerMeta;
use berth_image::{Digest, Store};
use serde::{Deserialize, Serialize};

use crate::error::{BuildError, Result};

/// The first argument that makes a berth binary the RUN helper.
pub const RUN_HELPER: &str = "__build-run";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStepRequest {
    pub root: PathBuf,
    pub run_dir: PathBuf,
    /// The step's image (in no index: the cache keeps it).
    pub manifest: String,
    pub run: berth_runtime::RunRequest,
    pub parent_chain: Option<String>,
    pub clamp_mtime: Option<i64>,
    pub answer: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "lowercase")]
enum RunStepAnswer {
    Done { code: i32, layer: Option<LayerMeta> },
    Failed { kind: ErrorKind, message: String },
}

/// Runs the step through the helper; `output` gets the container's output as it comes.
/// The exit code, and the layer when the command succeeded.
pub fn run_step(
    request: &RunStepRequest,
    output: &mut dyn FnMut(&[u8]),
) -> Result<(i32, Option<LayerMeta>)> {
    let pipe_err = |e: std::io::Error| BuildError::Helper {
        exe: RUN_HELPER.into(),
        reason: format!("pipe: {e}"),
    };
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| pipe_err(e.into()))?;
    let writer2: OwnedFd = writer.try_clone().map_err(pipe_err)?;
    let (mut child, exe) = crate::helper::spawn_helper(
        RUN_HELPER,
        request,
        Stdio::from(writer),
        Stdio::from(writer2),
    )?;
    let helper_err = |reason: String| BuildError::Helper {
        exe: exe.clone(),
        reason,
    };
    let mut reader = std::fs::File::from(reader);
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(helper_err(format!("reading the output: {e}"))),
        }
    }
    let status = child.wait().map_err(|e| helper_err(e.to_string()))?;
    let answer = std::fs::read_to_string(&request.answer).unwrap_or_default();
    let _ = std::fs::remove_file(&request.answer);
    match serde_json::from_str::<RunStepAnswer>(&answer) {
        Ok(RunStepAnswer::Done { code, layer }) => Ok((code, layer)),
        Ok(RunStepAnswer::Failed { kind, message }) => Err(BuildError::Step {
            step: String::new(),
            instruction: String::new(),
            line: 0,
            reason: message,
            kind,
        }),
        Err(_) => Err(helper_err(format!("ended ({status}) without an answer"))),
    }
}

/// The helper's life: one step, one answer.
pub fn helper_main() -> i32 {
    berth_common::edge::init_logging(0);
    // The step's processes get docker's umask, whatever the builder's is.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let mut text = String::new();
    let _ = std::io::stdin().read_to_string(&mut text);
    let request: RunStepRequest = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth build helper: bad request: {e}");
            return 2;
        }
    };
    let answer = match run_here(&request) {
        Ok((code, layer)) => RunStepAnswer::Done { code, layer },
        Err(e) => RunStepAnswer::Failed {
            kind: e.kind(),
            message: e.to_string(),
        },
    };
    let data = serde_json::to_vec(&answer).expect("answers serialise");
    match std::fs::write(&request.answer, data) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth build helper: {}: {e}", request.answer.display());
            1
        }
    }
}

fn runtime_error(e: berth_runtime::RunError) -> BuildError {
    BuildError::Step {
        step: String::new(),
        instruction: String::new(),
        line: 0,
        kind: e.kind(),
        reason: e.to_string(),
    }
}

fn run_here(request: &RunStepRequest) -> Result<(i32, Option<LayerMeta>)> {
    let paths = Paths::new(&request.root, &request.run_dir);
    let store = Store::open(paths.clone())?;
    let image = image_by_manifest(&store, &Digest::parse(&request.manifest)?)?;
    let record = store.record(&image, None)?;
    let mut trace = berth_runtime::Trace::default();
    let result = (|| {
        let prepared = berth_runtime::prepare_image(&paths, &request.run, record, &mut trace)
            .map_err(runtime_error)?;
        let rootfs = prepared.record.rootfs.clone();
        let outcome = berth_runtime::run_prepared(&paths, &request.run, prepared, &mut trace)
            .map_err(runtime_error)?;
        if outcome.code != 0 {
            return Ok((outcome.code, None));
        }
        let rootfs = rootfs
            .ok_or_else(|| BuildError::Context("the step's container has no rootfs".into()))?;
        let mut skip: Vec<String> = CONTAINER_MADE.iter().map(|s| s.to_string()).collect();
        skip.extend(rootfs.mounts.iter().map(|m| m.target.clone()));
        let parent = request
            .parent_chain
            .as_deref()
            .map(Digest::parse)
            .transpose()?;
        let _lock = lock_shared(&store)?;
        let layer = write_layer(
            &store,
            &rootfs.upper,
            parent.as_ref(),
            &LayerTarOptions {
                skip,
                clamp_mtime: request.clamp_mtime,
            },
        )?;
        Ok((0, Some(layer)))
    })();
    // The step's container goes, whatever happened (by its name: a setup that failed
    // half-way left it without an id we were told).
    if let Some(name) = &request.run.name {
        let cgroups = berth_cgroups::HostConfig {
            parent: request.run.cgroup_parent.clone(),
            ..berth_cgroups::HostConfig::default()
        };
        if berth_common::registry::resolve(&paths, name).is_ok() {
            if let Err(e) = berth_runtime::control::remove(&paths, name, true, &cgroups) {
                tracing::warn!(container = name.as_str(), error = %e, "removing the step's container");
            }
        }
    }
    result
}
