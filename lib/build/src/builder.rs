//! A build: the Dockerfile's stages, those the target needs built in order, each step
//! looked up in the cache by its key and otherwise made (a config change, a copy, or a
//! RUN in a container) as an image in no index; the last step's image is named at the end.
//! A failure names its step and line and leaves no container, mount or temp layer (the
//! step's temp tree goes with its `TempPath`; the RUN helper removes its container).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
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
    pub cgroup_parent: String,
    pub net_host: berth_net::HostSettings,
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
}

struct Build<'a> {
    paths: &'a Paths,
    store: &'a Store,
    cache: Cache,
    opts: &'a BuildOptions,
    context: SourceTree,
    escape: char,
    global_args: BTreeMap<String, String>,
    used_args: BTreeSet<String>,
    results: HashMap<usize, ImageInfo>,
    stages: Vec<Stage>,
    created: Option<SystemTime>,
    step_number: usize,
    total_steps: usize,
    progress: &'a mut Progress,
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
        used_args: BTreeSet::new(),
        results: HashMap::new(),
        stages: Vec::new(),
        created: source_date_epoch(),
        step_number: 0,
        total_steps: 0,
        progress,
    };
    build.split_stages(file.instructions)?;
    let target = build.target_index()?;
    let needed = build.needed(target);
    build.total_steps = needed
        .iter()
        .map(|i| build.stages[*i].steps.len() + 1)
        .sum();
    let _lock = lock_shared(&store)?;
    let mut last = None;
    for index in needed {
        let image = build.stage(index)?;
        build.results.insert(index, image.clone());
        last = Some(image);
    }
    let unused: Vec<&String> = opts
        .build_args
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !build.used_args.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        build.progress.warning(&format!(
            "One or more build-args [{}] were not consumed",
            list.join(" ")
        ));
    }
    let last = last.expect("a Dockerfile has a stage");
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
    build.progress.finished(image.id.as_str(), &names);
    Ok(Built { image, names })
}

impl Build<'_> {
    fn split_stages(&mut self, instructions: Vec<Instruction>) -> Result<()> {
        for instruction in instructions {
            match &instruction.command {
                Command::From { image, alias, .. } => self.stages.push(Stage {
                    alias: alias.clone(),
                    base: image.clone(),
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
                        self.used_args.insert(name.clone());
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

    fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.alias.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.stages.len())
            })
    }

    fn target_index(&self) -> Result<usize> {
        match &self.opts.target {
            None => Ok(self.stages.len() - 1),
            Some(t) => self
                .stages
                .iter()
                .position(|s| s.alias.as_deref() == Some(t.to_ascii_lowercase().as_str()))
                .ok_or_else(|| BuildError::NoTarget(t.clone())),
        }
    }

    /// The stages `target` needs (FROM an earlier stage, COPY --from, RUN --mount from),
    /// in Dockerfile order; the others are skipped.
    fn needed(&self, target: usize) -> Vec<usize> {
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(index) = todo.pop() {
            if !needed.insert(index) {
                continue;
            }
            let stage = &self.stages[index];
            let mut refs: Vec<String> = vec![stage.base.clone()];
            for step in &stage.steps {
                match &step.command {
                    Command::Copy(c) | Command::Add(c) => refs.extend(c.from.clone()),
                    Command::Run { mounts, .. } => {
                        refs.extend(mounts.iter().filter_map(|m| m.from.clone()))
                    }
                    _ => {}
                }
            }
            for name in refs {
                let name = self.expand_global(&name);
                if let Some(dep) = self.stage_index(&name).filter(|d| *d < index) {
                    todo.push(dep);
                }
            }
        }
        needed.into_iter().collect()
    }

    fn expand_global(&self, word: &str) -> String {
        words::expand(word, self.escape, &|n| self.global_args.get(n).cloned())
            .unwrap_or_else(|_| word.to_string())
    }

    fn stage_label(&self, index: usize, step: usize) -> String {
        let stage = &self.stages[index];
        let name = stage
            .alias
            .clone()
            .unwrap_or_else(|| format!("stage-{index}"));
        format!("{name} {step}/{}", stage.steps.len() + 1)
    }

    fn stage(&mut self, index: usize) -> Result<ImageInfo> {
        let base = self.expand_global(&self.stages[index].base);
        let label = self.stage_label(index, 1);
        let from_text = self.stages[index].from_text.clone();
        let from_line = self.stages[index].from_line;
        self.step_number += 1;
        self.progress
            .step(&label, self.step_number, self.total_steps, &from_text);
        let base_image = if base.eq_ignore_ascii_case("scratch") {
            None
        } else if let Some(dep) = self.stage_index(&base).filter(|d| *d < index) {
            Some(self.results[&dep].clone())
        } else {
            Some(self.store.resolve(&base).map_err(|e| match e {
                berth_image::ImageError::NotFound(_) => BuildError::Step {
                    step: label.clone(),
                    instruction: from_text.clone(),
                    line: from_line,
                    reason: format!(
                        "{base}: no such image in the store (berth's builder does not pull yet: load or pull it first)"
                    ),
                    kind: ErrorKind::NotFound,
                },
                other => other.into(),
            })?)
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
        };
        self.progress
            .done(base_image.as_ref().map_or("scratch", |i| i.id.as_str()));
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
            self.step_number += 1;
            self.progress
                .step(&label, self.step_number, self.total_steps, &step.original);
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
                self.progress.error(&e.to_string());
                return Err(e);
            }
        }
        // A stage with no step of its own is its base as it is (with no OnBuild left).
        match state.image {
            Some(image) if !steps.is_empty() => Ok(image),
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

    fn step(&mut self, state: &mut State, step: &Instruction) -> Result<()> {
        let mut doc = state.document.clone();
        let parent_key = state
            .image
            .as_ref()
            .map_or(state.base_key.clone(), |i| i.manifest_digest.to_string());
        match &step.command {
            Command::Arg(pairs) => {
                for (name, default) in pairs {
                    self.used_args.insert(name.clone());
                    let value = self
                        .arg_value(name, default.as_deref(), &Self::lookup(state))?
                        .or_else(|| self.global_args.get(name).cloned());
                    match value {
                        Some(v) => state.args.insert(name.clone(), v),
                        None => state.args.remove(name),
                    };
                }
                self.progress
                    .done(state.image.as_ref().map_or("", |i| i.id.as_str()));
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

    /// A config-only instruction applied to `doc`; the history text.
    fn apply_config(
        &self,
        state: &mut State,
        doc: &mut Value,
        command: &Command,
    ) -> Result<String> {
        let mut cmd_set_now = state.cmd_set;
        let cmd_set = &mut cmd_set_now;
        let vars = Self::lookup(state);
        let x =
            |w: &str| words::expand(w, self.escape, &vars).map_err(|e| BuildError::Context(e.0));
        let keyword = command.keyword();
        let config = config::run_config(doc);
        let shown = match command {
            Command::Env(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let v = x(v)?;
                    config::set_env(config, k, &v);
                    shown.push(format!("{k}={v}"));
                }
                format!("ENV {}", shown.join(" "))
            }
            Command::Label(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let (k, v) = (x(k)?, x(v)?);
                    config::add_to_map(config, "Labels", &k, Value::String(v.clone()));
                    shown.push(format!("{k}={v}"));
                }
                format!("LABEL {}", shown.join(" "))
            }
            Command::Expose(ports) => {
                let mut shown = Vec::new();
                for p in ports {
                    for port in config::ports(&x(p)?).map_err(BuildError::Context)? {
                        config::add_to_map(config, "ExposedPorts", &port, json!({}));
                        shown.push(port);
                    }
                }
                format!("EXPOSE map[{}]", shown.join(" "))
            }
            Command::Volume(paths) => {
                let mut shown = Vec::new();
                for p in paths {
                    let p = x(p)?;
                    config::add_to_map(config, "Volumes", &p, json!({}));
                    shown.push(p);
                }
                format!("VOLUME [{}]", shown.join(" "))
            }
            Command::User(user) => {
                let user = x(user)?;
                config.insert("User".into(), user.clone().into());
                format!("USER {user}")
            }
            Command::Workdir(dir) => {
                let current = config
                    .get("WorkingDir")
                    .and_then(Value::as_str)
                    .unwrap_or("/")
                    .to_string();
                let dir = config::absolute(&current, &x(dir)?);
                config.insert("WorkingDir".into(), dir.clone().into());
                format!("WORKDIR {dir}")
            }
            Command::StopSignal(signal) => {
                let signal = x(signal)?;
                config.insert("StopSignal".into(), signal.clone().into());
                format!("STOPSIGNAL {signal}")
            }
            Command::Shell(shell) => {
                config.insert("Shell".into(), json!(shell));
                format!("SHELL {}", json!(shell))
            }
            Command::Cmd(line) => {
                let argv = config::argv(config, line);
                config.insert("Cmd".into(), json!(argv));
                *cmd_set = true;
                format!("CMD {}", json!(argv))
            }
            Command::Entrypoint(line) => {
                let argv = config::argv(config, line);
                config.insert("Entrypoint".into(), json!(argv));
                if !*cmd_set {
                    config.insert("Cmd".into(), Value::Null);
                }
                format!("ENTRYPOINT {}", json!(argv))
            }
            Command::Healthcheck(check) => {
                config.insert("Healthcheck".into(), config::healthcheck(check.as_ref()));
                "HEALTHCHECK".to_string()
            }
            Command::Onbuild(trigger) => {
                let list = config.entry("OnBuild").or_insert_with(|| json!([]));
                if !list.is_array() {
                    *list = json!([]);
                }
                if let Some(l) = list.as_array_mut() {
                    l.push(trigger.clone().into());
                }
                format!("ONBUILD {trigger}")
            }
            Command::Maintainer(who) => {
                doc["author"] = Value::String(who.clone());
                format!("MAINTAINER {who}")
            }
            _ => keyword.to_string(),
        };
        drop(vars);
        state.cmd_set = cmd_set_now;
        Ok(shown)
    }

    /// Reuses the cached image for `key`, or commits the step (its layer, if any) and
    /// caches it; the stage moves on to it.
    fn finish_step(
        &mut self,
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
        self.progress.done(image.id.as_str());
        self.move_to(state, image)
    }

    fn move_to(&mut self, state: &mut State, image: ImageInfo) -> Result<()> {
        state.parent = ParentImage::of(self.store, Some(&image))?;
        state.document = state.parent.config.clone().unwrap_or_else(|| json!({}));
        state.image = Some(image);
        Ok(())
    }

    /// A cached step's image, when the cache may be used and has it.
    fn cached(&mut self, state: &mut State, key: &str) -> Result<bool> {
        if self.opts.no_cache {
            return Ok(false);
        }
        match self.cache.get(self.store, key) {
            Some(image) => {
                self.progress.cached(image.id.as_str());
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

    fn copy(
        &mut self,
        state: &mut State,
        spec: &dockerfile::CopySpec,
        add: bool,
        parent_key: &str,
    ) -> Result<()> {
        let layers = self.layer_dirs(state)?;
        // --from: a stage built before, or an image of the store, mounted read-only.
        let from = match &spec.from {
            Some(from) => {
                let from = self.expand(state, from)?;
                let image = match self.stage_index(&from) {
                    Some(i) => self.results.get(&i).cloned().ok_or_else(|| {
                        BuildError::Context(format!("stage {from} is not built before this step"))
                    })?,
                    None => self.store.resolve(&from)?,
                };
                let mount = crate::mount::ImageTree::mount(self.store, &image)?;
                let tree = SourceTree {
                    root: mount.path(),
                    ignore: Default::default(),
                    what: from.clone(),
                };
                Some((mount, tree, image.manifest_digest.to_string()))
            }
            None => None,
        };
        let outcome = {
            let tree = from.as_ref().map_or(&self.context, |(_, t, _)| t);
            let vars = Self::lookup(state);
            let input = CopyInput {
                spec,
                add,
                escape: self.escape,
                vars: &vars,
                tree,
                from_identity: from.as_ref().map(|(_, _, id)| id.clone()),
                workdir: Self::workdir(state),
                layers: &layers,
            };
            let plan = copy_step::plan(&input)?;
            let key = Cache::key(&[parent_key, &plan.key]);
            let hit = (!self.opts.no_cache)
                .then(|| self.cache.get(self.store, &key))
                .flatten();
            match hit {
                Some(image) => Ok(image),
                None => {
                    let work = TempPath::new_dir(&self.paths.tmp(), "build-copy")?;
                    copy_step::materialize(&plan, tree, work.path())?;
                    let layer = write_layer(
                        self.store,
                        work.path(),
                        state.parent.chain.as_ref(),
                        &LayerTarOptions {
                            skip: Vec::new(),
                            clamp_mtime: self.clamp(),
                        },
                    )?;
                    Err((key, layer, plan.created_by))
                }
            }
        };
        drop(from);
        match outcome {
            Ok(image) => {
                self.progress.cached(image.id.as_str());
                self.move_to(state, image)
            }
            Err((key, layer, created_by)) => {
                let doc = state.document.clone();
                self.finish_step(state, &key, doc, Some(&layer), &created_by)
            }
        }
    }

    fn clamp(&self) -> Option<i64> {
        self.created.map(|t| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }

    fn run(&mut self, state: &mut State, step: &Instruction, parent_key: &str) -> Result<()> {
        let Command::Run {
            line,
            mounts,
            network,
            heredocs,
        } = &step.command
        else {
            unreachable!("run() is called for RUN");
        };
        let config = config::run_config(&mut state.document).clone();
        let argv = match (line, heredocs.as_slice()) {
            // `RUN <<EOF` alone: the heredoc is the script.
            (CommandLine::Shell(text), [doc])
                if text.trim().starts_with("<<") && !text.contains(' ') =>
            {
                let mut argv = config::shell(&config);
                argv.push(doc.content.clone());
                argv
            }
            (CommandLine::Shell(text), docs) if !docs.is_empty() => {
                let mut script = text.clone();
                for doc in docs {
                    script.push('\n');
                    script.push_str(&doc.content);
                    script.push_str(&doc.name);
                }
                let mut argv = config::shell(&config);
                argv.push(script);
                argv
            }
            (line, _) => config::argv(&config, line),
        };
        let env_names: BTreeSet<String> =
            config::env(&config).into_iter().map(|(k, _)| k).collect();
        let arg_env: Vec<String> = state
            .args
            .iter()
            .filter(|(k, _)| !env_names.contains(*k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let network_on = match network.as_deref() {
            Some("none") => false,
            Some(_) => true,
            None => self.opts.network,
        };
        let mut mount = berth_rootfs::MountRequest::default();
        let mut mount_key = Vec::new();
        for m in mounts {
            let target =
                crate::config::absolute(&Self::workdir(state), &self.expand(state, &m.target)?);
            match m.kind {
                MountKind::Cache => {
                    let id = m.id.clone().unwrap_or_else(|| target.clone());
                    let dir = self.cache.mount_dir(&id)?;
                    mount.volumes.push(format!("{}:{target}", dir.display()));
                    mount_key.push(format!("cache:{id}:{target}"));
                }
                MountKind::Tmpfs => {
                    let size = m.size.map(|s| format!(":size={s}")).unwrap_or_default();
                    mount.tmpfs.push(format!("{target}{size}"));
                    mount_key.push(format!("tmpfs:{target}"));
                }
                MountKind::Bind => {
                    if m.from.is_some() {
                        return Err(BuildError::Context(
                            "RUN --mount=type=bind,from=… is not supported yet: COPY --from the files first".into(),
                        ));
                    }
                    let source = m.source.clone().unwrap_or_default();
                    let rel = self.expand(state, &source)?;
                    let found = self.context.resolve(&rel)?;
                    let path = self.context.locate(&found[0])?.ok_or_else(|| {
                        BuildError::Context(format!("{rel}: not found in the build context"))
                    })?;
                    // Writes to a bind of the context are never kept (docker discards them).
                    mount
                        .volumes
                        .push(format!("{}:{target}:ro", path.display()));
                    mount_key.push(format!(
                        "bind:{rel}:{}:{target}",
                        self.context.hash(&found[0])?
                    ));
                }
                MountKind::Secret => {
                    if m.required {
                        return Err(BuildError::Context(format!(
                            "secret {} is required but berth's builder was given no secrets",
                            m.id.as_deref().unwrap_or(&m.target)
                        )));
                    }
                }
            }
        }
        let key = Cache::key(&[
            parent_key,
            "RUN",
            &json!(argv).to_string(),
            &arg_env.join("\n"),
            &mount_key.join("\n"),
            if network_on { "net" } else { "nonet" },
        ]);
        if self.cached(state, &key)? {
            return Ok(());
        }
        let image = match &state.image {
            Some(image) => image.clone(),
            None => put_unindexed(self.store, &state.document, &[])?,
        };
        let mut run = berth_runtime::RunRequest::new(image.id.to_string());
        run.name = Some(format!("berth-build-{:016x}", rand_u64()));
        run.command = argv.clone();
        run.mount = mount;
        run.cgroup_parent = self.opts.cgroup_parent.clone();
        run.net_host = self.opts.net_host.clone();
        run.net.network = if network_on {
            berth_net::settings::DEFAULT_NETWORK.into()
        } else {
            "none".into()
        };
        run.process.entrypoint = Some(String::new());
        run.process.env = arg_env;
        let answer = self
            .paths
            .tmp()
            .join(format!("build-run-{:016x}.json", rand_u64()));
        let request = RunStepRequest {
            root: self.paths.root().to_path_buf(),
            run_dir: self.paths.run_dir().to_path_buf(),
            manifest: image.manifest_digest.to_string(),
            run,
            parent_chain: state.parent.chain.as_ref().map(|c| c.to_string()),
            clamp_mtime: self.clamp(),
            answer,
        };
        let progress = &mut *self.progress;
        let (code, layer) = run_step(&request, &mut |bytes| progress.output(bytes))?;
        if code != 0 {
            return Err(BuildError::Step {
                step: String::new(),
                instruction: String::new(),
                line: step.line,
                reason: format!(
                    "process \"{}\" did not complete successfully: exit code: {code}",
                    argv.join(" ")
                ),
                kind: ErrorKind::InvalidInput,
            });
        }
        let layer =
            layer.ok_or_else(|| BuildError::Context("the RUN step made no layer".into()))?;
        let doc = state.document.clone();
        let created_by = format!("RUN {} # buildkit", argv.join(" "));
        self.finish_step(state, &key, doc, Some(&layer), &created_by)
    }
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    u64::from_le_bytes(bytes) ^ u64::from(std::process::id())
}

/// The context directory of a build, when it is one (not a tar).
pub fn context_dir(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        Ok(path.to_path_buf())
    } else {
        Err(BuildError::Context(format!(
            "{}: not a directory",
            path.display()
        )))
    }
}
