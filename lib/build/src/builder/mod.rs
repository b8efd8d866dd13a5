//! A build: the Dockerfile's stages, those the target needs built in order, each step
//! looked up in the cache by its key and otherwise made (a config change, a copy, or a
//! RUN in a container) as an image in no index; the last step's image is named at the end.
//! A failure names its step and line and leaves no container, mount or temp layer (the
//! step's temp tree goes with its `TempPath`; the RUN helper removes its container).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use berth_common::{ErrorKind, Paths};
use berth_image::commit::{
    child_config, child_layers, lock_shared, put_image, put_unindexed, source_date_epoch,
    write_layer, ChildStep, LayerTarOptions, ParentImage,
};
use berth_image::store::{ImageInfo, LayerMeta, TempPath};
use berth_image::{reference, Store};
use serde_json::{json, Value};

use crate::cache::Cache;
use crate::config;
use crate::context::SourceTree;
use crate::copy_step::{self, CopyInput};
use crate::dockerfile::{self, words, Command, CommandLine, Instruction, MountKind};
use crate::error::{BuildError, Result};
use crate::progress::Progress;
use crate::run_step::{run_step, RunStepRequest};

mod apply;
mod base;
mod copy;
mod run;
mod stages;

/// Docker's build arguments every build knows without an ARG (the proxies).
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BuildOptions {
    pub context: PathBuf,
    /// The Dockerfile; `<context>/Dockerfile` when None.
    pub dockerfile: Option<PathBuf>,
    pub tags: Vec<String>,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// RUN steps get the default network (else none).
    pub network: bool,
    pub labels: Vec<(String, String)>,
    /// `--secret id=ID,src=FILE`: files `RUN --mount=type=secret` binds read-only.
    #[serde(default)]
    pub secrets: Vec<(String, PathBuf)>,
    pub cgroup_parent: String,
    pub net_host: berth_net::HostSettings,
    /// `--pull`: a FROM image is pulled even when the store has it.
    #[serde(default)]
    pub pull: bool,
    /// `--platform`: what the FROM images must be for (the host's when None).
    #[serde(default)]
    pub platform: Option<String>,
    /// Registries spoken to over plain HTTP (loopback ones always are).
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Pulls may use the credentials of the docker config (a client's; not a daemon's).
    #[serde(default)]
    pub docker_config: bool,
}

/// The image a build made.
#[derive(Debug, Clone)]
pub struct Built {
    pub image: ImageInfo,
    pub names: Vec<String>,
}

struct Stage {
    alias: Option<String>,
    base: String,
    /// `FROM --platform=`, as written.
    platform: Option<String>,
    from_line: usize,
    from_text: String,
    steps: Vec<Instruction>,
}

/// Where a stage stands: its last image and what its steps see.
struct State {
    image: Option<ImageInfo>,
    document: Value,
    parent: ParentImage,
    /// ARGs of the stage with their values (a declared ARG without one is absent).
    args: BTreeMap<String, String>,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
    /// What identifies the base when the stage has no step yet.
    base_key: String,
    /// The progress number of the step under way.
    n: usize,
}

struct Build<'a> {
    paths: &'a Paths,
    store: &'a Store,
    cache: Cache,
    opts: &'a BuildOptions,
    context: SourceTree,
    escape: char,
    global_args: BTreeMap<String, String>,
    used_args: Mutex<BTreeSet<String>>,
    /// The images of the stages built so far.
    results: Mutex<HashMap<usize, ImageInfo>>,
    stages: Vec<Stage>,
    created: Option<SystemTime>,
    step_number: AtomicUsize,
    total_steps: usize,
    /// Shared by the stages that build side by side.
    progress: Mutex<&'a mut Progress>,
}

pub fn build(paths: &Paths, opts: &BuildOptions, progress: &mut Progress) -> Result<Built> {
    let store = Store::open(paths.clone())?;
    let dockerfile_path = opts
        .dockerfile
        .clone()
        .unwrap_or_else(|| opts.context.join("Dockerfile"));
    let text = std::fs::read_to_string(&dockerfile_path).map_err(|e| {
        BuildError::Context(format!(
            "failed to read dockerfile {}: {e}",
            dockerfile_path.display()
        ))
    })?;
    let file = dockerfile::parse(&text)?;
    let names = opts
        .tags
        .iter()
        .map(|t| reference::normalize(t))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut build = Build {
        paths,
        store: &store,
        cache: Cache::open(&store)?,
        opts,
        context: SourceTree::context(&opts.context)?,
        escape: file.directives.escape,
        global_args: BTreeMap::new(),
        used_args: Mutex::new(BTreeSet::new()),
        results: Mutex::new(HashMap::new()),
        stages: Vec::new(),
        created: source_date_epoch(),
        step_number: AtomicUsize::new(0),
        total_steps: 0,
        progress: Mutex::new(progress),
    };
    build.split_stages(file.instructions)?;
    let target = build.target_index()?;
    let needed = build.needed(target);
    build.total_steps = needed
        .iter()
        .map(|i| build.stages[*i].steps.len() + 1)
        .sum();
    let _lock = lock_shared(&store)?;
    build.run_stages(&needed)?;
    let last = build.results.lock().expect("not poisoned")[&target].clone();
    let used = build.used_args.lock().expect("not poisoned").clone();
    let unused: Vec<&String> = opts
        .build_args
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !used.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        build.p().warning(&format!(
            "One or more build-args [{}] were not consumed",
            list.join(" ")
        ));
    }
    let (_, config) = store.config_of(&last)?;
    let mut document = config.document;
    // --label: on the image the build names, not on its cached steps.
    for (key, value) in &opts.labels {
        config::add_to_map(
            config::run_config(&mut document),
            "Labels",
            key,
            value.clone().into(),
        );
    }
    let image = put_image(&store, &document, last.manifest.layers(), &names)?;
    build.p().finished(image.id.as_str(), &names);
    Ok(Built { image, names })
}

impl<'a> Build<'a> {
    fn p(&self) -> std::sync::MutexGuard<'_, &'a mut Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_step(&self) -> usize {
        self.step_number.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn split_stages(&mut self, instructions: Vec<Instruction>) -> Result<()> {
        for instruction in instructions {
            match &instruction.command {
                Command::From {
                    image,
                    alias,
                    platform,
                } => self.stages.push(Stage {
                    alias: alias.clone(),
                    base: image.clone(),
                    platform: platform.clone(),
                    from_line: instruction.line,
                    from_text: instruction.original.clone(),
                    steps: Vec::new(),
                }),
                Command::Arg(pairs) if self.stages.is_empty() => {
                    for (name, default) in pairs {
                        let value = self.arg_value(name, default.as_deref(), &|n| {
                            self.global_args.get(n).cloned()
                        })?;
                        if let Some(value) = value {
                            self.global_args.insert(name.clone(), value);
                        }
                        self.used_args
                            .get_mut()
                            .expect("not poisoned")
                            .insert(name.clone());
                    }
                }
                _ => self
                    .stages
                    .last_mut()
                    .expect("the parser puts FROM first")
                    .steps
                    .push(instruction),
            }
        }
        Ok(())
    }

    /// An ARG's value: the build's `--build-arg`, or its default expanded.
    fn arg_value(
        &self,
        name: &str,
        default: Option<&str>,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<String>> {
        if let Some((_, v)) = self.opts.build_args.iter().rev().find(|(k, _)| k == name) {
            return Ok(Some(v.clone()));
        }
        default
            .map(|d| words::expand(d, self.escape, vars).map_err(|e| BuildError::Context(e.0)))
            .transpose()
    }

    fn stage_label(&self, index: usize, step: usize) -> String {
        let stage = &self.stages[index];
        let name = stage
            .alias
            .clone()
            .unwrap_or_else(|| format!("stage-{index}"));
        format!("{name} {step}/{}", stage.steps.len() + 1)
    }

    fn stage(&self, index: usize) -> Result<ImageInfo> {
        let base = self.expand_global(&self.stages[index].base);
        let label = self.stage_label(index, 1);
        let from_text = self.stages[index].from_text.clone();
        let from_line = self.stages[index].from_line;
        let n = self
            .p()
            .step(&label, self.next_step(), self.total_steps, &from_text);
        let base_image = if base.eq_ignore_ascii_case("scratch") {
            None
        } else if let Some(dep) = self.stage_index(&base).filter(|d| *d < index) {
            Some(self.results.lock().expect("not poisoned")[&dep].clone())
        } else {
            let platform = self.stages[index]
                .platform
                .as_deref()
                .map(|p| self.expand_global(p));
            let found = self
                .base_image(&base, platform.as_deref())
                .map_err(|(reason, kind)| BuildError::Step {
                    step: label.clone(),
                    instruction: from_text.clone(),
                    line: from_line,
                    reason,
                    kind,
                });
            if let Err(e) = &found {
                self.p().error(n, &e.to_string());
            }
            Some(found?)
        };
        let parent = ParentImage::of(self.store, base_image.as_ref())?;
        let document = parent.config.clone().unwrap_or_else(|| json!({}));
        let mut state = State {
            base_key: base_image
                .as_ref()
                .map_or("scratch".into(), |i| i.manifest_digest.to_string()),
            image: base_image.clone(),
            document,
            parent,
            args: BTreeMap::new(),
            cmd_set: false,
            n,
        };
        self.p()
            .done(n, base_image.as_ref().map_or("scratch", |i| i.id.as_str()));
        // The base's ONBUILD triggers run first, and are not inherited.
        let triggers: Vec<String> = config::run_config(&mut state.document)
            .remove("OnBuild")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let mut steps: Vec<Instruction> = Vec::new();
        for trigger in triggers {
            let command = dockerfile::parse_instruction(&trigger, Vec::new(), self.escape)
                .map_err(|m| BuildError::Step {
                    step: label.clone(),
                    instruction: format!("ONBUILD {trigger}"),
                    line: from_line,
                    reason: m,
                    kind: ErrorKind::InvalidInput,
                })?;
            steps.push(Instruction {
                line: from_line,
                end_line: from_line,
                original: trigger,
                command,
            });
        }
        steps.extend(self.stages[index].steps.clone());
        for (at, step) in steps.iter().enumerate() {
            let label = self.stage_label(index, at + 2);
            state.n = self
                .p()
                .step(&label, self.next_step(), self.total_steps, &step.original);
            if let Err(e) = self.step(&mut state, step) {
                let e = match e {
                    BuildError::Step { reason, kind, .. } => BuildError::Step {
                        step: label,
                        instruction: step.original.clone(),
                        line: step.line,
                        reason,
                        kind,
                    },
                    other => BuildError::Step {
                        step: label,
                        instruction: step.original.clone(),
                        line: step.line,
                        kind: other.kind(),
                        reason: other.to_string(),
                    },
                };
                self.p().error(state.n, &e.to_string());
                return Err(e);
            }
        }
        // A stage with no step of its own is its base as it is (with no OnBuild left).
        match state.image {
            Some(image) => Ok(image),
            None => {
                let layers = Vec::new();
                let mut document = state.document;
                document["rootfs"] = json!({"type": "layers", "diff_ids": []});
                document.as_object_mut().map(|d| {
                    d.entry("architecture")
                        .or_insert_with(|| berth_image::host_architecture().into())
                });
                document
                    .as_object_mut()
                    .map(|d| d.entry("os").or_insert_with(|| "linux".into()));
                Ok(put_unindexed(self.store, &document, &layers)?)
            }
        }
    }

    /// The variables a step's words see: ENV of the image over the stage's ARGs.
    fn lookup(state: &State) -> impl Fn(&str) -> Option<String> + '_ {
        move |name: &str| {
            let env = state.document.get("config").and_then(|c| c.get("Env"));
            let from_env = env
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find_map(|e| e.strip_prefix(&format!("{name}=")).map(String::from));
            from_env.or_else(|| state.args.get(name).cloned())
        }
    }

    fn expand(&self, state: &State, word: &str) -> Result<String> {
        words::expand(word, self.escape, &Self::lookup(state)).map_err(|e| BuildError::Context(e.0))
    }

    fn workdir(state: &State) -> String {
        state
            .document
            .get("config")
            .and_then(|c| c.get("WorkingDir"))
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_string()
    }

    fn step(&self, state: &mut State, step: &Instruction) -> Result<()> {
        let mut doc = state.document.clone();
        let parent_key = state
            .image
            .as_ref()
            .map_or(state.base_key.clone(), |i| i.manifest_digest.to_string());
        match &step.command {
            Command::Arg(pairs) => {
                for (name, default) in pairs {
                    self.used_args
                        .lock()
                        .expect("not poisoned")
                        .insert(name.clone());
                    let value = self
                        .arg_value(name, default.as_deref(), &Self::lookup(state))?
                        .or_else(|| self.global_args.get(name).cloned());
                    match value {
                        Some(v) => state.args.insert(name.clone(), v),
                        None => state.args.remove(name),
                    };
                }
                self.p()
                    .done(state.n, state.image.as_ref().map_or("", |i| i.id.as_str()));
                return Ok(());
            }
            Command::Run { .. } => return self.run(state, step, &parent_key),
            Command::Copy(spec) | Command::Add(spec) => {
                return self.copy(
                    state,
                    spec,
                    matches!(step.command, Command::Add(_)),
                    &parent_key,
                )
            }
            _ => {}
        }
        let shown = self.apply_config(state, &mut doc, &step.command)?;
        let key = Cache::key(&[
            &parent_key,
            &shown,
            &serde_json::to_string(&doc["config"]).unwrap_or_default(),
        ]);
        self.finish_step(state, &key, doc, None, &shown)
    }

    /// Reuses the cached image for `key`, or commits the step (its layer, if any) and
    /// caches it; the stage moves on to it.
    fn finish_step(
        &self,
        state: &mut State,
        key: &str,
        doc: Value,
        layer: Option<&LayerMeta>,
        created_by: &str,
    ) -> Result<()> {
        if layer.is_none() && self.cached(state, key)? {
            return Ok(());
        }
        let step = ChildStep {
            layer,
            config: doc.get("config").cloned().unwrap_or_else(|| json!({})),
            created_by,
            comment: None,
            author: doc.get("author").and_then(Value::as_str),
            created: self.created.unwrap_or_else(SystemTime::now),
        };
        let document = child_config(Some(&state.document), &step);
        let layers = child_layers(&state.parent, layer)?;
        let image = put_unindexed(self.store, &document, &layers)?;
        self.cache.put(key, &image)?;
        self.p().done(state.n, image.id.as_str());
        self.move_to(state, image)
    }

    fn move_to(&self, state: &mut State, image: ImageInfo) -> Result<()> {
        state.parent = ParentImage::of(self.store, Some(&image))?;
        state.document = state.parent.config.clone().unwrap_or_else(|| json!({}));
        state.image = Some(image);
        Ok(())
    }

    /// A cached step's image, when the cache may be used and has it.
    fn cached(&self, state: &mut State, key: &str) -> Result<bool> {
        if self.opts.no_cache {
            return Ok(false);
        }
        match self.cache.get(self.store, key) {
            Some(image) => {
                self.p().cached(state.n, image.id.as_str());
                self.move_to(state, image)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn layer_dirs(&self, state: &State) -> Result<Vec<PathBuf>> {
        match &state.image {
            Some(image) => {
                let (_, config) = self.store.config_of(image)?;
                Ok(self.store.layer_dirs(image, &config)?)
            }
            None => Ok(Vec::new()),
        }
    }

    fn clamp(&self) -> Option<i64> {
        self.created.map(|t| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    u64::from_le_bytes(bytes) ^ u64::from(std::process::id())
}
